"""Dataset builds through the CLI: registry, impact, exposure audit (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import AS_OF, CliResult, build_args

Cli = Callable[..., CliResult]


def test_build_registers_and_reports_every_exclusion(cli: Cli, world: Path, tmp_path: Path) -> None:
    out = tmp_path / "posts"
    r = cli(*build_args(world, out, "--shards", "4", "--json"))
    assert r.exit_code == 0, r.stderr
    counts = r.json()["counts"]
    # posts: p1 (u1 default on) and p2 (e1 granted) in; p3 denied; p4 before scope; p5 unknown;
    # messages: first_party has no messages setting -> no_consent.
    assert counts["included"] == 2 and counts["input"] == 7
    ex = counts["excluded"]
    assert ex["no_consent"] == 3 and ex["before_consent_scope"] == 1 and ex["unknown_member"] == 1
    assert counts["input"] == counts["included"] + sum(ex.values())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dataset_id"] == r.json()["dataset_id"]
    listed = cli("datasets", "--json").json()
    assert [d["dataset_id"] for d in listed] == [manifest["dataset_id"]] and listed[0][
        "records"
    ] == 2
    imp = cli("impact", "u1", "--json").json()["datasets"]
    assert len(imp) == 1 and imp[0]["as_author"] == 1
    assert cli("impact", "u2", "--json").json()["datasets"] == []
    assert cli("audit", "verify").exit_code == 0


def test_third_party_build_and_refusal(cli: Cli, world: Path, tmp_path: Path) -> None:
    r = cli(*build_args(world, tmp_path / "acme", "--json", recipient="acme-ai"))
    assert r.exit_code == 0, r.stderr
    counts = r.json()["counts"]
    assert counts["included"] == 1  # m1: e1 and e2 both granted
    assert counts["excluded"]["no_consent_counterparty"] == 1  # m2: u1 never granted
    assert cli("impact", "e2", "--json").json()["datasets"][0]["as_participant"] == 1
    unnamed = cli(*build_args(world, tmp_path / "x", recipient="nobody"))
    assert unnamed.exit_code == 1 and not (tmp_path / "x").exists()
    # acme is named from v2 (effective 2024-09-18) only: a cutoff under v1 is refused
    early = cli(*build_args(world, tmp_path / "early", recipient="acme-ai", as_of="2024-09-01"))
    assert early.exit_code == 1 and "not named" in early.stderr
    assert not (tmp_path / "early").exists()


def test_a_cutoff_after_the_build_time_is_refused(cli: Cli, world: Path, tmp_path: Path) -> None:
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for recipient in ("first_party", "acme-ai"):
        r = cli(*build_args(world, tmp_path / recipient, recipient=recipient, as_of=future))
        assert r.exit_code == 1 and "after the build time" in r.stderr
        assert not (tmp_path / recipient).exists()
    assert cli("datasets", "--json").json() == []


def test_a_contract_ended_at_the_build_time_refuses_a_past_cutoff(
    world: Path, db_url: str, tmp_path: Path
) -> None:
    """Acme's contract allowed training on 2024-11-01 but has ended by the build time."""
    from consentgate import workspace
    from consentgate.errors import RecipientRefused
    from consentgate.gate.source import open_source
    from consentgate.store.engine import make_engine

    engine = make_engine(db_url)
    try:
        with pytest.raises(RecipientRefused, match="ended"):
            workspace.build(
                engine,
                open_source(world),
                use="train_ai_system",
                recipient="acme-ai",
                out=tmp_path / "late",
                as_of=datetime(2024, 11, 1, tzinfo=UTC),
                redactor=workspace.make_redactor(engine),
                now=lambda: datetime(2031, 6, 1, tzinfo=UTC),
            )
        assert not (tmp_path / "late").exists() and workspace.list_datasets(engine) == []
    finally:
        engine.dispose()


