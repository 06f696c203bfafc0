"""The CLI through its real entry point: exit codes, messages, --json."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from conftest import CliResult
from factories import day

Cli = Callable[..., CliResult]


def _setup(cli: Cli, examples: Path, tmp_path: Path) -> None:
    assert cli("init").exit_code == 0
    assert cli("policy", "publish", str(examples / "policy-v1.yaml")).exit_code == 0
    assert cli("policy", "publish", str(examples / "policy-v2.yaml")).exit_code == 0
    (tmp_path / "m.csv").write_text("member_id,jurisdiction\nu1,US\ne1,EU\n")
    assert cli("members", "import", str(tmp_path / "m.csv")).exit_code == 0


def test_uninitialised_database_says_run_init(cli: Cli) -> None:
    r = cli("policy", "list")
    assert r.exit_code == 1 and "consentgate init" in r.stderr


def test_publish_refusal_exits_1_naming_rule_and_setting(
    cli: Cli, examples: Path, tmp_path: Path
) -> None:
    _setup(cli, examples, tmp_path)
    r = cli("policy", "publish", str(examples / "policy-bad-default.yaml"))
    assert r.exit_code == 1
    assert "privacy-by-default" in r.stderr and "ai_training_messages_partners" in r.stderr
    assert [p["version"] for p in cli("policy", "list", "--json").json()] == ["v1", "v2"]


def test_policy_show_and_diff_json(cli: Cli, examples: Path, tmp_path: Path) -> None:
    _setup(cli, examples, tmp_path)
    show = cli("policy", "show", "v2", "--json").json()
    assert {s["id"] for s in show["settings"]} >= {
        "ai_training_posts",
        "ai_training_messages_partners",
    }
    changes = cli("policy", "diff", "v1", "v2", "--json").json()
    assert any(c["material"] and c["kind"] == "default_on" for c in changes)
    assert cli("policy", "show", "v9").exit_code == 1


def test_status_json_shape(cli: Cli, examples: Path, tmp_path: Path) -> None:
    _setup(cli, examples, tmp_path)
    r = cli(
        "consent", "status", "u1", "--setting", "ai_training_posts", "--at", "2024-10-01", "--json"
    )
    assert r.exit_code == 0
    assert r.json() == {
        "member_id": "u1",
        "setting": "ai_training_posts",
        "jurisdiction": "US",
        "state": "default_on",
        "covers_from": "2024-09-18T00:00:00Z",
        "event_id": None,
        "policy_version": "v2",
    }
    assert (
        cli(
            "consent",
            "status",
            "e1",
            "--setting",
            "ai_training_posts",
            "--at",
            "2024-01-01",
            "--json",
        ).json()["state"]
        == "not_offered"
    )


def test_record_then_status(cli: Cli, examples: Path, tmp_path: Path) -> None:
    _setup(cli, examples, tmp_path)
    r = cli(
        "consent",
        "record",
        "e1",
        "--setting",
        "ai_training_posts",
        "--type",
        "grant",
        "--policy-version",
        "v2",
        "--effective-at",
        "2024-10-01T00:00:00Z",
        "--event-id",
        "x1",
        "--json",
    )
    assert r.exit_code == 0 and r.json()["created"] is True
    assert (
        cli(
            "consent",
            "record",
            "e1",
            "--setting",
            "ai_training_posts",
            "--type",
            "grant",
            "--policy-version",
            "v2",
            "--effective-at",
            "2024-10-01T00:00:00Z",
            "--event-id",
            "x1",
            "--json",
        ).json()["created"]
        is False
    )
    status = cli("consent", "status", "e1", "--setting", "ai_training_posts", "--json").json()
    assert status["state"] == "granted" and status["event_id"] == "x1"
    bad = cli("consent", "record", "e1", "--setting", "ai_training_posts", "--type", "grant")
    assert bad.exit_code == 1 and "policy_version" in bad.stderr


def test_usage_errors_exit_2(cli: Cli, examples: Path, tmp_path: Path) -> None:
    _setup(cli, examples, tmp_path)
    assert cli("consent", "status", "u1").exit_code == 2  # missing --setting
    assert cli("consent", "status", "u1", "--setting", "x", "--at", "yesterday").exit_code == 2
    assert cli("nonsense").exit_code == 2


def test_import_refused_lists_every_bad_line(cli: Cli, examples: Path, tmp_path: Path) -> None:
    _setup(cli, examples, tmp_path)
    f = tmp_path / "ev.jsonl"
    good = {
        "member_id": "e1",
        "type": "grant",
        "setting": "ai_training_posts",
        "policy_version": "v2",
        "effective_at": day(300).isoformat(),
    }
    f.write_text(
        "\n".join([json.dumps(good), "{not json", json.dumps({**good, "member_id": "zz"})]) + "\n"
    )
    r = cli("consent", "import", str(f))
    assert r.exit_code == 1 and f"{f}:2:" in r.stderr and f"{f}:3:" in r.stderr
    assert (
        cli("consent", "status", "e1", "--setting", "ai_training_posts", "--json").json()["state"]
        == "default_off"
    )
    r = cli("consent", "import", str(f), "--on-error", "skip", "--json")
    assert r.exit_code == 0 and r.json()["added"] == 1 and r.json()["rejected"] == 2


def test_snapshot_and_audit_verify(cli: Cli, examples: Path, tmp_path: Path) -> None:
    _setup(cli, examples, tmp_path)
    out = tmp_path / "s.parquet"
    r = cli(
        "snapshot",
        "--use",
        "train_ai_system",
        "--recipient",
        "first_party",
        "--as-of",
        "2024-10-01",
        "--out",
        str(out),
        "--json",
    )
    assert r.exit_code == 0 and r.json()["rows"] == 1 and out.exists()
    refused = cli(
        "snapshot",
        "--use",
        "train_ai_system",
        "--recipient",
        "nobody",
        "--as-of",
        "2024-10-01",
        "--out",
        str(tmp_path / "n.parquet"),
    )
    assert refused.exit_code == 1 and not (tmp_path / "n.parquet").exists()
    v = cli("audit", "verify", "--json")
    assert v.exit_code == 0 and v.json()["ok"] is True


def test_members_move_is_recorded_not_overwritten(cli: Cli, examples: Path, tmp_path: Path) -> None:
    _setup(cli, examples, tmp_path)
    status = ["consent", "status", "e1", "--setting", "ai_training_posts", "--json"]
    before = cli(*status, "--at", "2024-12-01").json()
    assert (before["jurisdiction"], before["state"]) == ("EU", "default_off")
    r = cli(
        "members", "move", "e1", "--jurisdiction", "US", "--effective-at", "2024-11-01", "--json"
    )
    assert r.exit_code == 0, r.stderr
    moved = r.json()
    assert moved["moved"] and moved["effective_at"] == "2024-11-01T00:00:00Z" and moved["seq"]
    after = cli(*status, "--at", "2024-12-01").json()
    assert (after["jurisdiction"], after["state"], after["covers_from"]) == (
        "US",
        "default_on",
        "2024-11-01T00:00:00Z",  # the US default covers data only from the move on
    )
    assert cli(*status, "--at", "2024-10-01").json()["jurisdiction"] == "EU"
    # As known before the move was recorded: the old state.
    old = cli(*status, "--at", "2024-12-01", "--known-at", before_move(moved)).json()
    assert (old["jurisdiction"], old["state"]) == ("EU", "default_off")
    again = cli("members", "move", "e1", "--jurisdiction", "US", "--effective-at", "2024-11-15")
    assert again.exit_code == 0 and "Unchanged" in again.stdout
    assert cli("audit", "verify").exit_code == 0
    bad = cli("members", "move", "e1", "--jurisdiction", "U$", "--effective-at", "2024-11-01")
    assert bad.exit_code == 1 and "--jurisdiction" in bad.stderr
    ghost = cli("members", "move", "ghost", "--jurisdiction", "US", "--effective-at", "2024-11-01")
    assert ghost.exit_code == 1
    usage = cli("members", "move", "e1", "--jurisdiction", "US")
    assert usage.exit_code == 2


def before_move(moved: dict[str, str]) -> str:
    """A --known-at an instant before the move was recorded."""
    from datetime import timedelta

    from consentgate.timestamps import format_timestamp, parse_timestamp

    recorded = parse_timestamp(moved["recorded_at"], field="recorded_at")
    return format_timestamp(recorded - timedelta(microseconds=1))


def test_members_reimport_with_changed_jurisdiction_records_a_move(
    cli: Cli, examples: Path, tmp_path: Path
) -> None:
    _setup(cli, examples, tmp_path)
    (tmp_path / "m2.csv").write_text(
        "member_id,jurisdiction,jurisdiction_effective_at\nu1,US,\ne1,US,2024-10-15T00:00:00Z\n"
    )
    r = cli("members", "import", str(tmp_path / "m2.csv"), "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json() | {"rejects_file": None} == {
        "added": 0,
        "updated": 0,
        "moved": 1,
        "unchanged": 1,
        "rejected": 0,
        "rejects_file": None,
        "erased": 0,
    }
    st = cli(
        "consent", "status", "e1", "--setting", "ai_training_posts", "--at", "2024-12-01", "--json"
    ).json()
    assert (st["jurisdiction"], st["state"], st["covers_from"]) == (
        "US",
        "default_on",
        "2024-10-15T00:00:00Z",
    )
    again = cli("members", "import", str(tmp_path / "m2.csv"), "--json").json()
    assert (again["moved"], again["unchanged"]) == (0, 2)
