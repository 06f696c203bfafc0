"""Snapshot of 10M members from the ledger (issue 12): SQLite and PostgreSQL.

    python bench/bench_snapshot_scale.py --members 10000000 --events 10000000 \
        [--sqlite PATH] [--pg URL] [--repeat 2]

Synthetic, fixed seed: members ``m00000000``… in four jurisdictions, and ``--events``
grant/deny/withdraw events over three settings (the policy of bench/bench_ledger.py).
They are **bulk-loaded**: rows go straight into ``members`` and ``consent_events`` with
``consentgate.store.bulk.insert_values`` (``COPY`` on PostgreSQL, one ``executemany`` a
million rows on SQLite), after ``init`` and a policy published through the use cases.
This load writes no audit entry per member or event: it measures the snapshot (the
build's path: read members, moves and events from the ledger, then ``compute_snapshot``),
not the import, whose cost per event is the audit leaf (bench/bench_ledger.py).

Prints the load time per table and each snapshot's wall and CPU time (the build's
snapshot, not recorded). ``--keep`` leaves the database for EXPLAIN (docs/scale.md).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from bench_ledger import POLICY, START

from consentgate import workspace
from consentgate.store import bulk
from consentgate.store import tables as t
from consentgate.store.engine import make_engine

CHUNK = 1_000_000
JURS = np.array(["US", "US-CA", "EU", "UK"])
SETTINGS = np.array(["ai_posts", "ai_profile", "ai_behavior"])
TYPES = np.array(["grant", "deny", "withdraw"])
EVENT_COLUMNS = (
    "seq", "event_id", "member_id", "type", "setting", "policy_version",
    "effective_at", "recorded_at", "covers_from", "source", "evidence",
)  # fmt: skip


def _micros(at: datetime) -> int:
    return bulk.micros(at)


def load(eng: sa.Engine, members: int, events: int) -> None:
    rng = np.random.default_rng(12)
    created = _micros(START - timedelta(days=30))
    t0 = time.perf_counter()
    for start in range(0, members, CHUNK):
        n = min(CHUNK, members - start)
        jurs = JURS[rng.integers(0, 4, n)].tolist()
        rows = (
            (f"m{i:08d}", j, created) for i, j in zip(range(start, start + n), jurs, strict=True)
        )
        with eng.begin() as conn:
            bulk.insert_values(conn, t.members, ("member_id", "jurisdiction", "created_at"), rows)
    print(f"  members: {members:,} loaded in {time.perf_counter() - t0:.1f} s", flush=True)
    t0 = time.perf_counter()
    base = _micros(START)
    day = 86_400_000_000
    recorded = _micros(START + timedelta(days=100))
    for start in range(0, events, CHUNK):
        n = min(CHUNK, events - start)
        who = rng.integers(0, members, n).tolist()
        kinds = TYPES[rng.choice(3, n, p=[0.5, 0.3, 0.2])].tolist()
        settings = SETTINGS[rng.integers(0, 3, n)].tolist()
        when = (base + rng.integers(0, 60, n) * day).tolist()
        rows = (
            (
                start + k + 1,
                f"e{start + k:09d}",
                f"m{who[k]:08d}",
                kinds[k],
                settings[k],
                "v1" if kinds[k] == "grant" else None,
                when[k],
                recorded,
                None,
                "import",
                None,
            )
            for k in range(n)
        )
        with eng.begin() as conn:
            bulk.insert_values(
                conn,
                t.consent_events,
                EVENT_COLUMNS,
                rows,
            )
    print(f"  events: {events:,} loaded in {time.perf_counter() - t0:.1f} s", flush=True)
    if eng.dialect.name == "postgresql":
        with eng.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
            conn.execute(
                sa.text("SELECT setval('consent_events_seq_seq', :n)"), {"n": max(events, 1)}
            )


def snapshot(eng: sa.Engine, repeat: int) -> None:
    as_of = START + timedelta(days=90)
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        snap = workspace.build_snapshot(
            eng,
            use="train_ai_system",
            recipient="first_party",
            as_of=as_of,
            known_at=datetime.now(UTC),
            record=False,
        )
        print(
            f"  snapshot: {snap.grants.num_rows:,} consented rows in "
            f"{time.perf_counter() - w0:.1f} s wall, {time.process_time() - c0:.1f} s CPU",
            flush=True,
        )


def run(label: str, url: str, args: argparse.Namespace, tmp: Path) -> None:
    print(f"[{label}] {args.members:,} members, {args.events:,} events", flush=True)
    eng = make_engine(url)
    workspace.init_workspace(eng)
    (tmp / "p.yaml").write_text(POLICY)
    workspace.publish_policy(
        eng, (tmp / "p.yaml").read_text(encoding="utf-8"), name="p.yaml", notice_days=30
    )
    load(eng, args.members, args.events)
    snapshot(eng, args.repeat)
    eng.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, default=10_000_000)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--sqlite", type=Path, help="SQLite file to create (default: a temp dir)")
    ap.add_argument("--pg", help="PostgreSQL URL (a fresh schema is made in it)")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not args.no_sqlite:
            path = args.sqlite or tmp / "ledger.db"
            run("sqlite", f"sqlite:///{path}", args, tmp)
        if args.pg:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin = make_engine(args.pg)
            with admin.begin() as c:
                c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            try:
                run("postgresql", f"{args.pg}?options=-csearch_path%3D{schema}", args, tmp)
            finally:
                if args.keep:
                    print(f"  kept schema {schema}")
                else:
                    with admin.begin() as c:
                        c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()


if __name__ == "__main__":
    main()
