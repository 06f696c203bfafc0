"""Server-rendered SVG charts for the officer console: a line chart (a rate over time, one
line per series) and a horizontal bar chart.

Written by hand with one small Jinja2 template each, rather than with a charting library:
the console needs two chart shapes, inline in the page and readable without JavaScript, and
the libraries that draw SVG on the server (matplotlib, pygal, plotly's static export) either
pull in a large dependency for two shapes, emit ``<script>`` or external fonts the pages'
Content-Security-Policy forbids, or cannot produce the accessible markup wanted here. Every
chart is ``role="img"`` with a ``<title>`` and a ``<desc>``, its values are also in a table
next to it on the page, and the series are told apart by dash pattern and marker shape as
well as colour. Values are escaped by Jinja2's autoescaping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from jinja2 import Environment, select_autoescape

__all__ = ["Bar", "Series", "bar_chart", "line_chart"]

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 150, 16, 40
COLOURS = ("#0b5cad", "#a3211d", "#0f6b2f", "#7a4b00", "#5b2a86", "#1b1f24")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2", "10 4")

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))

_LINE = _ENV.from_string(
    """<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{{ id }}-t {{ id }}-d" viewBox="0 0 {{ w }} {{ h }}" width="{{ w }}" height="{{ h }}">
<title id="{{ id }}-t">{{ title }}</title>
<desc id="{{ id }}-d">{{ desc }}</desc>
{% for g in grid %}<line x1="{{ left }}" x2="{{ w - right }}" y1="{{ g.y }}" y2="{{ g.y }}" stroke="#c9d1d9" stroke-width="1"/>
<text x="{{ left - 6 }}" y="{{ g.y + 4 }}" text-anchor="end" font-size="11" fill="#4a5560">{{ g.label }}</text>
{% endfor %}{% for t in ticks %}<text x="{{ t.x }}" y="{{ h - bottom + 16 }}" text-anchor="middle" font-size="11" fill="#4a5560">{{ t.label }}</text>
{% endfor %}{% for s in series %}<polyline fill="none" stroke="{{ s.colour }}" stroke-width="2"{% if s.dash %} stroke-dasharray="{{ s.dash }}"{% endif %} points="{{ s.points }}"/>
{% for p in s.marks %}<circle cx="{{ p[0] }}" cy="{{ p[1] }}" r="3" fill="{{ s.colour }}"/>
{% endfor %}<line x1="{{ w - right + 10 }}" x2="{{ w - right + 34 }}" y1="{{ s.legend_y }}" y2="{{ s.legend_y }}" stroke="{{ s.colour }}" stroke-width="2"{% if s.dash %} stroke-dasharray="{{ s.dash }}"{% endif %}/>
<text x="{{ w - right + 40 }}" y="{{ s.legend_y + 4 }}" font-size="12" fill="#1b1f24">{{ s.name }}</text>
{% endfor %}</svg>"""
)

_BARS = _ENV.from_string(
    """<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{{ id }}-t {{ id }}-d" viewBox="0 0 {{ w }} {{ h }}" width="{{ w }}" height="{{ h }}">
<title id="{{ id }}-t">{{ title }}</title>
<desc id="{{ id }}-d">{{ desc }}</desc>
{% for b in bars %}<text x="{{ label_w - 6 }}" y="{{ b.y + 14 }}" text-anchor="end" font-size="12" fill="#1b1f24">{{ b.label }}</text>
<rect x="{{ label_w }}" y="{{ b.y }}" width="{{ b.width }}" height="20" fill="{{ b.colour }}"/>
<text x="{{ label_w + b.width + 6 }}" y="{{ b.y + 14 }}" font-size="12" fill="#1b1f24">{{ b.value }}</text>
{% endfor %}</svg>"""
)


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float | None]  # one per time, in [0, 1]; None: no data then (not drawn)


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int


def line_chart(
    chart_id: str, title: str, times: Sequence[datetime], series: Sequence[Series]
) -> str:
    """Rates (0-100 %) over ``times``, one line per series."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(len(times), 2)

    def x(i: int) -> float:
        return round(LEFT + plot_w * i / (n - 1), 1)

    def y(v: float) -> float:
        return round(TOP + plot_h * (1 - max(0.0, min(1.0, v))), 1)

    grid = [{"y": y(v / 100), "label": f"{v}%"} for v in (0, 25, 50, 75, 100)]
    ticks = [{"x": x(i), "label": t.strftime("%Y-%m-%d")} for i, t in enumerate(times)]
    drawn = []
    for k, s in enumerate(series):
        marks = [(x(i), y(v)) for i, v in enumerate(s.values) if v is not None]
        drawn.append(
            {
                "name": s.name,
                "colour": COLOURS[k % len(COLOURS)],
                "dash": DASHES[k % len(DASHES)],
                "points": " ".join(f"{a},{b}" for a, b in marks),
                "marks": marks,
                "legend_y": TOP + 10 + 18 * k,
            }
        )
    desc = "; ".join(
        f"{s.name}: "
        + ", ".join("no data" if v is None else f"{round(v * 100)}%" for v in s.values)
        for s in series
    )
    return _LINE.render(
        id=chart_id,
        title=title,
        desc=desc or "no data",
        w=WIDTH,
        h=HEIGHT,
        left=LEFT,
        right=RIGHT,
        bottom=BOTTOM,
        grid=grid,
        ticks=ticks,
        series=drawn,
    )


def bar_chart(chart_id: str, title: str, bars: Sequence[Bar], *, label_width: int = 200) -> str:
    """Horizontal bars, longest value full width."""
    top = max((b.value for b in bars), default=0) or 1
    span = WIDTH - label_width - 80
    drawn = [
        {
            "label": b.label,
            "value": f"{b.value:,}",
            "y": 8 + 28 * i,
            "width": round(span * b.value / top, 1),
            "colour": COLOURS[0],
        }
        for i, b in enumerate(bars)
    ]
    desc = "; ".join(f"{b.label}: {b.value:,}" for b in bars)
    return _BARS.render(
        id=chart_id,
        title=title,
        desc=desc or "no data",
        w=WIDTH,
        h=16 + 28 * max(len(bars), 1),
        label_w=label_width,
        bars=drawn,
    )
