"""Benchmark the officer's question (issue 11): "which members' private messages went to
which third party, when, under which policy version, and what exposure" for a few thousand
members, as one bulk report call versus the old loop of one access report per member.

Builds a workspace (SQLite, or PostgreSQL with --pg) with N members (US, US-CA and EU), all
of whom granted sharing their private messages with ``acme-ai``, builds a third-party
dataset of their messages (redacted, no NER) and records its disclosure. Then measures:

* ``report``: ``bulk_reports.disclosures_report`` (every row iterated, CSV encoded) plus
  ``bulk_reports.exposure_report``: one call each;
* ``loop``: ``workspace.dsar`` for every member in this process (what ``report dsar``
  runs), filtering each report's recipients for ``acme-ai``, the old way;
* ``cli``: ``consentgate report dsar MEMBER --json`` as a process for a few members (the
  per-member command an officer looped), its mean extrapolated to N (said as such).

    python bench/bench_reports.py [--members 3000] [--messages 2] [--cli-sample 5] [--pg URL]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from consentgate import workspace
from consentgate.gate.source import open_source
from consentgate.report_files import csv_text
from consentgate.store.engine import make_engine
from consentgate.workspace import bulk_reports

ROOT = Path(__file__).resolve().parent.parent


def _db(pg: str | None, tmp: Path) -> str:
    if pg is None:
        return f"sqlite:///{tmp / 'ledger.db'}"
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(pg)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in pg else "?"
    return f"{pg}{sep}options=-csearch_path%3D{schema}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=3000)
    ap.add_argument("--messages", type=int, default=2, help="private messages per member")
    ap.add_argument("--cli-sample", type=int, default=5)
    ap.add_argument("--pg", help="PostgreSQL URL (default: SQLite in a temporary directory)")
    args = ap.parse_args()
    os.umask(0o077)  # the ledger holds personal data: the CLI refuses a readable one
    tmp = Path(tempfile.mkdtemp(prefix="cg-bench-reports-"))
    os.environ["CONSENTGATE_KEY_DIR"] = str(tmp / "keys")
    db = _db(args.pg, tmp)
    engine = make_engine(db)
    workspace.init_workspace(engine, key_file=tmp / "keys" / "log.key")
    for v in ("v1", "v2"):
        workspace.publish_policy(
            engine, (ROOT / "examples" / f"policy-{v}.yaml").read_text(), notice_days=30
        )
    places = ["US", "US-CA", "EU"]
    ids = [f"m{i:06d}" for i in range(args.members)]
    workspace.import_members(
        engine, [{"member_id": m, "jurisdiction": places[i % 3]} for i, m in enumerate(ids)]
    )
    events = "".join(
        json.dumps(
            {
                "member_id": m,
                "type": "grant",
                "setting": "ai_training_messages_partners",
                "policy_version": "v2",
                "effective_at": "2024-09-20T00:00:00Z",
                "covers_from": "2024-01-01T00:00:00Z",
            }
        )
        + "\n"
        for m in ids
    )
    workspace.import_events(engine, events)
    rows: dict[str, list[object]] = {
        k: [] for k in ("id", "category", "author_id", "recipient_ids", "created_at", "text")
    }
    for i, m in enumerate(ids):
        for j in range(args.messages):
            rows["id"].append(f"msg-{i}-{j}")
            rows["category"].append("user.content.private")
            rows["author_id"].append(m)
            rows["recipient_ids"].append([ids[(i + 1 + j) % len(ids)]])
            rows["created_at"].append(datetime(2024, 10, 1, tzinfo=UTC))
            rows["text"].append("see you at the station tomorrow")
    table_in = pa.table(rows).set_column(
        4, "created_at", pa.array(rows["created_at"], pa.timestamp("us", tz="UTC"))
    )
    pq.write_table(table_in, tmp / "messages.parquet")
    t0 = time.perf_counter()
    built = workspace.build(
        engine,
        open_source(tmp / "messages.parquet", require_text=True),
        use="train_ai_system",
        recipient="acme-ai",
        out=tmp / "acme",
        as_of=None,
        redactor=workspace.make_redactor(engine, ner=False),
    )
    build_s = time.perf_counter() - t0
    print(
        f"setup: {args.members} members, {built.counts.included} messages in the acme-ai "
        f"dataset ({built.member_counts.num_rows} members), built in {build_s:.1f} s; db "
        f"{'PostgreSQL' if args.pg else 'SQLite'}"
    )

    t0 = time.perf_counter()
    table = bulk_reports.disclosures_report(engine, recipient="acme-ai")
    size = sum(len(p) for p in csv_text(table.columns, table.rows))
    found = bulk_reports.exposure_report(engine, recipient="acme-ai")
    report_s = time.perf_counter() - t0
    print(
        f"report: one disclosures_report (CSV, {size:,} bytes) + exposure_report: "
        f"{report_s:.2f} s; exposure {found.totals} over {found.members} members"
    )

    t0 = time.perf_counter()
    hits = 0
    for m in ids:
        doc = workspace.dsar(engine, m)
        hits += sum(1 for r in doc.recipients if r.recipient == "acme-ai")
    loop_s = time.perf_counter() - t0
    print(
        f"loop: workspace.dsar per member, in process, {len(ids)} members: {loop_s:.2f} s "
        f"({1000 * loop_s / len(ids):.1f} ms each; {hits} deliveries found)"
    )

    env = {**os.environ}
    times = []
    for m in ids[: args.cli_sample]:
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-c",
                "from consentgate.cli import main; main()",
                "--db",
                db,
                "report",
                "dsar",
                m,
                "--json",
            ],
            check=True,
            capture_output=True,
            env=env,
        )
        times.append(time.perf_counter() - t0)
    per = statistics.mean(times)
    print(
        f"cli: `consentgate report dsar MEMBER --json` as a process, mean of {len(times)}: "
        f"{per:.2f} s each; for {len(ids)} members that is about {per * len(ids) / 60:.0f} min "
        "(extrapolated)"
    )
    print(
        f"speed-up of one report over the in-process loop: {loop_s / report_s:.1f}x; over the "
        f"CLI loop (extrapolated): {per * len(ids) / report_s:.0f}x"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
