"""Benchmark the stored transparency log: appends into the audit log (SQLite and
PostgreSQL), signed checkpoints, proofs and receipts, and full verification of a large log.

    python bench/bench_audit_log.py                       # 1,000,000-entry log, ~3-5 min
    python bench/bench_audit_log.py --entries 200000      # quicker
    python bench/bench_audit_log.py --no-pg               # SQLite only
    python bench/bench_audit_log.py --pg URL              # another PostgreSQL server

Baseline, in the same run and on the same database: a plain ``executemany`` insert of the
same entries (same columns and values, hashes replaced by constant strings) into a bare
table with the audit log's columns and no index but the primary key, with the same
batch and transaction sizes. PostgreSQL runs in a throwaway schema, dropped at the end.

The large log is built through ``store.audit.append`` in batches of 50,000 (entries
without audited rows), with an ``audit checkpoint`` every tenth of the way. "Full
verification" is the log itself: read every entry, check the hash chain, rebuild the
Merkle tree and check it against every stored signed checkpoint (``store.audit.log_tree``
+ ``transparency.check_log``). ``audit verify`` also
compares every audited row with its entry; that part scales with the ledger's tables and
is measured by the ledger's own benchmark.
"""

from __future__ import annotations

import argparse
import random
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from consentgate import workspace
from consentgate.store import audit as store_audit
from consentgate.store import tables as t
from consentgate.store import transparency as store_tlog
from consentgate.store.engine import make_engine
from consentgate.tlog import audit
from consentgate.tlog.checkpoint import Signer, load_signer
from consentgate.tlog.merkle import MerkleTree, verify_consistency, verify_inclusion
from consentgate.tlog.receipts import (
    LoggedCheckpoint,
    Receipt,
    build_receipt,
    check_log,
    verify_receipt,
)

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
AT = datetime(2025, 1, 1, tzinfo=UTC)


def row(what: str, value: str, note: str = "") -> None:
    print(f"  {what:<56} {value:>14}  {note}", flush=True)


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def per_op_us(fn: Callable[[int], object], count: int) -> float:
    def run() -> None:
        for i in range(count):
            fn(i)

    return best_of(run) / count * 1e6


def items(start: int, count: int) -> list[tuple[str, str, str, str | None]]:
    """Consent-shaped entries: an event id and an HMAC-sized digest."""
    return [
        (audit.CONSENT_RECORDED, "consent_events", f"ev-{i:032x}", secrets.token_hex(32))
        for i in range(start, start + count)
    ]


# --------------------------------------------------------------------------- databases


