"""Recall of the sensitive labels on sentences written apart from the rules (issue 15).

tests/vectors/sensitive_independent.yaml was written before the rules of issue 15 were
changed and is never copied into them: it measures how the phrase rules generalise to
phrasing they were not written from. The floors below are the measured figures (see
docs/redaction.md, "Sensitive labels on independent sentences"); a change to the rules
that loses recall here, or raises a label on a negative, fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from consentgate.redact import LABELS, Redactor
from consentgate.redact.profile import Profile

VECTORS = Path(__file__).parent / "vectors" / "sensitive_independent.yaml"
HELD_OUT = Path(__file__).parent / "vectors" / "sensitive_heldout.yaml"
SPECIAL = Path(__file__).parent / "vectors" / "sensitive_special.yaml"

# per label: the recall measured on each set, and how many negatives raised a label.
# sensitive_independent.yaml was written before the issue 15 rule changes by the same hand
# that then changed the rules, so its figures after the change are optimistic;
# sensitive_heldout.yaml was written after them and never used to change a rule.
FLOORS: dict[str, float] = {
    "health": 22 / 22,
    "sexual_orientation": 14 / 14,
    "religion": 16 / 16,
    "political_opinion": 15 / 15,
    "trade_union": 16 / 16,
    "criminal_history": 14 / 15,
    "credentials": 4 / 7,
    "employment_dispute": 8 / 8,
    "compensation": 7 / 8,
    "confidential_business": 6 / 6,
}
NEGATIVES_RAISED_AT_MOST = 1
HELD_OUT_FLOORS: dict[str, float] = {
    "health": 0 / 6,
    "sexual_orientation": 4 / 5,
    "religion": 3 / 5,
    "political_opinion": 1 / 5,
    "trade_union": 5 / 5,
    "criminal_history": 1 / 5,
    "credentials": 1 / 5,
    "employment_dispute": 1 / 5,
    "compensation": 2 / 5,
    "confidential_business": 1 / 5,
}
HELD_OUT_NEGATIVES_RAISED_AT_MOST = 0
# sensitive_special.yaml: the GDPR special categories, written before the second round of
# issue 15 broadened their rules (before: trade_union 3/8, health 6/8, religion 8/8,
# sexual_orientation 5/8, political_opinion 7/8); "ethnicity" has no label yet.
SPECIAL_FLOORS: dict[str, float] = {
    "trade_union": 8 / 8,
    "health": 7 / 8,
    "religion": 8 / 8,
    "sexual_orientation": 8 / 8,
    "political_opinion": 8 / 8,
}
SPECIAL_WITHOUT_A_LABEL = {"ethnicity"}


def _vectors(path: Path = VECTORS) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def measure(path: Path = VECTORS) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """Per label (found, total) on the positives, and the negatives that raised a label."""
    redactor = Redactor(Profile())
    data = _vectors(path)

    def labels(texts: list[str]) -> list[tuple[str, ...]]:
        return [r.labels if r else () for r in redactor.scan_batch(pa.array(texts, pa.string()))]

    found: dict[str, tuple[int, int]] = {}
    for label, texts in data["positives"].items():
        found[label] = (sum(label in got for got in labels(texts)), len(texts))
    raised = [t for t, got in zip(data["negatives"], labels(data["negatives"]), strict=True) if got]
    return found, raised


def test_every_label_has_independent_sentences() -> None:
    data = _vectors()
    assert set(data["positives"]) == set(LABELS)
    assert all(len(texts) >= 5 for texts in data["positives"].values())
    assert len(data["negatives"]) >= 30


def test_recall_per_label_does_not_fall_below_the_measured_floor() -> None:
    found, _ = measure()
    for label, (hits, total) in found.items():
        assert hits / total >= FLOORS[label], (label, hits, total)


def test_negatives_raise_few_labels() -> None:
    _, raised = measure()
    assert len(raised) <= NEGATIVES_RAISED_AT_MOST, raised


def test_held_out_recall_and_negatives_stay_where_measured() -> None:
    assert set(_vectors(HELD_OUT)["positives"]) == set(LABELS)
    found, raised = measure(HELD_OUT)
    for label, (hits, total) in found.items():
        assert hits / total >= HELD_OUT_FLOORS[label], (label, hits, total)
    assert len(raised) <= HELD_OUT_NEGATIVES_RAISED_AT_MOST, raised


def test_special_categories_stay_where_measured() -> None:
    data = _vectors(SPECIAL)
    assert set(data["positives"]) == set(SPECIAL_FLOORS) | SPECIAL_WITHOUT_A_LABEL
    assert SPECIAL_WITHOUT_A_LABEL.isdisjoint(LABELS)  # a new label must get a floor here
    found, raised = measure(SPECIAL)
    for label, floor in SPECIAL_FLOORS.items():
        hits, total = found[label]
        assert hits / total >= floor, (label, hits, total)
    assert raised == [], raised


if __name__ == "__main__":  # prints the tables of docs/redaction.md
    for path in (VECTORS, HELD_OUT, SPECIAL):
        found, raised = measure(path)
        print(path.name)
        for label, (hits, total) in found.items():
            print(f"| {label} | {hits} / {total} | {hits / total:.2f} |")
        total_hits = sum(h for h, _ in found.values())
        total = sum(t for _, t in found.values())
        print(f"| all | {total_hits} / {total} | {total_hits / total:.2f} |")
        negatives = len(_vectors(path)["negatives"])
        print(f"negatives raising a label: {len(raised)} of {negatives}: {raised}")
