"""The audit trail as a transparency log, on SQLite and PostgreSQL: signed checkpoints,
verification against them, consent receipts, and every kind of tampering."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from factories import day, policy_yaml, setting

from consentgate import ingest, workspace
from consentgate.errors import AuditChainBroken, NotFound, UsageError
from consentgate.store import audit as store_audit
from consentgate.store import tables as t
from consentgate.store import transparency as store_tlog
from consentgate.tlog import audit
from consentgate.tlog.checkpoint import generate_signing_key, load_signer, sign_checkpoint
from consentgate.tlog.merkle import MerkleTree, leaf_hash, root_from_leaf_hashes, verify_consistency
from consentgate.tlog.receipts import Receipt, verify_receipt

MEMBERS = ["m0", "m1", "m2", "m3"]


def _events(engine: sa.Engine, tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    workspace.import_events(engine, ingest.read_event_lines(path), source=str(path))


def _grant(member: str, n: float) -> dict[str, Any]:
    return {
        "member_id": member,
        "type": "grant",
        "setting": "ai_posts",
        "policy_version": "v1",
        "effective_at": day(n).isoformat(),
    }


def _event(member: str, kind: str, n: float) -> dict[str, Any]:
    """A deny, withdraw or erase."""
    setting_id = {} if kind == "erase" else {"setting": "ai_posts"}
    return {"member_id": member, "type": kind, **setting_id, "effective_at": day(n).isoformat()}


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "log.key"


@pytest.fixture
def log(engine: sa.Engine, tmp_path: Path, key_file: Path) -> sa.Engine:
    """A workspace with a signing key, a policy, four members and four consent events:
    nine audit entries (0: policy, 1-4: members, 5-8: events)."""
    workspace.ensure_signing_key(engine, key_file)
    policy = tmp_path / "v1.yaml"
    policy.write_text(policy_yaml("v1", settings=[setting(defaults={"*": "off"})]))
    workspace.publish_policy(
        engine, policy.read_text(encoding="utf-8"), name=str(policy), notice_days=30
    )
    members = tmp_path / "members.jsonl"
    members.write_text(
        "".join(json.dumps({"member_id": m, "jurisdiction": "EU"}) + "\n" for m in MEMBERS)
    )
    workspace.import_members(engine, ingest.read_members(members), source=str(members))
    _events(engine, tmp_path, [_grant(m, 50 + i) for i, m in enumerate(MEMBERS)])
    return engine


def _verify(engine: sa.Engine, key_file: Path, **kw: Any) -> store_audit.VerifyReport:
    return workspace.verify_log(engine, key_file=key_file, **kw)


def _entries(engine: sa.Engine) -> list[audit.AuditEntry]:
    with engine.connect() as conn:
        return [e for e, _ in store_audit.iter_entries(conn)]


def _log_rows(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(sa.select(t.audit_log).order_by(t.audit_log.c.idx))
        ]


def _rewrite(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Replace the whole log with ``rows`` (as a database administrator could)."""
    conn.execute(t.audit_log.delete())
    if rows:
        conn.execute(t.audit_log.insert(), rows)


