"""Erasure erases (DESIGN.md "Erasure", docs/transparency.md): after an ``erase`` event the
member's name, email, phone and consent evidence are in no table and no file the system
controls — the SQLite file's bytes (with its write-ahead log) and every PostgreSQL row are
scanned — while the audit log, the receipts and the dataset proofs issued before still verify,
and remediation reaches every dataset, model and recipient holding their data."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import CliResult
from remediation_world import World, logistic, make_world

from consentgate import ingest, workspace
from consentgate.store import audit as store_audit
from consentgate.store import tables as t
from consentgate.store.engine import make_engine
from consentgate.tlog import audit

pytest.importorskip("sklearn")

Cli = Callable[..., CliResult]

# The erased member (e2) and a neighbour who stays (e3): distinctive strings, so that a scan
# finding one found it.
NAME, EMAIL, PHONE, IP = (
    "Quentin Zephyrine",
    "q.zephyrine@example.org",
    "+44 20 7946 0321",
    "198.51.100.231",
)
GONE = (NAME, EMAIL, PHONE, IP)
KEPT = ("Ottoline Brandywick", "o.brandywick@example.org", "+44 20 7946 0999")


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CONSENTGATE_KEY_DIR", str(tmp_path / "keys"))
    return tmp_path / "keys"


@pytest.fixture
def db(db_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def world(cli: Cli, examples: Path, tmp_path: Path, keys: Path) -> World:
    return make_world(cli, examples, tmp_path)


def ok(cli: Cli, *args: str) -> CliResult:
    r = cli(*args)
    assert r.exit_code == 0, (args, r.stdout, r.stderr)
    return r


def train(db: sa.Engine, world: World) -> workspace.Model:
    from consentgate.unlearn import TextFeatures

    return workspace.train_model(
        db,
        "topics",
        [world.posts],
        features=TextFeatures("text", n_features=2**10),
        label="topic",
        estimator_factory=logistic,
        artifact=world.root / "topics-v1",
        seed=7,
        deployed_to=["feed-ranker"],
    )


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def sqlite_bytes(db_url: str) -> bytes:
    """The database file and every file SQLite keeps beside it (WAL, shared memory, journal)."""
    main = Path(db_url.removeprefix("sqlite:///"))
    files = [main, *(main.with_name(main.name + s) for s in ("-wal", "-shm", "-journal"))]
    return b"".join(f.read_bytes() for f in files if f.exists())


def postgres_text(db: sa.Engine) -> str:
    """Every row of every table of the test's schema, as text."""
    out = []
    with db.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                out.append(f"{table}: {tuple(row)!r}")
    return "\n".join(out)


def stored_text(db: sa.Engine, db_url: str) -> str:
    if db.dialect.name == "sqlite":
        return sqlite_bytes(db_url).decode("utf-8", "replace")
    return postgres_text(db)


