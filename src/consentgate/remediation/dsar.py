"""The member's data-subject access report as one self-contained HTML page. Pure.

Hand-written with ``string.Template`` and ``html.escape`` rather than Jinja2 (not a
dependency): one page, a few tables, every value escaped, no scripts, inline CSS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from string import Template
from typing import Any

__all__ = ["render_html"]

_PAGE = Template(
    """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Your data: $member</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;width:100%}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;font-size:.9rem;vertical-align:top}
th{background:#f4f4f4}.muted{color:#777}code{font-size:.85rem}
</style>
</head>
<body>
<h1>Your data in AI training: $member</h1>
<p class="muted">Jurisdiction $jurisdiction. Generated $generated_at by consentgate.</p>
$sections
</body>
</html>
"""
)

_SECTIONS: tuple[tuple[str, str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "consents",
        "Your choices",
        "What you chose for each setting, or its default.",
        (
            ("setting", "Setting"),
            ("label", "What it means"),
            ("state", "State"),
            ("covers_from", "Covers data from"),
        ),
    ),
    (
        "events",
        "Your consent history",
        "Every choice recorded for you, in order.",
        (
            ("type", "Event"),
            ("setting", "Setting"),
            ("effective_at", "Effective"),
            ("recorded_at", "Recorded"),
            ("source", "Source"),
        ),
    ),
    (
        "datasets",
        "Training datasets that hold or held your data",
        "A superseded or purged version no longer holds it.",
        (
            ("dataset_id", "Dataset"),
            ("use", "Use"),
            ("recipient", "Recipient"),
            ("as_of", "As of"),
            ("status", "Status"),
            ("as_author", "Records you wrote"),
            ("as_participant", "Records you received"),
        ),
    ),
    (
        "models",
        "Models trained on those datasets",
        "",
        (
            ("model_id", "Model"),
            ("status", "Status"),
            ("unlearning", "How it forgets"),
            ("deployed_to", "Deployed to"),
        ),
    ),
    (
        "recipients",
        "Third parties that received your data",
        "",
        (
            ("recipient", "Recipient"),
            ("dataset_id", "Dataset"),
            ("disclosed_at", "When"),
        ),
    ),
    (
        "remediation",
        "Work done because of your requests",
        "Removing your data from datasets and models, and asking recipients to delete it.",
        (
            ("kind", "What"),
            ("target", "Where"),
            ("shard", "Shard"),
            ("trigger", "Your request"),
            ("deadline", "Deadline"),
            ("status", "Status"),
            ("closed_at", "Done"),
        ),
    ),
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return escape(", ".join(str(v) for v in value))
    return escape(str(value))


def _table(rows: Sequence[Mapping[str, Any]], columns: tuple[tuple[str, str], ...]) -> str:
    if not rows:
        return '<p class="muted">None.</p>'
    head = "".join(f"<th>{escape(label)}</th>" for _, label in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(row.get(key))}</td>" for key, _ in columns) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: Mapping[str, Any]) -> str:
    """The page for a DSAR report (the dict ``workspace.dsar`` returns)."""
    parts = []
    for key, title, note, columns in _SECTIONS:
        intro = f'<p class="muted">{escape(note)}</p>' if note else ""
        parts.append(f"<h2>{escape(title)}</h2>{intro}{_table(report.get(key) or [], columns)}")
    return _PAGE.substitute(
        member=escape(str(report["member_id"])),
        jurisdiction=escape(str(report.get("jurisdiction", ""))),
        generated_at=escape(str(report.get("generated_at", ""))),
        sections="\n".join(parts),
    )
