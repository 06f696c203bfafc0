"""What an erasure costs, next to recording a withdrawal, on SQLite and PostgreSQL.

    python bench/bench_erasure.py [--members 200000] [--events 200000] [--pg URL | --no-pg]

A ledger of ``--members`` members (name, email, phone) and ``--events`` consent events with
evidence, through the real use cases. Then, each timed:

  withdraw 1      ``workspace.record_event`` of one withdrawal (the baseline)
  erase 1         ``workspace.record_event`` of one erase event: the event, the scrub of the
                  member's rows with their ``member.erased`` audit entries, the rejects-file
                  scrub and (SQLite) the write-ahead log checkpoint
  withdraw 1,000  ``workspace.import_events`` of 1,000 withdrawals of distinct members
  erase 1,000     ``workspace.import_events`` of 1,000 erase events
  verify          ``workspace.verify_audit`` of the whole ledger afterwards (every row
                  rechecked, each member's rows with their own key)
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from consentgate import ingest, workspace
from consentgate.store.engine import make_engine

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
POLICY = Path(__file__).resolve().parent.parent / "examples" / "policy-v2.yaml"


def timed(f: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def setup(url: str, tmp: Path, n_members: int, n_events: int) -> sa.Engine:
    eng = make_engine(url)
    workspace.init_workspace(eng)
    workspace.publish_policy(
        eng, POLICY.read_text(encoding="utf-8"), name=str(POLICY), notice_days=30
    )
    rng = random.Random(1)
    ids = [f"m{i:07d}" for i in range(n_members)]
    pq.write_table(
        pa.table(
            {
                "member_id": ids,
                "jurisdiction": [rng.choice(["US", "EU", "UK"]) for _ in ids],
                "name": [f"Name{i} Surname{i}" for i in range(n_members)],
                "email": [f"person{i}@example.org" for i in range(n_members)],
                "phone": [f"+44 20 7946 {i % 10000:04d}" for i in range(n_members)],
            }
        ),
        tmp / "members.parquet",
    )
    t = timed(
        lambda: workspace.import_members(
            eng, ingest.read_members(tmp / "members.parquet"), source=str(tmp / "members.parquet")
        )
    )
    print(f"  members import: {n_members:,} in {t:.1f} s ({n_members / t:,.0f}/s)")
    events = [
        {
            "member_id": ids[i % n_members],
            "type": "grant",
            "setting": "ai_training_posts",
            "policy_version": "v2",
            "effective_at": "2024-09-20T00:00:00Z",
            "evidence": {"ip": f"198.51.{i % 256}.{i // 256 % 256}", "ua": "bench"},
        }
        for i in range(n_events)
    ]
    path = write_jsonl(tmp / "grants.jsonl", events)
    t = timed(lambda: workspace.import_events(eng, ingest.read_event_lines(path), source=str(path)))
    print(f"  consent import: {n_events:,} in {t:.1f} s ({n_events / t:,.0f}/s)")
    return eng


def run(label: str, url: str, n_members: int, n_events: int) -> None:
    print(f"\n[{label}] {n_members:,} members, {n_events:,} events")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        eng = setup(url, tmp, n_members, n_events)

        def one(member: str, kind: str) -> None:
            rec: dict[str, Any] = {"member_id": member, "type": kind}
            if kind != "erase":
                rec["setting"] = "ai_training_posts"
            workspace.record_event(eng, {**rec, "effective_at": "2024-11-10T00:00:00Z"})

        w1 = min(timed(lambda i=i: one(f"m{i:07d}", "withdraw")) for i in range(5))
        e1 = min(timed(lambda i=i: one(f"m{10 + i:07d}", "erase")) for i in range(5))
        print(f"  withdraw 1     : {w1 * 1000:8.1f} ms (best of 5)")
        print(f"  erase 1        : {e1 * 1000:8.1f} ms (best of 5), {e1 / w1:.1f}x the withdrawal")

        def batch(kind: str, start: int) -> float:
            rows = [
                {
                    "member_id": f"m{start + i:07d}",
                    "type": kind,
                    **({} if kind == "erase" else {"setting": "ai_training_posts"}),
                    "effective_at": "2024-11-10T00:00:00Z",
                }
                for i in range(1000)
            ]
            path = write_jsonl(tmp / f"{kind}-{start}.jsonl", rows)
            return timed(
                lambda: workspace.import_events(
                    eng, ingest.read_event_lines(path), source=str(path)
                )
            )

        wk = batch("withdraw", 100)
        ek = batch("erase", 2000)
        print(f"  withdraw 1,000 : {wk * 1000:8.1f} ms")
        print(f"  erase 1,000    : {ek * 1000:8.1f} ms, {ek / wk:.1f}x the withdrawals")
        t = timed(lambda: workspace.verify_audit(eng))
        print(f"  verify         : {t:8.1f} s for the whole ledger afterwards")
        eng.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=200_000)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--pg", default=PG)
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        run("sqlite", f"sqlite:///{d}/ledger.db", args.members, args.events)
    if args.no_pg:
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(args.pg)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        sep = "&" if "?" in args.pg else "?"
        run(
            "postgresql",
            f"{args.pg}{sep}options=-csearch_path%3D{schema}",
            args.members,
            args.events,
        )
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
