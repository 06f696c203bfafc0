"""Benchmark the ledger's hot paths (issue 2), printing throughput and same-run baselines.

* consent import (JSONL → validated events + audit entries), events/s, on SQLite and
  PostgreSQL, against a raw ``executemany`` insert of the same rows into a bare table;
* snapshot for 1M members with 3 settings (goal < 20 s);
* ``consent status`` lookups per second through the Python API.

    python bench/bench_ledger.py [--events 200000] [--members 1000000] [--pg URL|--no-pg]
                                 [--only-snapshot] [--repeat N] [--moves N]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from consentgate import ingest, workspace
from consentgate.store import bulk
from consentgate.store.engine import make_engine

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START = datetime(2024, 9, 18, tzinfo=UTC)
JURS = ["US", "US-CA", "EU", "UK"]
POLICY = """version: v1
published_at: 2024-08-01T00:00:00Z
effective_from: 2024-09-18T00:00:00Z
recipients: []
settings:
  - {id: ai_posts, label: posts, use: train_ai_system, categories: [user.content.public], recipients: [first_party], defaults: {US: "on", "*": "off"}}
  - {id: ai_profile, label: profile, use: train_ai_system, categories: [user.job_title], recipients: [first_party], defaults: {"*": "off"}}
  - {id: ai_behavior, label: activity, use: train_ai_system, categories: [user.behavior], recipients: [first_party], defaults: {US: "on", "*": "off"}}
