"""Issue 13: AI-use preference signals (IETF AIPREF Content-Usage, W3C TDMRep) out of and
into the ledger, and the ISO/IEC TS 27560-shaped consent record."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import AS_OF, CliResult

from consentgate.ecosystem.signals import (
    AIPREF_VOCABULARY,
    parse_content_usage,
    signal_event,
)

Cli = Callable[..., CliResult]


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("train-ai=n", {"train-ai": False}),
        ("train-ai=y, search=n", {"train-ai": True, "search": False}),
        ("train-ai=n;note=x ,search=y", {"train-ai": False, "search": True}),
        ("search=y", {"search": True}),
        ("train-ai", {}),  # a bare key is boolean true, not a y/n preference
        ("", {}),
        ("Train-AI=n", None),  # keys are lowercase
        ('train-ai="n"', None),  # a string, not a token
        ("train-ai=n,,", None),
    ],
)
def test_content_usage_parsing(value: str, parsed: dict[str, bool] | None) -> None:
    assert parse_content_usage(value) == parsed


@pytest.mark.parametrize(
    ("signal", "event_type", "understood"),
    [
        ({"content_usage": "train-ai=y"}, "grant", "consent"),
        ({"content_usage": "train-ai=n, search=y"}, "deny", "refusal"),
        ({"content_usage": "search=y"}, "deny", "unknown"),
        ({"content_usage": "garbage ="}, "deny", "unknown"),
        ({"tdm_reservation": 0}, "grant", "consent"),
        ({"tdm_reservation": "1"}, "deny", "refusal"),
        ({"tdm_reservation": ""}, "deny", "unknown"),
    ],
)
def test_unknown_is_no_consent(signal: dict[str, object], event_type: str, understood: str) -> None:
    rec = {"member_id": "m", "fetched_at": "2024-10-10T00:00:00Z", **signal}
    event = signal_event(rec, setting="ai_training_posts", policy_version="v2")
    assert event["type"] == event_type and event["source"] == "signal"
    assert event["evidence"]["understood_as"] == understood
    assert ("policy_version" in event) == (event_type == "grant")


def test_export_writes_what_consent_status_says(cli: Cli, world: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    r = cli(
        "signals", "export", "--setting", "ai_training_posts", "--at", AS_OF,
        "--path-template", "/u/{member}/", "--out", str(out),
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    robots = (out / "robots.txt").read_text().splitlines()
    assert AIPREF_VOCABULARY in robots[0] and robots[1] == "User-Agent: *"
    # u1: US default on; e1 granted; u2 denied; e2: UK, default off.
    expected = {"u1": "y", "e1": "y", "u2": "n", "e2": "n"}
    for member, yn in expected.items():
        assert f"Content-Usage: /u/{member}/ train-ai={yn}" in robots
    tdm = json.loads((out / ".well-known" / "tdmrep.json").read_text())
    assert {e["location"]: e["tdm-reservation"] for e in tdm} == {
        f"/u/{m}/*": 0 if yn == "y" else 1 for m, yn in expected.items()
    }
    headers = json.loads((out / "headers.json").read_text())
    assert headers["vocabulary"]["aipref"] == AIPREF_VOCABULARY
    assert headers["headers"]["/u/u2/"] == {"Content-Usage": "train-ai=n", "tdm-reservation": "1"}


def test_import_records_signals_as_evidence(cli: Cli, world: Path, tmp_path: Path) -> None:
    lines = [
        {"member_id": "e2", "fetched_at": "2024-10-10T00:00:00Z", "content_usage": "train-ai=y",
         "url": "https://example.com/u/e2/"},
        {"member_id": "u1", "fetched_at": "2024-10-10T00:00:00Z", "content_usage": "search=y"},
        {"member_id": "e1", "fetched_at": "2024-10-10T00:00:00Z", "tdm_reservation": 1},
    ]  # fmt: skip
    path = tmp_path / "signals.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    r = cli(
        "signals", "import", str(path), "--setting", "ai_training_posts", "--policy-version", "v2"
    )
    assert r.exit_code == 0, r.stderr
    states = {
        m: cli("consent", "status", m, "--setting", "ai_training_posts", "--json").json()["state"]
        for m in ("e2", "u1", "e1")
    }
    assert states == {"e2": "granted", "u1": "denied", "e1": "denied"}
    record = cli("consent", "export-record", "u1").json()
    assert record["event"]["method"] == "signal"
    assert record["event"]["evidence"]["understood_as"] == "unknown"
    assert record["event"]["evidence"]["value"] == "search=y"
    assert record["consent_status"] == "refused"
    granted = cli("consent", "export-record", "e2").json()
    assert granted["consent_status"] == "given" and granted["notice"]["policy_version"] == "v2"
    assert granted["processing"]["purposes"][0]["purpose"] == "train_ai_system"
    assert granted["processing"]["pii_categories"] == ["user.content.public"]
    assert granted["event"]["evidence"]["url"] == "https://example.com/u/e2/"


def test_a_bad_signal_line_refuses_the_file_naming_line_and_field(
    cli: Cli, world: Path, tmp_path: Path
) -> None:
    path = tmp_path / "signals.jsonl"
    path.write_text(
        json.dumps(
            {"member_id": "e2", "fetched_at": "2024-10-10T00:00:00Z", "content_usage": "train-ai=y"}
        )
        + "\n"
        + json.dumps({"member_id": "u1", "content_usage": "train-ai=y"})
        + "\n{not json\n"
    )
    r = cli(
        "signals", "import", str(path), "--setting", "ai_training_posts", "--policy-version", "v2"
    )
    assert r.exit_code == 1
    assert f"{path}:2: fetched_at" in r.stderr and f"{path}:3: not valid JSON" in r.stderr
    assert "u1" not in r.stderr
    status = cli("consent", "status", "e2", "--setting", "ai_training_posts", "--json").json()
    assert status["state"] == "default_off"  # nothing was stored