def test_audit_dataset_finds_withdrawn_members(cli: Cli, world: Path, tmp_path: Path) -> None:
    out = tmp_path / "posts"
    assert cli(*build_args(world, out)).exit_code == 0
    clean = cli(
        "audit-dataset",
        str(out),
        "--use",
        "train_ai_system",
        "--recipient",
        "first_party",
        "--as-of",
        AS_OF,
        "--json",
    ).json()
    assert clean["violations"] == [] and clean["exposure_usd"] == 0
    assert (
        cli(
            "consent",
            "record",
            "u1",
            "--setting",
            "ai_training_posts",
            "--type",
            "withdraw",
            "--effective-at",
            "2024-11-05",
        ).exit_code
        == 0
    )
    later = cli(
        "audit-dataset",
        str(out),
        "--use",
        "train_ai_system",
        "--recipient",
        "first_party",
        "--as-of",
        "2024-11-10",
        "--per-member-usd",
        "1000",
        "--json",
    ).json()
    assert later["violations"] == [{"record_id": "p1", "reason": "withdrawn", "members": ["u1"]}]
    assert later["affected_members"] == ["u1"] and later["exposure_usd"] == 1000


def test_build_refuses_existing_out_dir(cli: Cli, world: Path, tmp_path: Path) -> None:
    out = tmp_path / "posts"
    out.mkdir()
    r = cli(*build_args(world, out))
    assert r.exit_code == 1 and "exists" in r.stderr


def test_registry_tampering_is_detected(cli: Cli, world: Path, tmp_path: Path, db_url: str) -> None:
    import sqlalchemy as sa

    from consentgate.store.engine import make_engine

    assert cli(*build_args(world, tmp_path / "d")).exit_code == 0
    assert cli("audit", "verify").exit_code == 0
    eng = make_engine(db_url)
    with eng.begin() as conn:  # hide a member from the registry (impact would miss them)
        conn.execute(sa.text("DELETE FROM dataset_members WHERE member_id = 'u1'"))
    eng.dispose()
    r = cli("audit", "verify")
    assert r.exit_code == 1 and "dataset" in r.stderr


def test_build_redacts_by_default_and_counts(cli: Cli, world: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    def texts_of(d: Path) -> list[str]:
        manifest = json.loads((d / "manifest.json").read_text())
        return (
            pq.read_table([str(d / f["path"]) for f in manifest["files"]])
            .column("text")
            .to_pylist()
        )

    r = cli(*build_args(world, tmp_path / "red", "--json"))
    assert r.exit_code == 0, r.stderr
    assert r.json()["redactions"] == {"EMAIL_ADDRESS": 1}
    texts = texts_of(tmp_path / "red")
    assert "Mail me at <EMAIL_ADDRESS>" in texts and not any("@" in t for t in texts)
    raw = cli(*build_args(world, tmp_path / "raw", "--no-redact", "--json"))
    assert raw.exit_code == 0 and raw.json()["redactions"] == {}
    assert "Mail me at ann.lee@example.com" in texts_of(tmp_path / "raw")


def test_sensitive_record_is_excluded_with_reason(cli: Cli, world: Path, tmp_path: Path) -> None:
    rows = [json.loads(line) for line in world.read_text().splitlines()]
    rows[0]["text"] = "I was diagnosed with diabetes last month"
    world.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = cli(*build_args(world, tmp_path / "s", "--json"))
    assert r.exit_code == 0, r.stderr
    assert r.json()["counts"]["excluded"]["sensitive_content:health"] == 1
    assert r.json()["counts"]["included"] == 1


def test_unknown_category_refuses_the_build(cli: Cli, world: Path, tmp_path: Path) -> None:
    rows = [json.loads(line) for line in world.read_text().splitlines()]
    rows[1]["category"] = "user.content.telepathy"
    world.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = cli(*build_args(world, tmp_path / "x"))
    assert (
        r.exit_code == 1 and "user.content.telepathy" in r.stderr and not (tmp_path / "x").exists()
    )


def test_logs_carry_counts_never_member_ids_or_content(
    cli: Cli, world: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG, logger="consentgate")
    r = cli(
        "-v",
        "build",
        str(world),
        "--use",
        "train_ai_system",
        "--recipient",
        "acme-ai",
        "--as-of",
        AS_OF,
        "--out",
        str(tmp_path / "d"),
    )
    assert r.exit_code == 0, r.stderr
    assert (
        cli(
            "-v",
            "consent",
            "record",
            "e2",
            "--setting",
            "ai_training_messages_partners",
            "--type",
            "withdraw",
        ).exit_code
        == 0
    )
    assert caplog.records, "expected some progress logging"
    text = caplog.text + r.stderr
    import re

    for secret in ("u1", "u2", "e1", "e2", "ann.lee@example.com", "secret", "Mail me"):
        assert not re.search(rf"\b{re.escape(secret)}\b", text), secret