"""


def fresh(url: str, stack: list[tuple[sa.Engine, str]]) -> str:
    if not url.startswith("postgresql"):
        return url
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    with admin.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    stack.append((admin, schema))
    return f"{url}?options=-csearch_path%3D{schema}"


def setup(url: str, tmp: Path, n_members: int) -> sa.Engine:
    eng = make_engine(url)
    workspace.init_workspace(eng)
    (tmp / "p.yaml").write_text(POLICY)
    workspace.publish_policy(
        eng, (tmp / "p.yaml").read_text(encoding="utf-8"), name=str(tmp / "p.yaml"), notice_days=30
    )
    rng = random.Random(1)
    table = pa.table(
        {
            "member_id": [f"m{i:07d}" for i in range(n_members)],
            "jurisdiction": [rng.choice(JURS) for _ in range(n_members)],
        }
    )
    pq.write_table(table, tmp / "members.parquet")
    t0 = time.perf_counter()
    workspace.import_members(
        eng, ingest.read_members(tmp / "members.parquet"), source=str(tmp / "members.parquet")
    )
    print(
        f"  members import: {n_members:,} in {time.perf_counter() - t0:.1f} s ({n_members / (time.perf_counter() - t0):,.0f}/s)"
    )
    return eng


def events_file(path: Path, n: int, n_members: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for i in range(n):
        etype = rng.choices(["grant", "deny", "withdraw"], [0.5, 0.3, 0.2])[0]
        rows.append(
            {
                "event_id": f"b{seed}-{i}",
                "member_id": f"m{rng.randrange(n_members):07d}",
                "type": etype,
                "setting": rng.choice(["ai_posts", "ai_profile", "ai_behavior"]),
                **({"policy_version": "v1"} if etype == "grant" else {}),
                "effective_at": (
                    START + timedelta(minutes=rng.randrange(60 * 24 * 60))
                ).isoformat(),
                "source": "web",
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


RAW_COLUMNS = (
    "event_id",
    "member_id",
    "type",
    "setting",
    "policy_version",
    "effective_at",
    "source",
)


def _bare(eng: sa.Engine) -> sa.Table:
    md = sa.MetaData()
    bare = sa.Table(
        f"bare_{uuid.uuid4().hex[:6]}", md, *(sa.Column(c, sa.Text) for c in RAW_COLUMNS)
    )
    md.create_all(eng)
    return bare


def raw_insert(eng: sa.Engine, rows: list[dict[str, object]]) -> float:
    """The baseline: the same rows, one compiled INSERT, DBAPI executemany (values taken
    from the row mappings inside the timing, as an import must)."""
    bare = _bare(eng)
    values = [{c.name: r.get(c.name) for c in bare.columns} for r in rows]
    t0 = time.perf_counter()
    with eng.begin() as conn:  # one compiled INSERT, DBAPI executemany: the floor
        bulk.insert_rows(conn, bare, values)
    return time.perf_counter() - t0


def raw_tuples(eng: sa.Engine, rows: list[dict[str, object]]) -> float:
    """A stricter floor, for reference: executemany of tuples built before the timing."""
    bare = _bare(eng)
    values = [tuple(r.get(c) for c in RAW_COLUMNS) for r in rows]
    sql = str(bare.insert().compile(dialect=eng.dialect, column_keys=list(RAW_COLUMNS)))
    params: list[Any] = (
        values
        if eng.dialect.paramstyle == "qmark"
        else [dict(zip(RAW_COLUMNS, v, strict=True)) for v in values]
    )
    t0 = time.perf_counter()
    with eng.begin() as conn:
        conn.exec_driver_sql(sql, params)
    return time.perf_counter() - t0


def bench_import(label: str, url: str, tmp: Path, n_events: int, n_members: int) -> None:
    print(f"\n[{label}] consent import, {n_events:,} events over {n_members:,} members")
    eng = setup(url, tmp, n_members)
    rows = events_file(tmp / "events.jsonl", n_events, n_members, seed=2)
    t_raw = raw_insert(eng, rows)
    t_tuples = raw_tuples(eng, rows)
    t0 = time.perf_counter()
    res = workspace.import_events(
        eng, ingest.read_event_lines(tmp / "events.jsonl"), source=str(tmp / "events.jsonl")
    )
    t_imp = time.perf_counter() - t0
    assert res.added == n_events
    print(f"  raw DBAPI executemany  : {n_events / t_raw:>10,.0f} rows/s ({t_raw:.2f} s)")
    print(
        f"  (same, prebuilt params : {n_events / t_tuples:>10,.0f} rows/s ({t_tuples:.2f} s), for reference)"
    )
    print(
        f"  consentgate import     : {n_events / t_imp:>10,.0f} events/s ({t_imp:.2f} s) incl. parse, validation, audit chain"
    )
    print(f"  ratio to raw           : {t_raw / t_imp:.2f} (goal >= 0.5)")
    print(f"  ratio to prebuilt      : {t_tuples / t_imp:.2f}")
    eng.dispose()


def record_moves(eng: sa.Engine, n_moves: int, n_members: int) -> None:
    """Move ``n_moves`` random members to a random jurisdiction, effective in the window."""
    if not n_moves:
        return
    from consentgate.store import ledger

    rng = random.Random(5)
    moved = rng.sample(range(n_members), n_moves)
    rows = [
        (f"m{i:07d}", rng.choice(JURS), START + timedelta(days=rng.randrange(80)), "move")
        for i in moved
    ]
    t0 = time.perf_counter()
    with eng.begin() as conn:
        ledger.insert_jurisdictions(conn, rows, at=datetime.now(UTC), source="cli")
    print(f"  jurisdiction moves: {n_moves:,} recorded in {time.perf_counter() - t0:.1f} s")


def bench_snapshot_and_status(
    url: str, tmp: Path, n_members: int, n_events: int, *, repeat: int = 1, moves: int = 0
) -> None:
    print(
        f"\n[sqlite] snapshot for {n_members:,} members ({moves:,} moved), 3 settings, "
        f"{n_events:,} events"
    )
    eng = setup(url, tmp, n_members)
    events_file(tmp / "ev.jsonl", n_events, n_members, seed=3)
    workspace.import_events(
        eng, ingest.read_event_lines(tmp / "ev.jsonl"), source=str(tmp / "ev.jsonl")
    )
    record_moves(eng, moves, n_members)
    as_of = START + timedelta(days=90)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        snap = workspace.build_snapshot(
            eng, use="train_ai_system", recipient="first_party", as_of=as_of, record=False
        )
        times.append(time.perf_counter() - t0)
    print(
        f"  snapshot: {snap.grants.num_rows:,} consented rows in {min(times):.2f} s "
        f"(best of {repeat}: {', '.join(f'{t:.2f}' for t in times)}; goal < 20 s)"
    )
    rng = random.Random(4)
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        workspace.consent_status(eng, f"m{rng.randrange(n_members):07d}", "ai_posts", at=as_of)
    t = time.perf_counter() - t0
    print(f"  consent status (Python API, one transaction each): {n / t:,.0f} lookups/s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--import-members", type=int, default=50_000)
    ap.add_argument("--pg", default=PG)
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--only-snapshot", action="store_true", help="skip the import benchmarks")
    ap.add_argument("--repeat", type=int, default=1, help="snapshot runs (the best is shown)")
    ap.add_argument("--moves", type=int, default=0, help="members with a jurisdiction move")
    args = ap.parse_args()
    stack: list[tuple[sa.Engine, str]] = []
    try:
        if not args.only_snapshot:
            with tempfile.TemporaryDirectory() as d:
                bench_import(
                    "sqlite", f"sqlite:///{d}/a.db", Path(d), args.events, args.import_members
                )
        if not args.no_pg and not args.only_snapshot:
            with tempfile.TemporaryDirectory() as d:
                bench_import(
                    "postgresql", fresh(args.pg, stack), Path(d), args.events, args.import_members
                )
        with tempfile.TemporaryDirectory() as d:
            bench_snapshot_and_status(
                f"sqlite:///{d}/s.db",
                Path(d),
                args.members,
                args.events,
                repeat=args.repeat,
                moves=args.moves,
            )
    finally:
        for admin, schema in stack:
            with admin.begin() as c:
                c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
