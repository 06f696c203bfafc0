"""Group commit of consent events (``workspace.consent_writer``, ``consent.record_events``):
concurrent callers' events are stored once each, in few transactions, the audit chain and
its receipts still verify, a bad event fails alone and a failed batch stores nothing."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from factories import day, policy_yaml, setting

from consentgate import ingest, workspace
from consentgate.errors import Conflict, InvalidInput
from consentgate.store import tables as t
from consentgate.tlog.checkpoint import load_signer
from consentgate.tlog.receipts import verify_receipt
from consentgate.workspace import remediation as remediation_workspace
from consentgate.workspace.consent import Recorded, record_events
from consentgate.workspace.consent_writer import ConsentWriter, WriterClosed

MEMBERS = [f"m{i}" for i in range(8)]


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "log.key"


@pytest.fixture
def ledger(engine: sa.Engine, tmp_path: Path, key_file: Path) -> sa.Engine:
    workspace.ensure_signing_key(engine, key_file)
    policy = tmp_path / "v1.yaml"
    policy.write_text(policy_yaml("v1", settings=[setting(defaults={"*": "off"})]))
    workspace.publish_policy(engine, policy.read_text(encoding="utf-8"), name="v1", notice_days=30)
    members = tmp_path / "members.jsonl"
    members.write_text(
        "".join(json.dumps({"member_id": m, "jurisdiction": "EU"}) + "\n" for m in MEMBERS)
    )
    workspace.import_members(engine, ingest.read_members(members), source=str(members))
    return engine


def _choice(member: str, kind: str, event_id: str, n: float = 60) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": event_id,
        "member_id": member,
        "type": kind,
        "setting": "ai_posts",
        "effective_at": day(n).isoformat(),
        "source": "api",
    }
    if kind == "grant":
        body["policy_version"] = "v1"
    return body


def _stored_ids(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(t.consent_events.c.event_id)).scalars())


def _log_size(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t.audit_log)).scalar_one())


def _batch_stamps(engine: sa.Engine) -> set[Any]:
    """The distinct recording times of consent events: one per transaction that stored any."""
    with engine.connect() as conn:
        return set(conn.execute(sa.select(t.consent_events.c.recorded_at)).scalars())


def _held_then_released(
    engine: sa.Engine, writer: ConsentWriter, calls: list[Callable[[], None]]
) -> None:
    """Run ``calls`` in threads while another transaction holds the ledger's write lock:
    the first call alone is the writer's first batch, waiting on the lock, and every later
    call queues behind it; then release the lock and wait for the threads."""
    threads = [threading.Thread(target=c) for c in calls]
    begun = threading.Event()

    def writer_connects(*_: Any) -> None:  # the pool hands the writer its connection
        if threading.current_thread().name == "consent-writer":
            begun.set()

    with engine.begin():  # BEGIN IMMEDIATE (SQLite) / the advisory lock (PostgreSQL)
        sa.event.listen(engine.pool, "checkout", writer_connects)
        try:
            threads[0].start()
            assert begun.wait(30), "the writer did not start its first batch"
        finally:
            sa.event.remove(engine.pool, "checkout", writer_connects)
        for th in threads[1:]:
            th.start()
        deadline = time.monotonic() + 30
        while writer._queue.qsize() < len(calls) - 1:
            assert time.monotonic() < deadline, "the callers did not queue"
            time.sleep(0.01)
    for th in threads:
        th.join(timeout=60)
        assert not th.is_alive()


def test_concurrent_writes_are_stored_once_in_few_transactions_and_verify(
    ledger: sa.Engine, key_file: Path
) -> None:
    writer = ConsentWriter(ledger)
    before = _log_size(ledger)
    results: dict[str, tuple[Any, bool]] = {}
    failures: list[BaseException] = []

    def call(i: int) -> Callable[[], None]:
        def run() -> None:
            member = MEMBERS[i % len(MEMBERS)]
            kind = "grant" if i % 3 else "withdraw"
            try:
                results[f"ev-{i}"] = writer.record(_choice(member, kind, f"ev-{i}"))
            except BaseException as exc:  # collected: asserted below
                failures.append(exc)

        return run

    n = 40
    _held_then_released(ledger, writer, [call(i) for i in range(n)])
    writer.close()
    assert failures == []
    assert sorted(_stored_ids(ledger)) == sorted(f"ev-{i}" for i in range(n))  # each once
    assert all(created for _, created in results.values())
    assert sorted(e.seq for e, _ in results.values()) == list(range(1, n + 1))
    # the first event alone (it waited on the lock), then everyone queued behind it
    assert len(_batch_stamps(ledger)) == 2
    # one audit entry per event (no remediation: nothing registered), and the chain,
    # the Merkle tree and the rows still verify; a receipt from the batch verifies
    assert _log_size(ledger) == before + n
    report = workspace.verify_log(ledger, key_file=key_file)
    assert report.entries == before + n
    receipt = workspace.issue_receipt(ledger, key_file, "m5")
    verifier = load_signer(key_file).verifier
    assert verify_receipt(receipt.to_json(), verifier).checkpoint.size == before + n


def test_a_failed_batch_fails_every_caller_and_stores_none(
    ledger: sa.Engine, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = remediation_workspace.open_for_events

    def failing(conn: sa.Connection, events: Any, **kw: Any) -> Any:
        if len(events) > 1:  # the batch: its events and audit entries are written by now
            raise RuntimeError("the disk is full")
        return real(conn, events, **kw)

    monkeypatch.setattr(remediation_workspace, "open_for_events", failing)
    writer = ConsentWriter(ledger)
    before_log, before_events = _log_size(ledger), _stored_ids(ledger)
    outcomes: dict[int, object] = {}

    def call(i: int) -> Callable[[], None]:
        def run() -> None:
            try:
                outcomes[i] = writer.record(_choice(MEMBERS[i % 8], "grant", f"ev-{i}"))
            except BaseException as exc:  # collected: asserted below
                outcomes[i] = exc

        return run

    n = 12
    _held_then_released(ledger, writer, [call(i) for i in range(n)])
    writer.close()
    ok = [i for i, o in outcomes.items() if isinstance(o, tuple)]
    failed = [o for o in outcomes.values() if isinstance(o, RuntimeError)]
    assert len(ok) == 1 and len(failed) == n - 1  # the first batch alone, then all of the rest
    assert all(str(e) == "the disk is full" for e in failed)
    assert sorted(_stored_ids(ledger)) == sorted([*before_events, f"ev-{ok[0]}"])
    assert _log_size(ledger) == before_log + 1
    workspace.verify_log(ledger, key_file=key_file)


def test_each_event_in_a_batch_has_its_own_outcome(ledger: sa.Engine, key_file: Path) -> None:
    workspace.record_event(ledger, _choice("m0", "grant", "ev-old"))
    records = [
        _choice("m1", "grant", "ev-a"),
        _choice("nobody", "grant", "ev-b"),  # unknown member
        _choice("m0", "withdraw", "ev-old"),  # an id recorded with other content
        _choice("m0", "grant", "ev-old"),  # a retry of a stored event
        _choice("m2", "grant", "ev-c"),
        _choice("m2", "grant", "ev-c"),  # a retry inside the batch
        _choice("m2", "withdraw", "ev-c"),  # the same id, other content, inside the batch
        {
            "event_id": "ev-e",
            "member_id": "m3",
            "type": "erase",
            "effective_at": day(60).isoformat(),
        },
        _choice("m3", "grant", "ev-f"),  # after the member's erasure in the same batch
        {**_choice("m4", "grant", "ev-g"), "policy_version": "v9"},  # not published
    ]
    out = record_events(ledger, records)
    assert len(out) == len(records)
    a, b, c, d, e, f, g, h, i, j = out
    assert isinstance(a, Recorded) and a.created and a.event.seq > 0
    assert isinstance(b, InvalidInput) and "unknown member" in str(b)
    assert isinstance(c, Conflict) and "different content" in str(c)
    assert isinstance(d, Recorded) and not d.created and d.event.event_id == "ev-old"
    assert isinstance(e, Recorded) and e.created
    assert isinstance(f, Recorded) and not f.created and f.event == e.event
    assert isinstance(g, Conflict) and "different content" in str(g)
    assert isinstance(h, Recorded) and h.created
    assert isinstance(i, Conflict) and "erased" in str(i)
    assert isinstance(j, InvalidInput) and "policy_version" in str(j)
    assert sorted(_stored_ids(ledger)) == ["ev-a", "ev-c", "ev-e", "ev-old"]
    workspace.verify_log(ledger, key_file=key_file)
    # what the batch returns is what is stored
    assert a.event in workspace.member_history(ledger, "m1")


def test_record_event_raises_what_its_batch_of_one_returns(ledger: sa.Engine) -> None:
    event, created = workspace.record_event(ledger, _choice("m0", "grant", "ev-1"))
    assert created and event == workspace.member_history(ledger, "m0")[0]
    assert workspace.record_event(ledger, _choice("m0", "grant", "ev-1")) == (event, False)
    with pytest.raises(Conflict, match="already recorded with different content"):
        workspace.record_event(ledger, _choice("m0", "withdraw", "ev-1"))
    with pytest.raises(InvalidInput, match="unknown member"):
        workspace.record_event(ledger, _choice("zz", "grant", "ev-2"))


def test_a_closed_writer_refuses_and_records_nothing(ledger: sa.Engine) -> None:
    writer = ConsentWriter(ledger)
    writer.record(_choice("m0", "grant", "ev-1"))
    writer.close()
    with pytest.raises(WriterClosed):
        writer.record(_choice("m1", "grant", "ev-2"))
    assert _stored_ids(ledger) == ["ev-1"]
    writer.close()  # closing twice is harmless


def test_two_writers_on_one_database_both_store_everything(ledger: sa.Engine) -> None:
    """Two service processes each have a writer: the database lock orders their batches."""
    first, second = ConsentWriter(ledger), ConsentWriter(ledger)
    failures: list[BaseException] = []

    def run(writer: ConsentWriter, prefix: str) -> None:
        for i in range(15):
            try:
                writer.record(_choice(MEMBERS[i % 8], "grant", f"{prefix}-{i}"))
            except BaseException as exc:  # collected: asserted below
                failures.append(exc)

    threads = [
        threading.Thread(target=run, args=(w, f"{p}{k}"))
        for w, p in ((first, "a"), (second, "b"))
        for k in range(3)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    first.close()
    second.close()
    assert failures == []
    stored = _stored_ids(ledger)
    assert len(stored) == len(set(stored)) == 6 * 15
    with ledger.connect() as conn:
        seqs = sorted(conn.execute(sa.select(t.consent_events.c.seq)).scalars())
    assert seqs == list(range(1, 6 * 15 + 1))
