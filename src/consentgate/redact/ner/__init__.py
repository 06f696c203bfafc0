"""Named-entity recognition for the people and places no member directory knows.

The built-in detectors find identifiers by pattern and names by the member directory and
by cues (titles, salutations, sign-offs, field labels); other people's names ("my
colleague Priya") and places need a model. A backend is any object with an ``entities``
set and ``find(text) -> list[Span]``; one that also has ``find_batch(texts, languages)``
is given a whole batch at once (:func:`find_all`). ``ORGANIZATION`` spans a backend
returns are used to resolve overlaps and never redacted.

* :class:`SpacyNer` (``pipelines``): spaCy pipelines per record language, the gate's
  default when the ``ner`` extra is installed (:func:`default_ner`);
* :class:`PresidioNer` (``presidio``): adapts a Presidio ``AnalyzerEngine``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from consentgate.redact.ner.pipelines import (
    ORGANIZATION,
    PIPELINES,
    SpacyNer,
    default_ner,
    installed_pipelines,
)
from consentgate.redact.ner.presidio import PresidioNer
from consentgate.redact.spans import Span

__all__ = [
    "ORGANIZATION",
    "PIPELINES",
    "NerBackend",
    "PresidioNer",
    "SpacyNer",
    "default_ner",
    "find_all",
    "installed_pipelines",
]


class NerBackend(Protocol):
    """Finds entity spans (typically PERSON, LOCATION) in one text."""

    @property
    def entities(self) -> frozenset[str]: ...

    def find(self, text: str) -> Sequence[Span]: ...


def find_all(
    backend: NerBackend, texts: Sequence[str], languages: Sequence[str | None] | None = None
) -> list[list[Span]]:
    """``backend``'s spans for each text: one ``find_batch`` call when the backend has
    one, else ``find`` per text (``languages`` is then ignored)."""
    batch = getattr(backend, "find_batch", None)
    if batch is not None:
        found: list[list[Span]] = batch(texts, languages)
        return found
    return [list(backend.find(t)) for t in texts]
