"""The ledger database through the workspace use cases, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from factories import day, policy_yaml, setting

from consentgate import ingest, workspace
from consentgate.errors import (
    AuditChainBroken,
    InvalidInput,
    NotFound,
    PolicyError,
    RecipientRefused,
)
from consentgate.files import write_atomic
from consentgate.store import tables as t

ACME = {
    "id": "acme",
    "name": "Acme",
    "uses": ["train_ai_system"],
    "contract_until": day(500).isoformat(),
}


def _publish(
    engine: sa.Engine, tmp_path: Path, version: str = "v1", **kw: object
) -> workspace.Published:
    path = tmp_path / f"{version}.yaml"
    path.write_text(policy_yaml(version, **kw))  # type: ignore[arg-type]
    return workspace.publish_policy(
        engine, path.read_text(encoding="utf-8"), name=str(path), notice_days=30
    )


def _members(
    engine: sa.Engine, tmp_path: Path, rows: list[dict[str, str]], *, at: float = 0
) -> workspace.ImportResult:
    path = tmp_path / "members.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return workspace.import_members(
        engine, ingest.read_members(path), source=str(path), now=lambda: day(at)
    )


def _events(
    engine: sa.Engine, tmp_path: Path, rows: list[dict[str, object]], **kw: object
) -> workspace.ImportResult:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return workspace.import_events(engine, ingest.read_event_lines(path), source=str(path), **kw)  # type: ignore[arg-type]


@pytest.fixture
def ledger(engine: sa.Engine, tmp_path: Path) -> sa.Engine:
    _publish(
        engine,
        tmp_path,
        settings=[
            setting(defaults={"US": "on", "*": "off"}),
            setting("msgs", categories=("user.content.private",), recipients=("acme",)),
        ],
        recipients=[ACME],
    )
    _members(
        engine,
        tmp_path,
        [
            {"member_id": f"m{i}", "jurisdiction": j}
            for i, j in enumerate(["US", "US-CA", "EU", "UK"])
        ],
    )
    return engine


def test_init_is_idempotent(engine: sa.Engine) -> None:
    from alembic.script import ScriptDirectory

    from consentgate.store.engine import MIGRATIONS

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert workspace.init_workspace(engine).revision == head
    assert workspace.init_workspace(engine).revision == head


def test_publish_is_immutable(engine: sa.Engine, tmp_path: Path) -> None:
    assert _publish(engine, tmp_path).created
    assert not _publish(engine, tmp_path).created  # identical: no-op
    with pytest.raises(PolicyError, match="immutability"):
        _publish(engine, tmp_path, settings=[setting(defaults={"*": "on"})])
    assert [p.version for p in workspace.list_policies(engine)] == ["v1"]


def test_refused_policy_stores_nothing(engine: sa.Engine, tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="privacy-by-default"):
        _publish(
            engine,
            tmp_path,
            settings=[setting(categories=("user.content.private",), defaults={"*": "on"})],
        )
    assert workspace.list_policies(engine) == []
    assert workspace.verify_audit(engine).entries == 0


def test_member_import_refuses_whole_file(engine: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("member_id,jurisdiction,name\nm1,US,Ann\n,EU,\nm3,??,\n")
    with pytest.raises(InvalidInput) as err:
        workspace.import_members(engine, ingest.read_members(path), source=str(path))
    assert f"{path}:3: member_id" in str(err.value) and f"{path}:4: jurisdiction" in str(err.value)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.members)).scalar_one() == 0


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_member_import_formats(engine: sa.Engine, tmp_path: Path, fmt: str) -> None:
    rows = [
        {
            "member_id": "a",
            "jurisdiction": "US",
            "name": "Ann Lee",
            "email": "ann@example.com",
            "phone": None,
        }
    ]
    path = tmp_path / f"m.{fmt}"
    if fmt == "csv":
        path.write_text("member_id,jurisdiction,name,email,phone\na,US,Ann Lee,ann@example.com,\n")
    elif fmt == "jsonl":
        path.write_text(json.dumps(rows[0]) + "\n")
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    assert workspace.import_members(engine, ingest.read_members(path), source=str(path)).added == 1
    assert (
        workspace.import_members(engine, ingest.read_members(path), source=str(path)).unchanged == 1
    )


def test_event_import_refused_whole_then_skip(ledger: sa.Engine, tmp_path: Path) -> None:
    good = {
        "member_id": "m2",
        "type": "grant",
        "setting": "ai_posts",
        "policy_version": "v1",
        "effective_at": day(50).isoformat(),
    }
    bad = [
        {**good, "effective_at": "2024-02-20T00:00:00"},
        {**good, "member_id": "ghost"},
        {**good, "setting": "nope"},
        {**good, "policy_version": "v9"},
        {**good, "type": "maybe"},
    ]
    with pytest.raises(InvalidInput) as err:
        _events(ledger, tmp_path, [good, *bad])
    text = str(err.value)
    for line, word in zip(
        range(2, 7),
        [
            "no timezone",
            "unknown member",
            "setting: not a setting of the policy version the grant cites",
            "policy_version: not a published policy version",
            "type: expected",
        ],
        strict=True,
    ):
        assert f"events.jsonl:{line}: " in text and word in text
    for value in ("maybe", "nope", "v9"):  # a refusal names the field, never echoes the value
        assert value not in text
    assert workspace.member_events_for(ledger, "m2") == []
    with pytest.raises(InvalidInput, match="`on_error` skip needs `rejects`"):
        _events(ledger, tmp_path, [good, *bad], on_error="skip")  # the bad lines must go somewhere
    assert workspace.member_events_for(ledger, "m2") == []
    rejects = tmp_path / "events.jsonl.rejects"
    result = _events(ledger, tmp_path, [good, *bad], on_error="skip", rejects=rejects)
    assert (result.added, result.rejected) == (1, 5)
    assert result.rejects_path == rejects and len(rejects.read_text().splitlines()) == 5
    assert _events(ledger, tmp_path, [good]).unchanged == 1  # idempotent by derived event_id


def test_grant_before_its_policy_was_published_is_refused(
    ledger: sa.Engine, tmp_path: Path
) -> None:
    # v1 is published at day 0: a grant citing it cannot take effect before the member
    # could have seen it.
    good = {
        "member_id": "m2",
        "type": "grant",
        "setting": "ai_posts",
        "policy_version": "v1",
        "effective_at": day(0).isoformat(),
    }
    early = {**good, "effective_at": day(-1).isoformat()}
    deny = {
        "member_id": "m2",
        "type": "deny",
        "setting": "ai_posts",
        "effective_at": day(-1).isoformat(),
    }
    with pytest.raises(InvalidInput) as err:
        _events(ledger, tmp_path, [good, deny, early])
    problems = str(err.value)
    assert "events.jsonl:3: effective_at:" in problems and "published" in problems
    assert "events.jsonl:1" not in problems and "events.jsonl:2" not in problems
    assert workspace.member_events_for(ledger, "m2") == []
    with pytest.raises(InvalidInput, match=r"effective_at: .*policy version it cites.*published"):
        workspace.record_event(ledger, early)
    assert workspace.member_events_for(ledger, "m2") == []


def test_event_id_conflict_is_refused(ledger: sa.Engine, tmp_path: Path) -> None:
    e = {
        "event_id": "x1",
        "member_id": "m2",
        "type": "deny",
        "setting": "ai_posts",
        "effective_at": day(50).isoformat(),
    }
    _events(ledger, tmp_path, [e])
    with pytest.raises(InvalidInput, match="already recorded with different content"):
        _events(ledger, tmp_path, [{**e, "type": "withdraw"}])


def test_status_and_bitemporal_queries(ledger: sa.Engine, tmp_path: Path) -> None:
    assert workspace.consent_status(ledger, "m1", "ai_posts", at=day(60)).state == "default_on"
    workspace.record_event(
        ledger,
        {
            "member_id": "m1",
            "type": "withdraw",
            "setting": "ai_posts",
            "effective_at": day(45).isoformat(),
        },
        recorded_at=day(70),
    )
    assert (
        workspace.consent_status(ledger, "m1", "ai_posts", at=day(60), known_at=day(65)).state
        == "default_on"
    )
    status = workspace.consent_status(ledger, "m1", "ai_posts", at=day(60), known_at=day(75))
    assert status.state == "withdrawn" and status.event_id
    with pytest.raises(NotFound):
        workspace.consent_status(ledger, "ghost", "ai_posts")
    with pytest.raises(NotFound):
        workspace.consent_status(ledger, "m1", "ghost")


def test_snapshot_set_based_and_recorded(ledger: sa.Engine, tmp_path: Path) -> None:
    _events(
        ledger,
        tmp_path,
        [
            {
                "member_id": "m2",
                "type": "grant",
                "setting": "ai_posts",
                "policy_version": "v1",
                "effective_at": day(50).isoformat(),
                "covers_from": day(0).isoformat(),
            },
            {"member_id": "m0", "type": "erase", "effective_at": day(55).isoformat()},
        ],
    )
    snap = workspace.build_snapshot(
        ledger, use="train_ai_system", recipient="first_party", as_of=day(60)
    )
    rows = {(r["member_id"], r["category"]): r["covers_from"] for r in snap.grants.to_pylist()}
    assert rows == {("m1", "user.content.public"): day(40), ("m2", "user.content.public"): day(0)}
    sha = write_atomic(tmp_path / "s.parquet", snap.grants_parquet_bytes())
    assert sha == snap.sha256
    assert pq.read_table(tmp_path / "s.parquet").num_rows == 2
    again = workspace.build_snapshot(
        ledger, use="train_ai_system", recipient="first_party", as_of=day(60)
    )
    assert again.sha256 == sha  # deterministic


def test_snapshot_refuses_unnamed_or_expired_recipient(ledger: sa.Engine) -> None:
    with pytest.raises(RecipientRefused, match="not named"):
        workspace.build_snapshot(ledger, use="train_ai_system", recipient="other", as_of=day(60))
    with pytest.raises(RecipientRefused, match="ended"):
        workspace.build_snapshot(ledger, use="train_ai_system", recipient="acme", as_of=day(600))
    with pytest.raises(RecipientRefused, match="does not allow"):
        workspace.build_snapshot(ledger, use="marketing", recipient="acme", as_of=day(60))


# --------------------------------------------------------------------------- jurisdictions


def test_reimport_with_another_jurisdiction_records_a_move(
    ledger: sa.Engine, tmp_path: Path
) -> None:
    # m2 is EU (imported at day 0); v1 defaults ai_posts on in the US from day 40.
    status = workspace.consent_status(ledger, "m2", "ai_posts", at=day(60))
    assert (status.jurisdiction, status.state) == ("EU", "default_off")
    result = _members(ledger, tmp_path, [{"member_id": "m2", "jurisdiction": "US"}], at=100)
    assert (result.added, result.updated, result.moved, result.unchanged) == (0, 0, 1, 0)
    # The move takes effect at the import's time: EU-era data stays out of the default.
    now = workspace.consent_status(ledger, "m2", "ai_posts", at=day(150))
    assert (now.jurisdiction, now.state, now.covers_from) == (
        "US",
        "default_on",
        day(100),
    )
    assert workspace.consent_status(ledger, "m2", "ai_posts", at=day(60)).state == ("default_off")
    # As known before the re-import, m2 was still EU: the old state, not the overwritten one.
    old = workspace.consent_status(ledger, "m2", "ai_posts", at=day(150), known_at=day(99))
    assert (old.jurisdiction, old.state) == ("EU", "default_off")
    snap = workspace.build_snapshot(
        ledger, use="train_ai_system", recipient="first_party", as_of=day(150)
    )
    grants = {r["member_id"]: r["covers_from"] for r in snap.grants.to_pylist()}
    assert grants["m2"] == day(100) and grants["m0"] == day(40)
    past = workspace.build_snapshot(
        ledger, use="train_ai_system", recipient="first_party", as_of=day(150), known_at=day(99)
    )
    assert "m2" not in {r["member_id"] for r in past.grants.to_pylist()}
    # The first jurisdiction is kept, never overwritten; the move is its own audited row.
    with ledger.connect() as conn:
        first = conn.execute(
            sa.select(t.members.c.jurisdiction).where(t.members.c.member_id == "m2")
        ).scalar_one()
        moves = conn.execute(sa.select(t.member_jurisdictions)).all()
    assert first == "EU" and [(m.jurisdiction, m.kind) for m in moves] == [("US", "move")]
    assert workspace.verify_audit(ledger).rows == workspace.verify_audit(ledger).entries


def test_reimport_move_takes_the_file_effective_time(ledger: sa.Engine, tmp_path: Path) -> None:
    rows = [
        {"member_id": "m2", "jurisdiction": "US", "jurisdiction_effective_at": day(70).isoformat()}
    ]
    assert _members(ledger, tmp_path, rows, at=100).moved == 1
    status = workspace.consent_status(ledger, "m2", "ai_posts", at=day(150))
    assert status.covers_from == day(70)
    assert _members(ledger, tmp_path, rows, at=110).unchanged == 1  # already there then


def test_a_new_member_with_a_dated_jurisdiction_has_none_before(
    ledger: sa.Engine, tmp_path: Path
) -> None:
    rows = [
        {"member_id": "n1", "jurisdiction": "US", "jurisdiction_effective_at": day(70).isoformat()}
    ]
    assert _members(ledger, tmp_path, rows, at=100).added == 1
    assert workspace.consent_status(ledger, "n1", "ai_posts", at=day(60)).state == ("default_off")
    assert workspace.consent_status(ledger, "n1", "ai_posts", at=day(150)).covers_from == day(70)
    snap = workspace.build_snapshot(
        ledger, use="train_ai_system", recipient="first_party", as_of=day(150)
    )
    assert {r["member_id"]: r["covers_from"] for r in snap.grants.to_pylist()}["n1"] == day(70)
    assert workspace.verify_audit(ledger).rows == workspace.verify_audit(ledger).entries


def test_bad_jurisdiction_effective_at_is_refused_naming_line_and_field(
    ledger: sa.Engine, tmp_path: Path
) -> None:
    path = tmp_path / "m.csv"
    path.write_text("member_id,jurisdiction,jurisdiction_effective_at\nm2,US,2024-05-01\n")
    with pytest.raises(InvalidInput, match=rf"{path}:2: jurisdiction_effective_at"):
        workspace.import_members(ledger, ingest.read_members(path), source=str(path))
    assert workspace.consent_status(ledger, "m2", "ai_posts").jurisdiction == "EU"


# --------------------------------------------------------------------------- tamper evidence

TAMPER = [
    ("edit member", "UPDATE members SET jurisdiction = 'EU' WHERE member_id = 'm1'"),
    ("edit move", "UPDATE member_jurisdictions SET jurisdiction = 'US' WHERE member_id = 'm2'"),
    ("back-date move", "UPDATE member_jurisdictions SET effective_at = effective_at - 1"),
    ("delete move", "DELETE FROM member_jurisdictions WHERE member_id = 'm2'"),
    (
        "insert move",
        "INSERT INTO member_jurisdictions (seq, member_id, jurisdiction, effective_at, "
        "recorded_at, kind, source) VALUES (1000, 'm3', 'US', 0, 0, 'move', 'cli')",
    ),
    ("reorder moves", "UPDATE member_jurisdictions SET seq = seq + 100"),
    ("delete member", "DELETE FROM members WHERE member_id = 'm3'"),
    (
        "insert member",
        "INSERT INTO members (member_id, jurisdiction, created_at) VALUES ('sneaky', 'US', 0)",
    ),
    ("edit event", "UPDATE consent_events SET type = 'grant' WHERE type = 'deny'"),
    ("reorder events", "UPDATE consent_events SET seq = seq + 100"),
    ("delete event", "DELETE FROM consent_events WHERE type = 'deny'"),
    ("edit policy", "UPDATE policy_versions SET effective_from = effective_from - 1"),
    ("edit snapshot", "UPDATE snapshots SET rows = rows + 1"),
    ("edit audit entry", "UPDATE audit_log SET action = 'x' WHERE idx = 2"),
    ("delete audit entry", "DELETE FROM audit_log WHERE idx = 3"),
    (
        "insert audit entry",
        "INSERT INTO audit_log SELECT idx + 1000, action, entity, entity_key, digest, recorded_at, prev_hash, entry_hash FROM audit_log WHERE idx = 1",
    ),
    (
        "reorder audit entries",
        "UPDATE audit_log SET idx = CASE WHEN idx = 1 THEN 2 WHEN idx = 2 THEN 1 ELSE idx END",
    ),
]


@pytest.mark.parametrize(("what", "sql"), TAMPER, ids=[w for w, _ in TAMPER])
def test_audit_detects_tampering(ledger: sa.Engine, tmp_path: Path, what: str, sql: str) -> None:
    _events(
        ledger,
        tmp_path,
        [
            {
                "member_id": "m2",
                "type": "grant",
                "setting": "ai_posts",
                "policy_version": "v1",
                "effective_at": day(50).isoformat(),
            },
            {
                "member_id": "m1",
                "type": "deny",
                "setting": "ai_posts",
                "effective_at": day(51).isoformat(),
            },
        ],
    )
    workspace.move_member(
        ledger, "m2", jurisdiction="UK", effective_at=day(45), now=lambda: day(46)
    )
    workspace.build_snapshot(ledger, use="train_ai_system", recipient="first_party", as_of=day(60))
    report = workspace.verify_audit(ledger)
    assert report.entries == 1 + 4 + 2 + 1 + 1 and report.rows == report.entries
    with ledger.begin() as conn:
        if "reorder audit" in what:
            conn.execute(sa.text("UPDATE audit_log SET idx = -1 WHERE idx = 1"))
            conn.execute(sa.text("UPDATE audit_log SET idx = 1 WHERE idx = 2"))
            conn.execute(sa.text("UPDATE audit_log SET idx = 2 WHERE idx = -1"))
        else:
            conn.execute(sa.text(sql))
    with pytest.raises(AuditChainBroken) as err:
        workspace.verify_audit(ledger)
    assert "entry" in str(err.value) or "row" in str(err.value)


def test_entry_bytes_are_canonical_json() -> None:
    from consentgate.tlog.audit import AuditEntry, canonical_json

    e = AuditEntry(3, "consent.recorded", "consent_events", 'ev-"ü"\n', None, day(1.5), "ab" * 32)
    assert e.entry_bytes() == canonical_json(e.as_dict())


def test_upgrade_from_0004_keeps_members_and_the_audit_trail(db_url: str, tmp_path: Path) -> None:
    from alembic import command

    from consentgate.store import audit as store_audit
    from consentgate.store import engine as store_engine

    eng = store_engine.make_engine(db_url)
    with eng.begin() as conn:
        command.upgrade(store_engine._alembic_config(conn), "0004")
        store_audit.ensure_secret(conn)
        # a member written as revision 0004 wrote it: the row and its workspace-keyed entry
        row = {"member_id": "old1", "jurisdiction": "US", "created_at": day(0)}
        conn.execute(t.members.insert().values(**row))
        secret = store_audit.workspace_secret(conn)
        item = store_audit.keyed_item(secret, "member.imported", "members", row)
        store_audit.append(conn, [item], at=day(0))
    assert workspace.init_workspace(eng).revision == store_engine.HEAD_REVISION  # the newest
    assert workspace.verify_audit(eng).rows == 1
    _publish(eng, tmp_path, settings=[setting(defaults={"US": "on", "*": "off"})])
    status = workspace.consent_status(eng, "old1", "ai_posts", at=day(60))
    assert (status.jurisdiction, status.state) == ("US", "default_on")
    workspace.move_member(eng, "old1", jurisdiction="EU", effective_at=day(50), now=lambda: day(51))
    assert workspace.consent_status(eng, "old1", "ai_posts", at=day(60)).state == "default_off"
    assert workspace.verify_audit(eng).rows == 3
    eng.dispose()


def test_head_revision_is_the_migrations_head() -> None:
    from alembic.script import ScriptDirectory

    from consentgate.store.engine import HEAD_REVISION, MIGRATIONS

    assert ScriptDirectory(str(MIGRATIONS)).get_current_head() == HEAD_REVISION


def test_imports_take_values_and_name_their_source_in_problems(engine: sa.Engine) -> None:
    """Members as rows, an Arrow table or JSONL text; events as mappings or text: each bad
    row is located as SOURCE:ROW, and a refused import stores nothing."""
    rows = [{"member_id": "a", "jurisdiction": "US"}, {"member_id": "b", "jurisdiction": "??"}]
    with pytest.raises(InvalidInput) as err:
        workspace.import_members(engine, rows, source="upload")
    assert err.value.problems == ["upload:2: jurisdiction: expected a code like US, US-CA, EU"]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.members)).scalar_one() == 0
    assert workspace.import_members(engine, pa.Table.from_pylist(rows[:1])).added == 1
    text = '{"member_id": "b", "jurisdiction": "EU"}\n\n{"member_id": "c"}\n'
    with pytest.raises(InvalidInput) as err:
        workspace.import_members(engine, text, source="members.jsonl")
    assert [p.split(": ")[0] for p in err.value.problems] == ["members.jsonl:3"]
    with pytest.raises(InvalidInput, match="unknown column"):
        workspace.import_members(engine, pa.table({"member_id": ["d"], "shoe_size": [9]}))
    assert workspace.import_members(engine, text.splitlines()[0]).added == 1
    with pytest.raises(InvalidInput) as err:
        workspace.import_events(engine, [{"member_id": "a", "type": "grant"}], source="api")
    assert err.value.problems[0].startswith("api:1: ")