def test_erasure_removes_the_member_everywhere_and_every_proof_still_verifies(
    cli: Cli, world: World, db: sa.Engine, db_url: str, keys: Path, tmp_path: Path
) -> None:
    # The member's details, for the redactor, and a neighbour's.
    people = [
        {"member_id": "e2", "jurisdiction": "EU", "name": NAME, "email": EMAIL, "phone": PHONE},
        {
            "member_id": "e3",
            "jurisdiction": "EU",
            "name": KEPT[0],
            "email": KEPT[1],
            "phone": KEPT[2],
        },
    ]
    ok(cli, "members", "import", str(write_jsonl(tmp_path / "people.jsonl", people)))
    # A withdrawal whose evidence holds personal data; it opens orders naming e2.
    withdrawal = {
        "event_id": "ev-e2-withdraw",
        "member_id": "e2",
        "type": "withdraw",
        "setting": "ai_training_messages_partners",
        "effective_at": "2024-11-05T00:00:00Z",
        "evidence": {"ip": IP, "note": f"phoned from {PHONE}", "by": EMAIL},
    }
    ok(cli, "consent", "import", str(write_jsonl(tmp_path / "withdraw.jsonl", [withdrawal])))
    # Bad lines land in rejects files, with the member's details in them.
    stale = tmp_path / "stale.jsonl"
    write_jsonl(
        stale,
        [
            {"member_id": "e2", "jurisdiction": "??", "name": NAME, "email": EMAIL},
            {"member_id": "e3", "jurisdiction": "??", "name": KEPT[0]},
        ],
    )
    ok(cli, "members", "import", str(stale), "--on-error", "skip")
    bad_events = write_jsonl(
        tmp_path / "bad-events.jsonl",
        [{"member_id": "e2", "type": "maybe", "evidence": {"by": EMAIL}}],
    )
    ok(cli, "consent", "import", str(bad_events), "--on-error", "skip")
    rejects = [
        stale.with_name("stale.jsonl.rejects"),
        bad_events.with_name("bad-events.jsonl.rejects"),
    ]
    assert all(NAME in p.read_text() or EMAIL in p.read_text() for p in rejects)
    # A note an operator typed about them.
    sent = ok(cli, "notices", "send", "--json").json()
    assert sent
    ok(cli, "notices", "ack", sent[0]["notice_id"], "--note", f"{NAME} <{EMAIL}> confirmed")
    train(db, world)
    # What the member holds before the erasure: a receipt and a dataset proof.
    ok(cli, "audit", "checkpoint")
    receipt = tmp_path / "receipt.json"
    ok(cli, "receipt", "e2", "--event", "ev-e2-withdraw", "--out", str(receipt))
    proof = ok(
        cli, "proof", "e2", "--dataset", world.posts, "--out", str(tmp_path / "p.json"), "--json"
    ).json()
    assert proof["present"]
    public = tmp_path / "log.pub"
    public.write_text(ok(cli, "audit", "public-key").stdout)
    with db.connect() as conn:
        member_key = store_audit.Keyring(conn).member("e2")
        workspace_secret = store_audit.workspace_secret(conn)
    assert member_key != workspace_secret
    before = stored_text(db, db_url)
    assert all(s in before for s in (*GONE, *KEPT))  # the scans below can find them

    ok(cli, "consent", "record", "e2", "--type", "erase", "--effective-at", "2024-11-20T00:00:00Z")

    after = stored_text(db, db_url)
    assert [s for s in GONE if s in after] == []
    assert all(s in after for s in KEPT)  # the neighbour's details stay
    for path in rejects:
        text = path.read_text()
        assert not any(s in text for s in GONE) and '"e2"' not in text
    assert KEPT[0] in rejects[0].read_text()
    # The ledger still knows the member is erased, and nothing else about them.
    with db.connect() as conn:
        row = conn.execute(sa.select(t.members).where(t.members.c.member_id == "e2")).one()
        assert (row.name, row.email, row.phone) == (None, None, None)
        assert (
            conn.execute(sa.select(t.member_keys).where(t.member_keys.c.member_id == "e2")).first()
            is None
        )
        evidence = conn.execute(
            sa.select(t.consent_events.c.evidence).where(t.consent_events.c.member_id == "e2")
        ).scalars()
        assert all(e is None for e in evidence)
        entries = list(store_audit.iter_entries(conn))
    # Their earlier entries were made under their own key, now destroyed: the workspace
    # secret left in the database does not link them (the erasure's own entries are keyed
    # with it, and come last).
    old_ref = audit.member_ref(member_key, "e2")
    linkable = audit.member_ref(workspace_secret, "e2")
    erasure = [e for e, _ in entries if e.action == "member.erased"]
    assert erasure and all(
        e.idx > i.idx for e in erasure for i, _ in entries if i.action != "member.erased"
    )
    assert [
        e.key for e, _ in entries if e.entity == "members" and e.action != "member.erased"
    ].count(old_ref) == 2
    assert linkable not in {e.key for e, _ in entries if e.action != "member.erased"}
    assert any(e.key == old_ref and e.digest is None for e in erasure)
    # Every proof issued before still verifies, and the log is intact.
    assert ok(cli, "audit", "verify", "--checkpoint", str(receipt)).exit_code == 0
    assert ok(cli, "verify-receipt", str(receipt), "--public-key", str(public)).stdout.startswith(
        "VALID"
    )
    manifest = json.loads((world.posts_dir / "manifest.json").read_text())
    res = ok(
        cli,
        "verify-proof",
        str(tmp_path / "p.json"),
        "--root",
        manifest["members_root"],
        "--secret",
        proof["member_secret"],
        "--member",
        "e2",
        "--public-key",
        str(public),
        "--json",
    ).json()
    assert res["valid"] and res["present"]
    # Other members' proofs of the same dataset still match its committed root.
    other = ok(
        cli, "proof", "e3", "--dataset", world.posts, "--out", str(tmp_path / "p3.json"), "--json"
    ).json()
    assert other["members_root"] == manifest["members_root"]
    # A stale import does not bring the details back; nothing more is recorded for them.
    again = ok(
        cli, "members", "import", str(write_jsonl(tmp_path / "again.jsonl", people)), "--json"
    ).json()
    assert (again["erased"], again["added"], again["updated"]) == (1, 0, 0)
    # ... nor does its rejects file (the erased member's bad line is counted, not written).
    stale_again = ok(cli, "members", "import", str(stale), "--on-error", "skip", "--json").json()
    assert stale_again["rejected"] == 2
    assert not any(s in rejects[0].read_text() for s in GONE)
    assert KEPT[0] in rejects[0].read_text()
    late = cli("consent", "record", "e2", "--type", "withdraw", "--setting", "ai_training_posts")
    assert late.exit_code == 1 and "erased" in late.stderr
    assert [s for s in GONE if s in stored_text(db, db_url)] == []
    # Receipts: the erase event's can still be issued; the erased events' cannot.
    ok(cli, "receipt", "e2", "--out", str(tmp_path / "erase-receipt.json"))
    refused = cli("receipt", "e2", "--event", "ev-e2-withdraw", "--out", str(tmp_path / "x.json"))
    assert refused.exit_code == 1 and "erased" in refused.stderr
    assert ok(cli, "audit", "verify").exit_code == 0
    # The gate still knows them: a build after the erasure excludes their records as erased.
    built = ok(
        cli,
        "build",
        str(world.source),
        "--use",
        "train_ai_system",
        "--recipient",
        "first_party",
        "--as-of",
        "2024-12-01T00:00:00Z",
        "--out",
        str(tmp_path / "rebuilt"),
        "--json",
    ).json()
    assert built["counts"]["excluded"]["erased"] > 0


