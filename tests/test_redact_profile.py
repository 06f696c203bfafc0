"""Redaction profiles: the shipped default, loading, and refusing bad files by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from consentgate.errors import InvalidInput
from consentgate.redact import ENTITIES, LABELS, default_profile, load_profile, parse_profile


def test_default_profile_is_the_issues_policy() -> None:
    profile = default_profile()
    assert all(profile.entity_action(e) in ("redact", "pseudonymize") for e in ENTITIES)
    assert profile.entity_action("PERSON") == "pseudonymize"
    assert profile.entity_action("EMAIL_ADDRESS") == "redact"
    excluded = {lb for lb in LABELS if profile.label_action(lb) == "exclude"}
    assert excluded == {
        "health",
        "sexual_orientation",
        "religion",
        "political_opinion",
        "criminal_history",
        "trade_union",
        "credentials",
    }
    assert profile.label_action("compensation") == "redact"


def test_a_valid_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "version: 1\ndefault_entity: keep\nentities:\n  EMAIL_ADDRESS: redact\n"
        "labels:\n  health: redact\n"
    )
    profile = load_profile(path)
    assert profile.entity_action("EMAIL_ADDRESS") == "redact"
    assert profile.entity_action("PHONE_NUMBER") == "keep"
    assert profile.label_action("health") == "redact"
    assert profile.label_action("religion") == "keep"
    assert profile.source == str(path)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("version: 2\n", "version: must be 1"),
        ("version: 1\nentities:\n  EMAIL: redact\n", "entities.EMAIL: unknown entity"),
        (
            "version: 1\nentities:\n  EMAIL_ADDRESS: hide\n",
            "entities.EMAIL_ADDRESS: unknown action 'hide'",
        ),
        ("version: 1\nlabels:\n  pay: exclude\n", "labels.pay: unknown label"),
        ("version: 1\nlabels: [health]\n", "labels: must be a mapping"),
        ("version: 1\ndefault_label: drop\n", "default_label: unknown action 'drop'"),
        ("version: 1\ncolour: red\n", "colour: unknown field"),
        ("- just\n- a list\n", "expected a mapping"),
        ("version: 1\nentities: {EMAIL_ADDRESS: redact\n", ":3: "),
    ],
)
def test_a_bad_file_is_refused_naming_file_and_field(
    tmp_path: Path, body: str, problem: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(InvalidInput) as info:
        load_profile(path)
    assert str(path) in str(info.value)
    assert any(problem in p for p in info.value.problems), info.value.problems


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_profile({"version": 1, "entities": {"X": "redact", "URL": "nope"}}, source="p.yaml")
    assert len(info.value.problems) == 2


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read"):
        load_profile(tmp_path / "absent.yaml")
