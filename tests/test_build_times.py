"""Builds judged at their cutoff and at their build time, rebuilds that verify, and datasets
for third parties without member ids — through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from conftest import CliResult, build_args

Cli = Callable[..., CliResult]
MEMBERS = {"u1", "u2", "e1", "e2"}


def ok(cli: Cli, *args: str) -> CliResult:
    r = cli(*args)
    assert r.exit_code == 0, (args, r.stdout, r.stderr)
    return r


def record(cli: Cli, member: str, kind: str, setting: str | None = None) -> None:
    """An event effective 2024-11-05: after the builds' cutoff (2024-11-01), before now."""
    args = ["consent", "record", member, "--type", kind, "--effective-at", "2024-11-05"]
    ok(cli, *args, *(["--setting", setting] if setting else []))


def dataset_rows(out: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pq.read_table(out / "data").to_pylist()
    return rows


def holders(cli: Cli, member: str) -> list[str]:
    return [d["dataset_id"] for d in ok(cli, "impact", member, "--json").json()["datasets"]]


# ------------------------------------------------ a past cutoff cannot bring back consent


@pytest.mark.parametrize(
    ("kind", "reason"), [("withdraw", "withdrawn"), ("erase", "erased")], ids=["withdraw", "erase"]
)
def test_a_past_cutoff_excludes_a_member_who_left_after_it(
    cli: Cli, world: Path, tmp_path: Path, kind: str, reason: str
) -> None:
    """e1 (posts, messages) and e2 (messages) granted in September; after the cutoff of
    2024-11-01 e1 leaves the posts setting (or erases) and e2 leaves message sharing. A
    build made today as of 2024-11-01 must not use them, nor disclose them to Acme."""
    if kind == "erase":
        record(cli, "e1", "erase")
        record(cli, "e2", "erase")
    else:
        record(cli, "e1", "withdraw", "ai_training_posts")
        record(cli, "e2", "withdraw", "ai_training_messages_partners")
    # the snapshot as of the cutoff alone still says yes: this is what a build used to do
    snap = ok(
        cli,
        "consent",
        "status",
        "e1",
        "--setting",
        "ai_training_posts",
        "--at",
        "2024-11-01",
        "--json",
    ).json()
    assert snap["state"] == "granted"
    posts = ok(cli, *build_args(world, tmp_path / "posts", "--json")).json()
    assert posts["counts"]["excluded"][reason] == 1  # p2, e1's post
    assert "p2" not in {r["id"] for r in dataset_rows(tmp_path / "posts")}
    acme = ok(cli, *build_args(world, tmp_path / "acme", "--json", recipient="acme-ai")).json()
    assert acme["counts"]["included"] == 0
    assert acme["counts"]["excluded"][reason] == 1  # m1: e1 -> e2
    assert holders(cli, "e1") == [] and holders(cli, "e2") == []
    registered = {d["dataset_id"]: d for d in ok(cli, "datasets", "--json").json()}
    assert set(registered) == {posts["dataset_id"], acme["dataset_id"]}
    # the build's disclosure to Acme holds nobody (no record of e1 or e2 went out)
    assert registered[acme["dataset_id"]]["members"] == 0
    manifest = json.loads((tmp_path / "acme" / "manifest.json").read_text())
    assert manifest["as_of"] == "2024-11-01T00:00:00Z"
    assert manifest["built_at"] > "2024-11-05" and manifest["members_count"] == 0
    ok(cli, "audit", "verify")


def test_records_created_after_the_cutoff_are_excluded_with_their_reason(
    cli: Cli, world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [json.loads(line) for line in world.read_text().splitlines()]
    rows.append({**rows[0], "id": "p-late", "created_at": "2024-11-02T00:00:00Z"})
    rows.append({**rows[0], "id": "p-9999", "created_at": "9999-01-01T00:00:00Z"})
    world.write_text("".join(json.dumps(r) + "\n" for r in rows))
    # one in nine records from the future is far above the default share: refused
    refused = cli(*build_args(world, tmp_path / "x"))
    assert refused.exit_code == 1 and "after the build time" in refused.stderr
    assert not (tmp_path / "x").exists() and ok(cli, "datasets", "--json").json() == []
    monkeypatch.setenv("CONSENTGATE_GATE_MAX_FUTURE_SHARE", "0.5")
    r = ok(cli, *build_args(world, tmp_path / "d", "--json"))
    excluded = r.json()["counts"]["excluded"]
    assert excluded["after_as_of"] == 1 and excluded["created_after_build"] == 1
    ids = {row["id"] for row in dataset_rows(tmp_path / "d")}
    assert "p1" in ids and not ids & {"p-late", "p-9999"}


# ------------------------------------------------------- rebuilding is a verification


def test_rebuilding_identical_inputs_verifies_and_registers_nothing(
    cli: Cli, world: Path, tmp_path: Path
) -> None:
    first = ok(cli, *build_args(world, tmp_path / "d", "--json")).json()
    before = sorted(p.name for p in tmp_path.iterdir())
    for out in (tmp_path / "d", tmp_path / "again"):  # the same --out, or another one
        r = ok(cli, *build_args(world, out))
        assert f"identical to registered dataset {first['dataset_id']}" in r.stdout
        again = ok(cli, *build_args(world, out, "--json")).json()
        assert again["identical_to"] == first["dataset_id"] and not again["registered"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no second directory
    assert [d["dataset_id"] for d in ok(cli, "datasets", "--json").json()] == [first["dataset_id"]]
    # a relevant change in the ledger makes it another dataset, refused at a taken --out
    record(cli, "u1", "withdraw", "ai_training_posts")
    taken = cli(*build_args(world, tmp_path / "d"))
    assert taken.exit_code == 1 and "already holds dataset" in taken.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing left behind
    new = ok(cli, *build_args(world, tmp_path / "d2", "--json")).json()
    assert new["registered"] and new["dataset_id"] != first["dataset_id"]
    ok(cli, "audit", "verify")


# --------------------------------------------------------- third parties get no member ids


def test_a_third_party_dataset_carries_pseudonyms_and_proofs_still_work(
    cli: Cli, world: Path, tmp_path: Path, db_url: str
) -> None:
    from consentgate.gate.owners import pseudonym, recipient_key
    from consentgate.store.audit import workspace_secret
    from consentgate.store.engine import make_engine

    refused = cli(*build_args(world, tmp_path / "raw", "--no-redact", recipient="acme-ai"))
    assert refused.exit_code == 2 and "--no-redact is refused for a third party" in refused.stderr
    out = tmp_path / "acme"
    built = ok(cli, *build_args(world, out, "--shards", "2", "--json", recipient="acme-ai")).json()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["owner_columns"]["treatment"] == "pseudonymized"
    engine = make_engine(db_url)
    with engine.connect() as conn:
        key = recipient_key(workspace_secret(conn), "acme-ai")
    engine.dispose()
    rows = dataset_rows(out)
    assert [(r["author_id"], r["recipient_ids"]) for r in rows] == [
        (pseudonym(key, "e1"), [pseudonym(key, "e2")])
    ]
    # no member id in any value of any Parquet file of the dataset (parts and shard map)
    for path in out.rglob("*.parquet"):
        values = json.dumps(pq.read_table(path).to_pylist(), default=str)
        assert not MEMBERS & set(re.findall(r'"([^"]*)"', values)), path
    assert re.fullmatch(r"[0-9a-f]{32}", rows[0]["author_id"])
    # the registry still knows whose data it is: impact and membership proofs work
    assert holders(cli, "e2") == [built["dataset_id"]]
    proof = tmp_path / "e2.json"
    issued = ok(
        cli, "proof", "e2", "--dataset", built["dataset_id"], "--out", str(proof), "--json"
    ).json()
    assert issued["present"] and issued["members_root"] == manifest["members_root"]


def test_a_profile_can_drop_the_owner_columns_and_remediation_still_works(
    cli: Cli, world: Path, tmp_path: Path
) -> None:
    profile = tmp_path / "drop.yaml"
    profile.write_text("version: 1\nowner_columns: drop\n")
    out = tmp_path / "acme"
    built = ok(
        cli, *build_args(world, out, "--profile", str(profile), "--json", recipient="acme-ai")
    ).json()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["owner_columns"]["treatment"] == "dropped"
    assert pq.read_table(out / "data").column_names == ["id", "category", "created_at", "text"]
    record(cli, "e2", "withdraw", "ai_training_messages_partners")
    r = ok(cli, "remediate", built["dataset_id"], "--json").json()
    assert r["records_removed"] == 1 and r["new_dataset_id"]
    assert pq.read_table(Path(r["out"]) / "data").num_rows == 0


# ------------------------------------------------------------------------- audit-dataset


def audit(cli: Cli, source: Path, *extra: str, recipient: str = "first_party") -> CliResult:
    return cli(
        "audit-dataset",
        str(source),
        "--use",
        "train_ai_system",
        "--recipient",
        recipient,
        "--as-of",
        "2024-11-01",
        "--json",
        *extra,
    )


def test_audit_flags_sensitive_content_and_identifiers_and_exits_1(
    cli: Cli, world: Path, tmp_path: Path
) -> None:
    """A dataset built elsewhere, without redaction: consent holds, content does not."""
    rows = [json.loads(line) for line in world.read_text().splitlines()]
    kept = [r for r in rows if r["id"] in ("p1", "p2")]
    kept[0]["text"] = "I was diagnosed with diabetes last month"
    kept[1]["text"] = "my ssn is 536-22-8726, call me"
    theirs = tmp_path / "theirs.jsonl"
    theirs.write_text("".join(json.dumps(r) + "\n" for r in kept))
    r = audit(cli, theirs)
    assert r.exit_code == 1, r.stderr
    report = r.json()
    assert report["violates"] and report["content_checked"]
    assert sorted((v["record_id"], v["reason"]) for v in report["violations"]) == [
        ("p1", "sensitive_content:health"),
        ("p2", "identifier:US_SSN"),
    ]
    assert report["affected_members"] == ["e1", "u1"]
    consent_only = audit(cli, theirs, "--no-content-check")
    assert consent_only.exit_code == 0 and consent_only.json()["violations"] == []


def test_audit_checks_content_with_the_builds_own_profile(
    cli: Cli, world: Path, tmp_path: Path
) -> None:
    rows = [json.loads(line) for line in world.read_text().splitlines()]
    rows[0]["text"] = "I was diagnosed with diabetes last month"  # p1, u1's post
    world.write_text("".join(json.dumps(r) + "\n" for r in rows))
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text("version: 1\nlabels: {health: keep}\n")
    out = tmp_path / "d"
    ok(cli, *build_args(world, out, "--profile", str(lenient)))
    assert any("diabetes" in (r["text"] or "") for r in dataset_rows(out))
    clean = audit(cli, out)  # the build's profile keeps health content: no violation
    assert clean.exit_code == 0 and clean.json()["violations"] == []
    strict = audit(cli, out, "--profile", str(lenient).replace("lenient", "strict"))
    assert strict.exit_code == 2  # no such file
    shipped = tmp_path / "strict.yaml"
    shipped.write_text("version: 1\nlabels: {health: exclude}\n")
    flagged = audit(cli, out, "--profile", str(shipped))
    assert flagged.exit_code == 1
    assert [v["reason"] for v in flagged.json()["violations"]] == ["sensitive_content:health"]


def test_audit_reports_an_ended_contract_and_resolves_pseudonyms(
    cli: Cli, world: Path, tmp_path: Path
) -> None:
    out = tmp_path / "acme"
    ok(cli, *build_args(world, out, recipient="acme-ai"))
    clean = audit(cli, out, recipient="acme-ai")
    assert clean.exit_code == 0, clean.stdout  # pseudonyms resolve to e1 and e2
    ended = cli(
        "audit-dataset",
        str(out),
        "--use",
        "train_ai_system",
        "--recipient",
        "acme-ai",
        "--as-of",
        "2031-06-01",
        "--json",
    )
    assert ended.exit_code == 1
    assert "ended" in ended.json()["recipient_problem"]
    record(cli, "e2", "withdraw", "ai_training_messages_partners")
    later = cli(
        "audit-dataset",
        str(out),
        "--use",
        "train_ai_system",
        "--recipient",
        "acme-ai",
        "--as-of",
        "2024-12-01",
        "--json",
    )
    assert later.exit_code == 1
    assert later.json()["violations"] == [
        {"record_id": "m1", "reason": "withdrawn", "members": ["e2"]}
    ]


def test_audit_of_a_dataset_without_records(cli: Cli, world: Path, tmp_path: Path) -> None:
    record(cli, "e2", "withdraw", "ai_training_messages_partners")
    out = tmp_path / "empty"
    built = ok(cli, *build_args(world, out, "--json", recipient="acme-ai")).json()
    assert built["counts"]["included"] == 0
    r = audit(cli, out, recipient="acme-ai")
    assert r.exit_code == 0, r.stderr
    assert r.json()["records"] == 0 and r.json()["violations"] == []


# ----------------------------------------------------------------- historical disclosure


def test_a_disclosure_before_the_dataset_existed_needs_historical_evidence(
    cli: Cli, world: Path, tmp_path: Path
) -> None:
    acme = ok(cli, *build_args(world, tmp_path / "acme", "--json", recipient="acme-ai")).json()
    dataset = acme["dataset_id"]
    early = ["disclose", dataset, "--to", "acme-ai", "--at", "2024-11-02"]
    r = cli(*early)
    assert r.exit_code == 1 and "before dataset" in r.stderr and "--historical" in r.stderr
    assert cli(*early, "--historical").exit_code == 2  # no evidence
    assert cli(*early, "--evidence", "ticket 42").exit_code == 2  # evidence alone
    row = ok(cli, *early, "--historical", "--evidence", "delivery log ticket 42", "--json").json()
    assert row["source"] == "historical" and row["disclosed_at"].startswith("2024-11-02")
    assert row["evidence"] == {"note": "delivery log ticket 42"}
    now = ok(cli, "disclose", dataset, "--to", "acme-ai", "--json").json()
    assert now["source"] == "cli"
    ok(cli, "audit", "verify")