def test_erasure_opens_orders_for_every_dataset_model_and_recipient(
    cli: Cli, world: World, db: sa.Engine
) -> None:
    model = train(db, world)
    ok(cli, "consent", "record", "e2", "--type", "erase")
    got = ok(cli, "remediation", "--json").json()
    reached = {(o["kind"], o["target"]) for o in got if "e2" in o["member_ids"]}
    assert reached == {
        ("dataset", world.posts),
        ("dataset", world.acme),
        ("model", model.model_id),
        ("notice", "acme-ai"),
    }
    assert all(o["triggers"] == ["erase"] for o in got)
    assert ok(cli, "audit", "verify").exit_code == 0


def test_members_from_before_member_keys_still_verify_and_erase(
    db_url: str, tmp_path: Path
) -> None:
    """A workspace created at revision 0004 (no member keys): its members' entries, made with
    the workspace secret, keep verifying after the upgrade, and their erasure works."""
    from alembic import command

    from consentgate import workspace
    from consentgate.store import engine as store_engine

    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            command.upgrade(store_engine._alembic_config(conn), "0004")
            store_audit.ensure_secret(conn)
            secret = store_audit.workspace_secret(conn)
            at = datetime(2024, 1, 1, tzinfo=UTC)
            row = {
                "member_id": "old-1",
                "jurisdiction": "EU",
                "name": NAME,
                "email": EMAIL,
                "phone": PHONE,
                "created_at": at,
            }
            conn.execute(t.members.insert().values(**row))
            item = store_audit.keyed_item(secret, audit.MEMBER_IMPORTED, "members", row)
            store_audit.append(conn, [item], at=at)
        workspace.init_workspace(engine)  # upgrades to the newest revision
        assert workspace.verify_audit(engine).rows == 1
        event = {"member_id": "old-1", "type": "erase", "effective_at": "2024-02-01T00:00:00Z"}
        workspace.record_event(engine, event)
        assert workspace.verify_audit(engine).rows == 2
        assert [s for s in GONE if s in stored_text(engine, db_url)] == []
        with engine.connect() as conn:
            entries = [e for e, _ in store_audit.iter_entries(conn)]
        # Keyed with the workspace secret before, so one entry records the changed row.
        assert [(e.action, e.entity) for e in entries] == [
            ("member.imported", "members"),
            ("consent.recorded", "consent_events"),
            ("member.erased", "members"),
        ]
        assert entries[0].key == entries[2].key == audit.member_ref(secret, "old-1")
    finally:
        engine.dispose()


def test_erasure_rekeys_a_moved_members_jurisdiction_rows(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """A member's jurisdiction moves are their rows too: keyed with their key, and re-keyed
    by the erasure, so the entries that named them cannot be linked any more and the trail
    still verifies."""
    from consentgate import workspace

    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"member_id": "mover", "jurisdiction": "EU", "name": NAME}) + "\n")
    workspace.import_members(engine, ingest.read_members(path), source=str(path))
    moved_at = datetime(2024, 3, 1, tzinfo=UTC)
    assert workspace.move_member(engine, "mover", jurisdiction="US", effective_at=moved_at).moved
    with engine.connect() as conn:
        member_key = store_audit.Keyring(conn).member("mover")
        workspace_key = store_audit.workspace_secret(conn)
    assert member_key != workspace_key

    def move_keys() -> list[str]:
        with engine.connect() as conn:
            return [
                e.key
                for e, _ in store_audit.iter_entries(conn)
                if e.entity == "member_jurisdictions" and e.digest is not None
            ]

    before = move_keys()
    assert before == [f"{audit.member_ref(member_key, 'mover')}:1"]
    workspace.record_event(
        engine, {"member_id": "mover", "type": "erase", "effective_at": "2024-04-01T00:00:00Z"}
    )
    assert move_keys()[-1] == f"{audit.member_ref(workspace_key, 'mover')}:1"
    assert workspace.verify_audit(engine).rows >= 3
    with pytest.raises(Exception, match="erased"):
        workspace.move_member(engine, "mover", jurisdiction="EU", effective_at=moved_at)
