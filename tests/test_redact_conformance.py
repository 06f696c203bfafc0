"""Conformance with Presidio's recognizer test vectors (tests/vectors/presidio, MIT).

For every entity consentgate supports, at least 95% of the positive vectors must be found
with the right spans and at least 95% of the negative vectors must raise nothing of that
entity. Spans are compared as each recognizer reports them, before spans of different
entities are reconciled, which is what Presidio's own recognizer tests check; expected
spans are trimmed of surrounding whitespace and quotes (Presidio's UK NINO pattern keeps a
leading space, its URL pattern the quotes around a quoted URL).

Vectors that configure a non-default recognizer option (``params`` other than the
default phone leniency) describe another recognizer than the default and are skipped.

``python tests/test_redact_conformance.py`` prints the table of docs/redaction.md.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from consentgate.redact import ENTITIES, patterns, prefilter

VECTORS = Path(__file__).parent / "vectors" / "presidio" / "recognizer_vectors.json"
DEFAULT_PARAMS: tuple[dict[str, Any], ...] = ({}, {"leniency": 1})
ALL_GROUPS = sum(patterns.PREFILTERS)


@dataclass(slots=True)
class Score:
    positives: int = 0
    found: int = 0
    negatives: int = 0
    quiet: int = 0

    @property
    def recall(self) -> float:
        return self.found / self.positives if self.positives else 1.0

    @property
    def quiet_rate(self) -> float:
        return self.quiet / self.negatives if self.negatives else 1.0


def _vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads(VECTORS.read_text("utf-8"))
    return [v for v in vectors if (v.get("params") or {}) in DEFAULT_PARAMS]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and (text[start].isspace() or text[start] in "\"'"):
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in "\"'"):
        end -= 1
    return start, end


def _spans(texts: list[str]) -> list[list[tuple[int, int, str]]]:
    """Each text's identifier spans, groups chosen by the engine's own RE2 prefilters."""
    groups = prefilter.groups(pa.array(texts, pa.string()), ALL_GROUPS)
    wanted = frozenset(ENTITIES)
    return [
        [
            (s.start, s.end, s.entity)
            for s in patterns.longest_per_entity(patterns.find_identifiers(t, int(g), wanted))
        ]
        for t, g in zip(texts, groups, strict=True)
    ]


def score(entities: frozenset[str] | None = None) -> dict[str, Score]:
    """Per vector entity (all of them when ``entities`` is None)."""
    vectors = [v for v in _vectors() if entities is None or v["entity"] in entities]
    found = _spans([v["text"] for v in vectors])
    scores: dict[str, Score] = defaultdict(Score)
    for vector, spans in zip(vectors, found, strict=True):
        entity = vector["entity"]
        got = sorted((s, e) for s, e, ent in spans if ent == entity)
        expected = vector.get("expected_spans")
        count = vector.get("expected_count") or 0
        sc = scores[entity]
        if expected or count:
            sc.positives += 1
            if expected:
                ok = got == sorted(_trim(vector["text"], s, e) for s, e in expected)
            else:
                ok = len(got) == count
            sc.found += ok
        else:
            sc.negatives += 1
            sc.quiet += not got
    return dict(scores)


SUPPORTED = sorted({v["entity"] for v in _vectors()} & set(ENTITIES))


def test_vectors_cover_the_core_entities() -> None:
    core = {
        "CREDIT_CARD",
        "EMAIL_ADDRESS",
        "IBAN_CODE",
        "IP_ADDRESS",
        "MAC_ADDRESS",
        "PHONE_NUMBER",
    }
    core |= {"URL", "US_SSN", "UK_NINO", "CRYPTO"}
    assert core <= set(SUPPORTED)
    assert len(SUPPORTED) >= 20


@pytest.fixture(scope="module")
def scores() -> dict[str, Score]:
    return score(frozenset(SUPPORTED))


@pytest.mark.parametrize("entity", SUPPORTED)
def test_supported_entity_meets_presidio_vectors(entity: str, scores: dict[str, Score]) -> None:
    sc = scores[entity]
    assert sc.recall >= 0.95, f"{entity}: {sc.found}/{sc.positives} positive vectors found"
    assert sc.quiet_rate >= 0.95, f"{entity}: {sc.quiet}/{sc.negatives} negative vectors quiet"


def test_a_missed_span_fails_the_vector() -> None:
    # the scorer itself: a text whose card is cut short must not count as found
    [spans] = _spans(["4111 1111 1111 111"])
    assert not [s for s in spans if s[2] == "CREDIT_CARD"]


def table() -> str:
    """Markdown table of every vector entity, supported or not."""
    rows = ["| entity | supported | positives found | negatives quiet |", "|---|---|---|---|"]
    for entity, sc in sorted(score().items()):
        supported = entity in ENTITIES
        found = _fraction(sc.found, sc.positives) if supported else f"– / {sc.positives}"
        quiet = _fraction(sc.quiet, sc.negatives) if supported else f"– / {sc.negatives}"
        rows.append(f"| {entity} | {'yes' if supported else 'no'} | {found} | {quiet} |")
    return "\n".join(rows)


def _fraction(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.0%})" if whole else "0/0"


if __name__ == "__main__":
    print(table())
