"""Values the detectors return: entity spans, label hits, and a text's scan result.

Offsets are Python string indices (code points) into the text, ``end`` exclusive.

``Span`` and ``LabelHit`` are ``NamedTuple``s rather than frozen dataclasses: the
detectors build tens of thousands per batch, and a tuple is built three times faster.
They are immutable values all the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from consentgate.redact.catalog import ENTITY_CATEGORIES, SPAN_PRIORITY

__all__ = [
    "Found",
    "LabelHit",
    "ScanResult",
    "Span",
    "bounded",
    "entity_span",
    "resolve_overlaps",
    "word_char_at",
]


class Span(NamedTuple):
    """A span of personal data: ``text[start:end]`` is an ``entity`` of ``category``.

    ``ref`` identifies what the span refers to within one record (a directory member,
    or a normalized form of the value), so that pseudonymization gives the same
    ``<PERSON_1>`` to "Jane Doe" and "Jane"; ``priority`` breaks ties between
    overlapping spans of equal length. Neither is shown by ``repr`` (``ref`` holds
    content).
    """

    start: int
    end: int
    entity: str
    category: str
    ref: str = ""
    priority: int = 0

    def __repr__(self) -> str:
        return f"Span(start={self.start}, end={self.end}, entity={self.entity!r}, category={self.category!r})"

    def to_dict(self) -> dict[str, int | str]:
        return {
            "start": self.start,
            "end": self.end,
            "entity": self.entity,
            "category": self.category,
        }


class LabelHit(NamedTuple):
    """Evidence of sensitive content: ``text[start:end]`` made the text ``label``."""

    start: int
    end: int
    label: str
    category: str

    def to_dict(self) -> dict[str, int | str]:
        return {
            "start": self.start,
            "end": self.end,
            "label": self.label,
            "category": self.category,
        }


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What one text holds: entity spans (overlaps resolved) and sensitive labels."""

    spans: tuple[Span, ...]
    labels: tuple[str, ...]
    label_hits: tuple[LabelHit, ...] = ()


def resolve_overlaps(spans: list[Span]) -> list[Span]:
    """Keep a set of non-overlapping spans: longest first, then higher priority, then
    earlier; the result is sorted by position."""
    if len(spans) < 2:
        return sorted(spans)
    ranked = sorted(spans, key=lambda s: (s.start - s.end, -s.priority, s.start))
    taken: list[Span] = []
    for s in ranked:
        if all(s.end <= t.start or t.end <= s.start for t in taken):
            taken.append(s)
    return sorted(taken)


Found = list[Span]
"""What a recognizer appends its spans to."""


def entity_span(start: int, end: int, entity: str, ref: str = "") -> Span:
    """A span of a catalogued entity, with its category and tie-break priority."""
    return Span(start, end, entity, ENTITY_CATEGORIES[entity], ref, SPAN_PRIORITY.get(entity, 50))


def word_char_at(text: str, i: int) -> bool:
    """Whether ``text[i]`` exists and is a word character (letter, digit, underscore)."""
    return 0 <= i < len(text) and (text[i].isalnum() or text[i] == "_")


def bounded(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` has no word character on either side."""
    return not word_char_at(text, start - 1) and not word_char_at(text, end)