def _rechain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recompute idx, prev and entry hashes so the hash chain is valid again: what an
    attacker with the database (the chain has no secret) does to hide a change."""
    out, prev = [], audit.GENESIS
    for i, r in enumerate(rows):
        e = audit.AuditEntry(
            i, r["action"], r["entity"], r["entity_key"], r["digest"], r["recorded_at"], prev
        )
        prev = e.entry_hash
        out.append({**r, "idx": i, "prev_hash": e.prev_hash, "entry_hash": prev})
    return out


# --------------------------------------------------------------------------- checkpoints


def test_the_root_is_the_rfc_9162_root_of_the_entry_bytes(log: sa.Engine, key_file: Path) -> None:
    report = _verify(log, key_file)
    leaves = [leaf_hash(e.entry_bytes()) for e in _entries(log)]
    assert report.entries == len(leaves) == 9
    assert report.root == root_from_leaf_hashes(leaves).hex()
    assert report.log is not None and report.log.checkpoints == 0 and report.log.uncovered == 9


def test_checkpoints_are_signed_stored_and_consistent(
    log: sa.Engine, tmp_path: Path, key_file: Path
) -> None:
    first = workspace.create_checkpoint(log, key_file)
    assert first.created and first.previous is None and first.checkpoint.number == 1
    assert first.checkpoint.size == 9
    again = workspace.create_checkpoint(log, key_file)
    assert not again.created and again.checkpoint == first.checkpoint
    _events(log, tmp_path, [_event("m0", "withdraw", 70)])
    second = workspace.create_checkpoint(log, key_file)
    assert second.created and second.checkpoint.number == 2 and second.checkpoint.size == 10
    assert second.previous == first.checkpoint
    tree = MerkleTree(leaf_hash(e.entry_bytes()) for e in _entries(log))
    assert tree.root(9) == first.checkpoint.root and tree.root() == second.checkpoint.root
    proof = tree.consistency_proof(9)
    assert verify_consistency(9, 10, first.checkpoint.root, second.checkpoint.root, proof)
    signer = load_signer(key_file)
    with log.connect() as conn:
        origin = store_tlog.origin(conn)
    assert origin is not None and origin == signer.name  # the key is named after the log
    assert second.checkpoint.note.startswith(f"{origin}\n10\n")
    report = _verify(log, key_file)
    assert report.log is not None
    assert (report.log.checkpoints, report.log.signatures_checked, report.log.uncovered) == (
        2,
        True,
        0,
    )
    assert report.log.latest == second.checkpoint


def test_the_signing_key_is_created_once_outside_the_database(
    engine: sa.Engine, key_file: Path
) -> None:
    public = workspace.ensure_signing_key(engine, key_file)
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (
        workspace.ensure_signing_key(engine, key_file)
        == public
        == workspace.log_public_key(engine, key_file)
    )
    with engine.connect() as conn:
        stored = " ".join(str(v) for v in conn.execute(sa.select(t.meta.c.value)).scalars())
    # The seed is the key file's fifth field (base64 holds "+" too: the text after the last
    # "+" is often a short fragment, which a hex secret in the database could contain).
    encoded = key_file.read_text().strip().split("+", 4)[4]
    seed = base64.b64decode(encoded)[1:]
    assert len(seed) == 32 and encoded not in stored and seed.hex() not in stored


def test_checkpoints_need_a_verifier_key(log: sa.Engine, tmp_path: Path, key_file: Path) -> None:
    workspace.create_checkpoint(log, key_file)
    with pytest.raises(UsageError, match="no verifier key"):
        _verify(log, tmp_path / "absent.key")
    public = workspace.log_public_key(log, key_file)
    assert _verify(log, tmp_path / "absent.key", public_key=public).log is not None
    with pytest.raises(NotFound):
        workspace.create_checkpoint(log, tmp_path / "absent.key")


# --------------------------------------------------------------------------- tampering


def _each_tamper(rows: list[dict[str, Any]]) -> Iterator[tuple[str, int, list[dict[str, Any]]]]:
    """(what, expected index, tampered log) for every row of ``rows``."""
    n = len(rows)
    for i in range(n):
        yield "edit", i, [{**r, "action": "x.forged"} if r["idx"] == i else r for r in rows]
        yield "delete", i, [r for r in rows if r["idx"] != i]
        # Insert a row at i (later rows shift up): a copy of row i with another action.
        forged = {**rows[i], "action": "x.forged"}
        yield "insert", i, [*rows[:i], forged, *({**r, "idx": r["idx"] + 1} for r in rows[i:])]
        if i + 1 < n:
            swapped = [dict(r) for r in rows]
            swapped[i]["idx"], swapped[i + 1]["idx"] = i + 1, i
            yield "reorder", i, swapped


def test_every_edit_delete_insert_or_reorder_names_its_index(
    log: sa.Engine, key_file: Path
) -> None:
    workspace.create_checkpoint(log, key_file)
    rows = _log_rows(log)
    seen = set()
    for what, index, tampered in _each_tamper(rows):
        with log.begin() as conn:
            _rewrite(conn, tampered)
        with pytest.raises(AuditChainBroken) as err:
            _verify(log, key_file)
        assert err.value.index == index, (what, index, str(err.value))
        assert str(index) in str(err.value)
        seen.add(what)
        with log.begin() as conn:
            _rewrite(conn, rows)
    assert seen == {"edit", "delete", "insert", "reorder"}
    assert _verify(log, key_file).entries == len(rows)


def test_a_rechained_rewrite_behind_a_checkpoint_fails(
    log: sa.Engine, tmp_path: Path, key_file: Path
) -> None:
    first = workspace.create_checkpoint(log, key_file).checkpoint  # size 9
    _events(log, tmp_path, [_event(m, "deny", 80) for m in MEMBERS])
    second = workspace.create_checkpoint(log, key_file).checkpoint  # size 13
    rows = _log_rows(log)
    # Entry 10 gets another time and the chain is recomputed: the chain and every audited
    # row still verify; only the signed checkpoints can tell.
    forked = _rechain([{**r, "recorded_at": day(99)} if r["idx"] == 10 else r for r in rows])
    with log.begin() as conn:
        _rewrite(conn, forked)
    with pytest.raises(AuditChainBroken) as err:
        _verify(log, key_file)
    assert err.value.index == first.size and "checkpoint #2" in str(err.value)
    assert "rewritten or forked" in str(err.value)
    with pytest.raises(AuditChainBroken):
        workspace.create_checkpoint(log, key_file)  # never signs a forked log
    with pytest.raises(AuditChainBroken):
        workspace.issue_receipt(log, key_file, "m0")
    # Behind the first checkpoint: it names entries from 0.
    with log.begin() as conn:
        _rewrite(
            conn, _rechain([{**r, "recorded_at": day(99)} if r["idx"] == 3 else r for r in rows])
        )
    with pytest.raises(AuditChainBroken) as err:
        _verify(log, key_file)
    assert err.value.index == 0 and "checkpoint #1" in str(err.value)
    assert second.size == 13


def test_a_fork_signed_with_the_stolen_key_still_fails(log: sa.Engine, key_file: Path) -> None:
    workspace.create_checkpoint(log, key_file)
    rows = _log_rows(log)
    with log.begin() as conn:
        _rewrite(
            conn, _rechain([{**r, "recorded_at": day(99)} if r["idx"] == 2 else r for r in rows])
        )
        tree = store_audit.log_tree(conn)
        origin = store_tlog.origin(conn)
        assert origin is not None
        note = sign_checkpoint(
            load_signer(key_file), origin=origin, size=len(tree), root=tree.root()
        )
        store_tlog.insert_checkpoint(conn, size=len(tree), root=tree.root(), note=note, at=day(100))
    with pytest.raises(AuditChainBroken, match="checkpoint #1"):
        _verify(log, key_file)


def test_a_rollback_behind_a_checkpoint_fails(
    log: sa.Engine, tmp_path: Path, key_file: Path
) -> None:
    workspace.create_checkpoint(log, key_file)
    _events(log, tmp_path, [_event("m1", "withdraw", 90)])
    workspace.create_checkpoint(log, key_file)  # size 10
    receipt = workspace.issue_receipt(log, key_file, "m1")
    (tmp_path / "receipt.json").write_text(receipt.to_json())
    # Roll back the last event: its row and its audit entry go. Chain and rows verify.
    with log.begin() as conn:
        conn.execute(
            t.consent_events.delete().where(t.consent_events.c.event_id == receipt.entry.key)
        )
        conn.execute(t.audit_log.delete().where(t.audit_log.c.idx == 9))
    with pytest.raises(AuditChainBroken) as err:
        _verify(log, key_file)
    assert err.value.index == 9 and "rolled back" in str(err.value) and "#2" in str(err.value)
    # Even with the newer checkpoint deleted too, a member's receipt keeps the evidence.
    with log.begin() as conn:
        conn.execute(t.log_checkpoints.delete().where(t.log_checkpoints.c.number == 2))
    assert _verify(log, key_file).entries == 9
    with pytest.raises(AuditChainBroken) as err:
        _verify(log, key_file, checkpoints=[("receipt.json", receipt.checkpoint)])
    assert err.value.index == 9 and "checkpoint receipt.json" in str(err.value)
    # A rollback re-signed with the key: the earlier checkpoint is larger than the latest.
    with log.begin() as conn:
        tree = store_audit.log_tree(conn)
        origin = store_tlog.origin(conn)
        assert origin is not None
        note = sign_checkpoint(
            load_signer(key_file), origin=origin, size=len(tree), root=tree.root()
        )
        store_tlog.insert_checkpoint(conn, size=len(tree), root=tree.root(), note=note, at=day(100))
    with pytest.raises(AuditChainBroken, match="rolled back"):
        _verify(log, key_file, checkpoints=[("receipt.json", receipt.checkpoint)])


def _replace_note(engine: sa.Engine, number: int, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(
            t.log_checkpoints.update().where(t.log_checkpoints.c.number == number).values(**values)
        )


def test_a_checkpoint_signed_with_another_key_fails(
    log: sa.Engine, tmp_path: Path, key_file: Path
) -> None:
    cp = workspace.create_checkpoint(log, key_file).checkpoint
    other_key = tmp_path / "other.key"
    with log.connect() as conn:
        origin = store_tlog.origin(conn)
    assert origin is not None
    generate_signing_key(other_key, name=origin)  # same name, another key
    forged = sign_checkpoint(load_signer(other_key), origin=origin, size=cp.size, root=cp.root)
    _replace_note(log, 1, note=forged)
    with pytest.raises(AuditChainBroken, match=r"checkpoint #1: .*not signed by key"):
        _verify(log, key_file)
    with pytest.raises(AuditChainBroken):
        workspace.create_checkpoint(log, key_file)
    _replace_note(log, 1, note=cp.note)
    assert _verify(log, key_file).log is not None
    # Verifying with another public key fails too: it is not one of the ledger's keys.
    with pytest.raises(AuditChainBroken, match="is not one of this ledger's log keys"):
        _verify(log, key_file, public_key=load_signer(other_key).verifier_key)


def test_a_checkpoint_for_another_log_or_with_altered_columns_fails(
    log: sa.Engine, key_file: Path
) -> None:
    cp = workspace.create_checkpoint(log, key_file).checkpoint
    foreign = sign_checkpoint(
        load_signer(key_file), origin="consentgate/other", size=cp.size, root=cp.root
    )
    _replace_note(log, 1, note=foreign)
    with pytest.raises(AuditChainBroken, match="origin"):
        _verify(log, key_file)
    _replace_note(log, 1, note=cp.note, tree_size=cp.size - 1)
    with pytest.raises(AuditChainBroken, match="differs from its signed note"):
        _verify(log, key_file)
    _replace_note(log, 1, tree_size=cp.size)
    with log.begin() as conn:
        conn.execute(t.meta.update().where(t.meta.c.key == "workspace_id").values(value="changed"))
    with pytest.raises(AuditChainBroken, match="origin"):
        _verify(log, key_file)


# --------------------------------------------------------------------------- receipts


def test_receipts_are_proven_against_a_covering_checkpoint(
    log: sa.Engine, tmp_path: Path, key_file: Path
) -> None:
    verifier = load_signer(key_file).verifier
    r1 = workspace.issue_receipt(log, key_file, "m2")
    check = verify_receipt(r1.to_json(), verifier)
    assert check.leaf_index == r1.entry.idx == 7 and check.checkpoint.size == 9
    with log.connect() as conn:
        assert [c.number for c in store_tlog.checkpoints(conn)] == [1]  # signed for it
    older = workspace.issue_receipt(log, key_file, "m0")
    assert verify_receipt(older.to_json(), verifier).checkpoint.size == 9
    with log.connect() as conn:
        assert len(store_tlog.checkpoints(conn)) == 1  # the latest covered it
    _events(log, tmp_path, [_event("m0", "withdraw", 95)])
    newest = workspace.issue_receipt(log, key_file, "m0")
    assert (
        newest.entry.idx == 9 and verify_receipt(newest.to_json(), verifier).checkpoint.size == 10
    )
    by_id = workspace.issue_receipt(log, key_file, "m0", event_id=older.entry.key)
    assert (
        by_id.entry == older.entry
        and verify_receipt(by_id.to_json(), verifier).checkpoint.size == 10
    )
    # The old receipt still verifies offline, and the log still extends its checkpoint.
    assert verify_receipt(r1.to_json(), verifier).checkpoint.size == 9
    assert _verify(log, key_file, checkpoints=[("r1", r1.checkpoint)]).log is not None


def test_receipt_event_is_the_stored_row(log: sa.Engine, key_file: Path) -> None:
    r = workspace.issue_receipt(log, key_file, "m3")
    with log.connect() as conn:
        row = store_tlog.event_row(conn, r.entry.key)
        secret = store_audit.Keyring(conn).member("m3")
        workspace_secret = store_audit.workspace_secret(conn)
    assert row is not None and r.event["member_id"] == "m3" and r.event["seq"] == row["seq"]
    assert r.event["effective_at"] == "2024-02-23T00:00:00Z"
    # An auditor holding the member's key can check the digest from the receipt alone; the
    # workspace secret cannot (an erasure destroys the member's key: docs/transparency.md).
    in_table_order = {c.name: r.event[c.name] for c in t.consent_events.columns}
    assert audit.row_digest(secret, "consent_events", in_table_order) == r.entry.digest
    assert audit.row_digest(workspace_secret, "consent_events", in_table_order) != r.entry.digest
    assert Receipt.from_json(r.to_json()) == r


def test_receipts_refuse_other_members_and_edited_events(log: sa.Engine, key_file: Path) -> None:
    r = workspace.issue_receipt(log, key_file, "m1")
    with pytest.raises(NotFound):
        workspace.issue_receipt(log, key_file, "m2", event_id=r.entry.key)  # not m2's event
    with pytest.raises(NotFound):
        workspace.issue_receipt(log, key_file, "nobody")
    with pytest.raises(NotFound):
        workspace.issue_receipt(log, key_file, "m1", event_id="ev-unknown")
    with log.begin() as conn:
        conn.execute(
            t.consent_events.update()
            .where(t.consent_events.c.event_id == r.entry.key)
            .values(source="web")
        )
    with pytest.raises(AuditChainBroken, match="differs from its audit entry") as err:
        workspace.issue_receipt(log, key_file, "m1")
    assert err.value.index == r.entry.idx


# --------------------------------------------------------------------------- block cache


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Blocks of 4 entries, so that small logs have complete, cached blocks."""
    monkeypatch.setattr(store_tlog, "BLOCK_LEAVES", 4)
    return 4


