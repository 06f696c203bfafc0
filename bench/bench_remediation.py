"""Dataset remediation after withdrawals versus a full rebuild from source, in one run.

    python bench/bench_remediation.py                 # 200,000 records, 200 withdrawals
    python bench/bench_remediation.py --full          # 1,000,000 records, 1,000 withdrawals
    python bench/bench_remediation.py --shard-by conversation   # shards by conversation

Synthetic private messages (tests/gate_data.py: ~600 bytes, 1-3 recipients, fixed seed;
here every record is a message) over ``--members`` members who all granted sharing their
messages with the third party ``acme-ai`` (policy v2 of the demo). Through the real use
cases, on a SQLite ledger:

  build       ``workspace.build`` of the dataset for acme-ai, ``--shards`` shards by author
  withdraw    ``workspace.import_events`` of the withdrawals (the hook opens the orders)
  remediate   ``workspace.remediate``: fresh snapshot, part hashes checked, eligibility
              columns scanned, affected parts rewritten, others hard-linked, registered
  rebuild     ``workspace.build`` from the source again at the same as-of: what you would do
              without remediation (the baseline)
  remediate1  one more withdrawal, remediating the new version: the shard-local case

The remediated and the rebuilt dataset must hold exactly the same record ids (checked).
Messages belong to every participant, so a member's withdrawal removes what they sent and
what they received: by author sharding that touches the shards of everyone who wrote to
them (bench/bench_unlearn.py measures author versus conversation sharding).

SISA retraining versus a full retrain is measured by bench/bench_unlearn.py.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import gate_data as gd  # noqa: E402

from consentgate import ingest, workspace  # noqa: E402
from consentgate.gate.run import build_dataset  # noqa: E402
from consentgate.store.engine import make_engine  # noqa: E402

AS_OF = datetime(2025, 6, 1, tzinfo=UTC)
WITHDRAWN_AT = "2025-07-01T00:00:00Z"
RECHECK = datetime(2025, 8, 1, tzinfo=UTC)


def source_file(out: Path, records: int, members: int) -> Path:
    path = out / f"remediation-records-{records}-{members}.parquet"
    if path.exists():
        return path
    print(f"generating {records:,} messages over {members:,} members -> {path}")
    spec = gd.RecordSpec(n_records=records, n_members=members, message_fraction=1.0)
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, gd.RECORD_SCHEMA, compression="zstd") as writer:
        for batch in gd.record_batches(spec):
            writer.write_batch(batch)
    tmp.rename(path)
    return path


def timed(label: str, run: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    print(f"  {label:<11} {seconds:8.2f} s")
    return seconds, result


def jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def ids(directory: Path) -> set[str]:
    table = ds.dataset(directory / "data", format="parquet").to_table(columns=["id"])
    return set(table.column("id").to_pylist())


def workspace_for(work: Path, members: int) -> Any:
    engine = make_engine(f"sqlite:///{work / 'ledger.db'}")
    workspace.init_workspace(engine)
    data = ROOT / "src" / "consentgate" / "data"
    for v in ("v1", "v2"):
        workspace.publish_policy(
            engine,
            (data / f"policy-{v}.yaml").read_text(encoding="utf-8"),
            name=str(data / f"policy-{v}.yaml"),
            notice_days=30,
        )
    names = gd.member_ids(members).to_pylist()
    (work / "members.csv").write_text(
        "member_id,jurisdiction\n" + "".join(f"{m},EU\n" for m in names)
    )
    workspace.import_members(
        engine, ingest.read_members(work / "members.csv"), source=str(work / "members.csv")
    )
    grants = [
        {
            "member_id": m,
            "type": "grant",
            "setting": "ai_training_messages_partners",
            "policy_version": "v2",
            "effective_at": "2024-09-20T00:00:00Z",
            "covers_from": "2023-01-01T00:00:00Z",
        }
        for m in names
    ]
    path = jsonl(work / "grants.jsonl", grants)
    workspace.import_events(engine, ingest.read_event_lines(path), source=str(path))
    return engine, names


def withdraw(engine: Any, work: Path, members: list[str], name: str) -> None:
    rows = [
        {
            "member_id": m,
            "type": "withdraw",
            "setting": "ai_training_messages_partners",
            "effective_at": WITHDRAWN_AT,
        }
        for m in members
    ]
    path = jsonl(work / name, rows)
    workspace.import_events(engine, ingest.read_event_lines(path), source=str(path))


def keep_all(engine: Any) -> Any:
    """A third party's build always runs a redactor (it pseudonymizes the owner columns);
    this one keeps every text as it is, so the figures measure the gate, not redaction."""
    from consentgate.redact import parse_profile

    rules = parse_profile({"version": 1, "default_entity": "keep", "default_label": "keep"})
    return workspace.make_redactor(engine, rules=rules)


def rebuild(engine: Any, source: Path, out: Path, args: argparse.Namespace) -> Any:
    """Snapshot and gate the source again (``build`` without registering: the registry
    refuses a second dataset with the id of the remediated one, when they are identical)."""
    from consentgate.gate.owners import OwnerColumns
    from consentgate.store.audit import workspace_secret

    snap = workspace.build_snapshot(
        engine, use="train_ai_system", recipient="acme-ai", as_of=RECHECK, record=False
    )
    with engine.connect() as conn:
        owners = OwnerColumns.for_recipient(workspace_secret(conn), "acme-ai", drop=False)
    return build_dataset(
        source,
        snapshot=snap,
        out_dir=out,
        use="train_ai_system",
        recipient="acme-ai",
        as_of=RECHECK,
        shards=args.shards,
        shard_by=args.shard_by,
        owner_columns=owners,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--withdraw", type=int, default=200)
    parser.add_argument("--shards", type=int, default=32)
    parser.add_argument(
        "--shard-by", choices=["author", "conversation"], default="author", dest="shard_by"
    )
    parser.add_argument("--full", action="store_true", help="1M records, 100k members, 1,000")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    if args.full:
        args.records, args.members, args.withdraw = 1_000_000, 100_000, 1_000
    args.out.mkdir(parents=True, exist_ok=True)
    source = source_file(args.out, args.records, args.members)
    work = args.out / "work-remediation"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    print(
        f"{args.records:,} messages, {args.members:,} members, {args.withdraw:,} withdrawals, "
        f"{args.shards} shards by {args.shard_by}; source {source.stat().st_size / 1e6:.0f} MB"
    )
    engine, names = workspace_for(work, args.members)
    built_s, built = timed(
        "build",
        lambda: workspace.build(
            engine,
            source,
            use="train_ai_system",
            recipient="acme-ai",
            out=work / "dataset",
            as_of=AS_OF,
            shards=args.shards,
            shard_by=args.shard_by,
            redactor=keep_all(engine),
        ),
    )
    step = max(1, len(names) // args.withdraw)
    leaving = names[::step][: args.withdraw]
    withdraw_s, _ = timed("withdraw", lambda: withdraw(engine, work, leaving, "w.jsonl"))
    orders = workspace.list_orders(engine)
    print(
        f"              -> {len(orders)} open orders ({sum(o['kind'] == 'dataset' for o in orders)} dataset shards)"
    )
    remediate_s, done = timed(
        "remediate",
        lambda: workspace.remediate(engine, built.dataset_id, as_of=RECHECK),
    )
    rebuild_s, rebuilt = timed("rebuild", lambda: rebuild(engine, source, work / "rebuilt", args))
    same = ids(done.out) == ids(work / "rebuilt")
    new_files = json.loads((done.out / "manifest.json").read_text())["files"]
    identical = rebuilt.manifest["files"] == new_files
    one = names[1] if names[1] not in leaving else names[2]
    withdraw(engine, work, [one], "w1.jsonl")
    one_s, done1 = timed(
        "remediate1",
        lambda: workspace.remediate(engine, str(done.new_dataset_id), as_of=RECHECK),
    )
    n = built.counts.included
    print()
    print(
        f"dataset: {n:,} records; remediation removed {done.records_removed:,} "
        f"({done.records_removed / n:.1%}) of {args.withdraw:,} members' records"
    )
    print(
        f"  parts rewritten {len(done.parts_rewritten) + len(done.parts_removed)}, "
        f"kept byte-identical {len(done.parts_kept)}, shards touched {len(done.shards_touched)}"
    )
    print(f"  same record ids as the full rebuild: {same}; byte-identical parts: {identical}")
    print(f"  remediate  {n / remediate_s:12,.0f} records/s   {remediate_s:7.2f} s")
    print(f"  rebuild    {n / rebuild_s:12,.0f} records/s   {rebuild_s:7.2f} s")
    print(f"  rebuild / remediate = {rebuild_s / remediate_s:.2f}x")
    print(
        f"one more withdrawal: {done1.records_removed} records removed, "
        f"{len(done1.parts_rewritten) + len(done1.parts_removed)} of "
        f"{len(done1.parts_rewritten) + len(done1.parts_removed) + len(done1.parts_kept)} parts "
        f"rewritten, {one_s:.2f} s; rebuild / remediate = {rebuild_s / one_s:.2f}x"
    )
    print(
        f"(initial build {built_s:.2f} s; recording {args.withdraw:,} withdrawals and opening "
        f"their orders {withdraw_s:.2f} s)"
    )
    assert same, "the remediated dataset differs from the rebuilt one"
    del rebuilt


if __name__ == "__main__":
    main()