@contextmanager
def database(kind: str, pg_url: str) -> Iterator[sa.Engine]:
    """A fresh, migrated workspace database: a SQLite file, or a throwaway PG schema."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as d:
            engine = make_engine(f"sqlite:///{d}/bench.db")
            workspace.init_workspace(engine)
            try:
                yield engine
            finally:
                engine.dispose()
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in pg_url else "?"
    engine = make_engine(f"{pg_url}{sep}options=-csearch_path%3D{schema}")
    try:
        workspace.init_workspace(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


BARE = sa.Table(
    "bench_plain_log",
    sa.MetaData(),
    *(
        sa.Column(c.name, c.type, primary_key=c.primary_key, autoincrement=False)
        for c in t.audit_log.columns
    ),
)


def plain_rows(start: int, batch: list[tuple[str, str, str, str | None]]) -> list[dict[str, Any]]:
    return [
        {
            "idx": start + i,
            "action": a,
            "entity": e,
            "entity_key": k,
            "digest": d,
            "recorded_at": AT,
            "prev_hash": "0" * 64,
            "entry_hash": "0" * 64,
        }
        for i, (a, e, k, d) in enumerate(batch)
    ]


def bench_appends(engine: sa.Engine, kind: str, *, count: int, batch: int, single: int) -> None:
    """Appends/s through store.audit.append versus the plain insert, same run."""
    BARE.create(engine)
    batches = [items(s, min(batch, count - s)) for s in range(0, count, batch)]

    def logged() -> None:
        for b in batches:
            with engine.begin() as conn:
                store_audit.append(conn, b, at=AT)

    def plain() -> None:
        start = 0
        for b in batches:
            with engine.begin() as conn:
                conn.execute(BARE.insert(), plain_rows(start, b))
            start += len(b)

    t_plain, t_log = _timed(plain), _timed(logged)
    row(
        f"{kind}: append, {batch:,} entries per transaction",
        f"{count / t_log:,.0f}/s",
        f"plain insert {count / t_plain:,.0f}/s; ratio {t_log / t_plain:.2f}x the time",
    )
    ones = items(10**9, single)

    def logged_one() -> None:
        for it in ones:
            with engine.begin() as conn:
                store_audit.append(conn, [it], at=AT)

    def plain_one() -> None:
        for i, it in enumerate(ones):
            with engine.begin() as conn:
                conn.execute(BARE.insert(), plain_rows(10**9 + i, [it]))

    t_plain, t_log = _timed(plain_one), _timed(logged_one)
    row(
        f"{kind}: append, one entry per transaction",
        f"{single / t_log:,.0f}/s",
        f"plain insert {single / t_plain:,.0f}/s; ratio {t_log / t_plain:.2f}x the time",
    )
    BARE.drop(engine)


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- large log


def build_log(engine: sa.Engine, key_file: Path, *, entries: int, checkpoints: int) -> float:
    """Append ``entries`` in batches of 50,000, signing a checkpoint (``audit checkpoint``,
    incremental) every ``entries / checkpoints`` entries. Returns the seconds spent
    signing, in total."""
    every = max(1, entries // checkpoints)
    done, signing = 0, 0.0
    while done < entries:
        n = min(50_000, entries - done, every - done % every)
        with engine.begin() as conn:
            store_audit.append(conn, items(done, n), at=AT + timedelta(seconds=done))
        done += n
        if done % every == 0 or done == entries:
            t0 = time.perf_counter()
            workspace.create_checkpoint(engine, key_file)
            signing += time.perf_counter() - t0
    return signing


def bench_large_log(engine: sa.Engine, kind: str, key_file: Path, *, entries: int) -> None:
    workspace.ensure_signing_key(engine, key_file)
    signer = load_signer(key_file)
    t0 = time.perf_counter()
    signing = build_log(engine, key_file, entries=entries, checkpoints=10)
    row(
        f"{kind}: build a {entries:,}-entry log (append, 50k batches)",
        f"{time.perf_counter() - t0:.1f} s",
        f"incl. 10 audit checkpoints, each over {entries // 10:,} new entries: "
        f"{signing / 10:.2f} s each",
    )

    with engine.connect() as conn:
        origin = store_tlog.origin(conn) or ""
        t0 = time.perf_counter()
        tree = store_audit.log_tree(conn)
        t_tree = time.perf_counter() - t0
        cps = store_tlog.checkpoints(conn)
        t0 = time.perf_counter()
        result = check_log(tree, cps, verifier=signer.verifier, origin=origin)
        t_check = time.perf_counter() - t0
    assert result.size == entries and result.checkpoints == len(cps)
    row(
        f"{kind}: full verification of {entries:,} entries",
        f"{t_tree + t_check:.1f} s",
        f"read + chain + Merkle tree {t_tree:.1f} s; {len(cps)} signed checkpoints "
        f"{t_check * 1e3:.1f} ms; {entries / (t_tree + t_check):,.0f} entries/s",
    )

    # `audit checkpoint` after one more entry: incremental, then with no block cache.
    for label in ("block cache warm", "block cache dropped"):
        if label.endswith("dropped"):
            with engine.begin() as conn:
                conn.execute(t.log_blocks.delete())
        with engine.begin() as conn:
            store_audit.append(conn, items(entries + 10**8 + len(label), 1), at=AT)
        t0 = time.perf_counter()
        head = workspace.create_checkpoint(engine, key_file)
        row(
            f"{kind}: audit checkpoint at {head.checkpoint.size:,}, {label}",
            f"{(time.perf_counter() - t0) * 1e3:,.0f} ms",
            f"note {len(head.checkpoint.note.encode())} bytes",
        )
    proofs_and_receipts(engine, tree, signer, origin, cps[-1], entries)


def proofs_and_receipts(
    engine: sa.Engine,
    tree: MerkleTree,
    signer: Signer,
    origin: str,
    cp: LoggedCheckpoint,
    entries: int,
) -> None:
    rnd = random.Random(7)
    idx = [rnd.randrange(entries) for _ in range(2000)]
    size = len(tree)
    root = tree.root()
    leaves = [tree.leaf_hash(i) for i in idx]
    proofs = [tree.inclusion_proof(i) for i in idx]
    gen = per_op_us(lambda k: tree.inclusion_proof(idx[k]), len(idx))
    ver = per_op_us(lambda k: verify_inclusion(leaves[k], idx[k], size, proofs[k], root), len(idx))
    row(
        f"inclusion proof at {size:,} (generate / verify)",
        f"{gen:.0f} / {ver:.0f} µs",
        f"{len(proofs[0]) * 32} bytes ({len(proofs[0])} hashes)",
    )
    olds = [rnd.randrange(1, size) for _ in range(500)]
    cproofs = [tree.consistency_proof(o) for o in olds]
    oroots = [tree.root(o) for o in olds]
    gen = per_op_us(lambda k: tree.consistency_proof(olds[k]), len(olds))
    ver = per_op_us(
        lambda k: verify_consistency(olds[k], size, oroots[k], root, cproofs[k]), len(olds)
    )
    longest = max(len(p) for p in cproofs)
    row(
        f"consistency proof to {size:,} (generate / verify)",
        f"{gen:.0f} / {ver:.0f} µs",
        f"up to {longest * 32} bytes ({longest} hashes)",
    )
    # Receipts: signing (with the self-check) and offline verification, for a stored entry.
    i = idx[0] % cp.size
    with engine.connect() as conn:
        entry = store_tlog.event_entry(conn, f"ev-{i:032x}")
    assert entry is not None and entry.idx == i
    event = {
        "seq": i + 1,
        "event_id": entry.key,
        "member_id": "member-000123",
        "type": "grant",
        "setting": "ai_training_posts",
        "policy_version": "v2",
        "effective_at": AT,
        "recorded_at": AT,
        "covers_from": AT,
        "source": "web",
        "evidence": None,
    }
    with engine.begin() as conn:
        t0 = time.perf_counter()
        for k in idx[:50]:
            store_tlog.inclusion_proof(conn, k % cp.size, cp.size)
        t_stored = (time.perf_counter() - t0) / 50
        proof = store_tlog.inclusion_proof(conn, i, cp.size)
    assert proof == tree.inclusion_proof(i, cp.size)
    row(
        f"inclusion proof at {cp.size:,} from the store",
        f"{t_stored * 1e3:.1f} ms",
        "block roots + one block of entries (what `receipt` reads)",
    )

    def issue(_: int) -> Receipt:
        return build_receipt(
            signer,
            origin=origin,
            event=event,
            entry=entry,
            inclusion_proof=proof,
            checkpoint=cp.note,
        )

    text = issue(0).to_json()
    t_issue = per_op_us(issue, 200)
    t_verify = per_op_us(lambda _: verify_receipt(text, signer.verifier), 200)
    row(
        f"receipt at {cp.size:,} (sign+self-check / verify offline)",
        f"{t_issue:.0f} / {t_verify:.0f} µs",
        f"file {len(text.encode()):,} bytes",
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--entries", type=int, default=1_000_000, help="size of the large log")
    p.add_argument("--append", type=int, default=100_000, help="entries for the append test")
    p.add_argument("--batch", type=int, default=10_000, help="entries per append transaction")
    p.add_argument("--single", type=int, default=1_000, help="one-entry transactions")
    p.add_argument("--pg", default=PG_URL, help="PostgreSQL URL (throwaway schema)")
    p.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    p.add_argument(
        "--pg-entries", type=int, default=200_000, help="size of the large log on PostgreSQL"
    )
    args = p.parse_args(argv)
    kinds = ["sqlite"] if args.no_pg else ["sqlite", "postgresql"]
    print(f"consentgate audit log benchmark (python {sys.version.split()[0]})")
    with tempfile.TemporaryDirectory() as keys:
        for kind in kinds:
            with database(kind, args.pg) as engine:
                bench_appends(engine, kind, count=args.append, batch=args.batch, single=args.single)
            n = args.entries if kind == "sqlite" else args.pg_entries
            with database(kind, args.pg) as engine:
                bench_large_log(engine, kind, Path(keys) / f"{kind}.key", entries=n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