def _blocks(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return [b.hex() for b in store_tlog.block_roots(conn)]


def test_receipts_and_checkpoints_read_blocks_not_the_whole_log(
    log: sa.Engine, tmp_path: Path, key_file: Path, small_blocks: int
) -> None:
    verifier = load_signer(key_file).verifier
    leaves = [leaf_hash(e.entry_bytes()) for e in _entries(log)]
    first = workspace.create_checkpoint(log, key_file).checkpoint  # 9 entries: 2 blocks + 1
    assert first.root == root_from_leaf_hashes(leaves)
    assert _blocks(log) == [root_from_leaf_hashes(leaves[o : o + 4]).hex() for o in (0, 4)]
    for step in range(6):  # the log grows across block boundaries
        _events(log, tmp_path, [_event(MEMBERS[step % 4], "deny", 60 + step)])
        if step % 2:
            workspace.create_checkpoint(log, key_file)
        for member in MEMBERS:
            receipt = workspace.issue_receipt(log, key_file, member)
            assert verify_receipt(receipt.to_json(), verifier).leaf_index == receipt.entry.idx
    entries = _entries(log)
    tree = MerkleTree(leaf_hash(e.entry_bytes()) for e in entries)
    with log.connect() as conn:
        for cp in store_tlog.checkpoints(conn):
            assert cp.root == tree.root(cp.size)
            for i in range(cp.size):
                assert store_tlog.inclusion_proof(conn, i, cp.size) == tree.inclusion_proof(
                    i, cp.size
                )
    assert len(_blocks(log)) == len(entries) // 4 or len(_blocks(log)) == (len(entries) - 1) // 4
    assert _verify(log, key_file).log is not None


def test_a_wrong_block_cache_is_rebuilt_but_a_changed_log_is_refused(
    log: sa.Engine, tmp_path: Path, key_file: Path, small_blocks: int
) -> None:
    workspace.create_checkpoint(log, key_file)
    good = _blocks(log)
    with log.begin() as conn:
        conn.execute(t.log_blocks.update().where(t.log_blocks.c.block == 1).values(hash="ab" * 32))
    receipt = workspace.issue_receipt(log, key_file, "m1")  # entry 6, in block 1
    assert verify_receipt(receipt.to_json(), load_signer(key_file).verifier).leaf_index == 6
    assert _blocks(log) == good
    with log.begin() as conn:
        conn.execute(t.log_blocks.update().where(t.log_blocks.c.block == 0).values(hash="cd" * 32))
    _events(log, tmp_path, [_event("m2", "withdraw", 99)])
    assert workspace.create_checkpoint(log, key_file).created
    assert _blocks(log)[:2] == good
    # A forged block past the latest checkpoint is recomputed before signing.
    with log.begin() as conn:
        conn.execute(t.log_blocks.insert().values(block=2, hash="ef" * 32))
    _events(log, tmp_path, [_event("m3", "withdraw", 99), _event("m0", "deny", 99)])
    head = workspace.create_checkpoint(log, key_file)  # 12 entries: blocks 0, 1 and 2
    assert head.created and _verify(log, key_file).log is not None
    # A changed log is not a wrong cache. Entries rewritten (and re-chained) behind the
    # latest checkpoint: a receipt that needs them is refused, verify fails, and a new
    # checkpoint extends the signed history, never the rewritten one.
    rows = _log_rows(log)
    original = [leaf_hash(e.entry_bytes()) for e in _entries(log)]
    with log.begin() as conn:
        _rewrite(
            conn, _rechain([{**r, "recorded_at": day(99)} if r["idx"] == 5 else r for r in rows])
        )
    with pytest.raises(AuditChainBroken, match="audit entries 4 to 7 differ") as err:
        workspace.issue_receipt(log, key_file, "m0", event_id=rows[5]["entity_key"])
    assert err.value.index == 4
    with pytest.raises(AuditChainBroken, match="does not match checkpoint #1") as err:
        _verify(log, key_file)  # the first checkpoint covering entry 5
    assert err.value.index == 0
    _events(log, tmp_path, [_event("m1", "deny", 99)])
    new_leaf = leaf_hash(_entries(log)[-1].entry_bytes())
    head = workspace.create_checkpoint(log, key_file)
    assert head.created and head.checkpoint.root == root_from_leaf_hashes([*original, new_leaf])


def test_signing_checks_the_new_entries_against_the_chain(
    log: sa.Engine, tmp_path: Path, key_file: Path
) -> None:
    workspace.create_checkpoint(log, key_file)
    _events(log, tmp_path, [_event("m2", "withdraw", 99)])
    with log.begin() as conn:
        conn.execute(t.audit_log.update().where(t.audit_log.c.idx == 9).values(action="x"))
    with pytest.raises(AuditChainBroken, match="audit entry 9 was altered") as err:
        workspace.create_checkpoint(log, key_file)
    assert err.value.index == 9


# --------------------------------------------------------------------------- command line


@pytest.fixture
def cli_log(
    cli: Callable[..., Any], db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """An initialised workspace through the CLI, its key under tmp_path; returns the key file.
    Automatic checkpoints are off: these tests sign them by hand and count them."""
    monkeypatch.setenv("CONSENTGATE_KEY_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("CONSENTGATE_AUTO_CHECKPOINT", "false")
    assert cli("init").exit_code == 0
    from consentgate.store.engine import make_engine

    engine = make_engine(db_url)
    key = tmp_path / "keys" / "log.key"
    workspace.ensure_signing_key(engine, key)  # idempotent: init may already have made it
    policy = tmp_path / "v1.yaml"
    policy.write_text(policy_yaml("v1", settings=[setting(defaults={"*": "off"})]))
    assert cli("policy", "publish", str(policy)).exit_code == 0
    members = tmp_path / "members.jsonl"
    members.write_text(
        "".join(json.dumps({"member_id": m, "jurisdiction": "EU"}) + "\n" for m in MEMBERS)
    )
    assert cli("members", "import", str(members)).exit_code == 0
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(_grant(m, 50 + i)) + "\n" for i, m in enumerate(MEMBERS)))
    assert cli("consent", "import", str(events)).exit_code == 0
    engine.dispose()
    return key


def test_cli_checkpoint_verify_and_public_key(
    cli: Callable[..., Any], cli_log: Path, tmp_path: Path
) -> None:
    res = cli("audit", "checkpoint", "--json")
    assert res.exit_code == 0, res.stderr
    data = res.json()
    assert (data["number"], data["size"], data["created"]) == (1, 9, True)
    res = cli("audit", "public-key")
    assert res.exit_code == 0 and res.stdout.strip() == load_signer(cli_log).verifier_key
    public = tmp_path / "log.pub"
    public.write_text(res.stdout)
    res = cli("audit", "verify", "--json", "--public-key", str(public))
    assert res.exit_code == 0, res.stderr
    data = res.json()
    assert (
        data["ok"]
        and data["checkpoints"] == 1
        and data["signatures_checked"]
        and data["root"] == data["root"].lower()
    )
    assert data["latest_checkpoint"] == {"number": 1, "size": 9} and data["uncovered"] == 0
    res = cli("audit", "verify")
    assert res.exit_code == 0 and "1 signed checkpoint(s) verified" in res.stdout


def test_cli_verify_fails_naming_the_index(
    cli: Callable[..., Any], cli_log: Path, db_url: str
) -> None:
    assert cli("audit", "checkpoint").exit_code == 0
    from consentgate.store.engine import make_engine

    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(t.audit_log.update().where(t.audit_log.c.idx == 4).values(action="x"))
    engine.dispose()
    res = cli("audit", "verify", "--json")
    assert res.exit_code == 1 and "audit entry 4 was altered" in res.stderr and res.stdout == ""


def test_cli_receipt_round_trip(cli: Callable[..., Any], cli_log: Path, tmp_path: Path) -> None:
    out = tmp_path / "receipt.tlog-proof"
    res = cli("receipt", "m2", "--out", str(out), "--json")
    assert res.exit_code == 0, res.stderr
    printed = res.json()  # no member id printed: only the file, the event id and the index
    assert (
        set(printed) == {"out", "event_id", "leaf_index", "tree_size", "witnesses"}
        and printed["leaf_index"] == 7
    )
    assert printed["out"] == str(out) and "m2" not in printed["event_id"]
    public = tmp_path / "log.pub"
    public.write_text(cli("audit", "public-key").stdout)
    res = cli("verify-receipt", str(out), "--public-key", str(public), "--json")
    assert res.exit_code == 0 and res.json()["valid"] and res.json()["tree_size"] == 9
    res = cli("verify-receipt", str(out), "--public-key", str(public))
    assert res.exit_code == 0 and res.stdout.startswith("VALID")
    assert cli("audit", "verify", "--checkpoint", str(out)).exit_code == 0
    text = out.read_text()
    assert text.startswith("c2sp.org/tlog-proof@v1\nextra ")
    extra_line = text.split("\n")[1]
    statement = base64.b64decode(extra_line[len("extra ") :])
    assert b'"type":"grant"' in statement
    forged = base64.b64encode(statement.replace(b'"grant"', b'"deny"')).decode()
    out.write_text(text.replace(extra_line, "extra " + forged))
    res = cli("verify-receipt", str(out), "--public-key", str(public), "--json")
    assert res.exit_code == 1 and res.json() == {"valid": False, "reason": res.json()["reason"]}
    assert "signature" in res.json()["reason"]
    assert (
        cli("verify-receipt", str(tmp_path / "missing.json"), "--public-key", str(public)).exit_code
        == 2
    )
    assert cli("verify-receipt", str(out)).exit_code == 2  # --public-key or --policy is required
    assert cli("receipt", "nobody", "--out", str(tmp_path / "x.json")).exit_code == 1
    assert not (tmp_path / "x.json").exists()
