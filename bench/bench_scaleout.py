"""Scale-out (issue 12): the Spark runner against Spark's own copy, the local runner against
a pyarrow copy, and the local runner's peak memory as the records grow.

    python bench/bench_scaleout.py                       # 1M records, 200k members
    python bench/bench_scaleout.py --records 5000000 --members 1000000
    python bench/bench_scaleout.py --no-spark --rss 1000000,5000000,10000000

Synthetic data (tests/gate_data.py, fixed seed; ~600-byte private messages with 1-3
recipients and public posts), cached under bench/out/. In one run:

  copy         pyarrow: read the Parquet file, write it again (zstd, the gate's settings)
  local-all    build_dataset(runner="local") with every member consenting to everything,
               so (almost) every record is written like the copy: parts, hashes, member
               counts, records root, manifest, fsync
  spark-copy   Spark local[2]: read the Parquet file, write it again (Spark's own limit;
               after a warm-up copy)
  spark-build  build_dataset(runner="spark") with consent at the cutoff and a later build
               time: the executors gate and write the parts; the driver reads summaries
  spark-all    the same with every member consenting

``--rss N,N,...``: for each N, a fresh process runs build_dataset(runner="local") over N
records (100-byte texts, every member consenting) and reports its own peak RSS
(``ru_maxrss``); the goal is flat within 20% from 1M to 10M.

Ratios are throughput / copy throughput in the same run (the machine is shared: absolute
times vary, ratios less so).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import gate_data as gd  # noqa: E402
from bench_gate import allow_all, later, plain_copy, source_file, timed  # noqa: E402

from consentgate.gate.run import build_dataset  # noqa: E402
from consentgate.snapshot import ConsentSnapshot  # noqa: E402


def build(
    source: Path,
    out: Path,
    snapshot: ConsentSnapshot,
    at_build: ConsentSnapshot | None,
    runner: str,
    batch_rows: int,
) -> int:
    result = build_dataset(
        source,
        snapshot=snapshot,
        at_build=at_build,
        out_dir=out,
        use=snapshot.use,
        recipient=snapshot.recipient,
        as_of=snapshot.as_of,
        runner=runner,  # type: ignore[arg-type]
        batch_rows=batch_rows,
    )
    return result.counts.included


def rss_child(records: int, members: int, out: Path, batch_rows: int) -> None:
    """Runs in a fresh process: one local build; prints its peak RSS (MiB)."""
    path = out / f"rss-{records}-{members}.parquet"
    if not path.exists():
        spec = gd.RecordSpec(n_records=records, n_members=members, text_bytes=100)
        tmp = path.with_suffix(".tmp")
        with pq.ParquetWriter(tmp, gd.RECORD_SCHEMA, compression="zstd") as writer:
            for batch in gd.record_batches(spec, batch_rows=batch_rows):
                writer.write_batch(batch)
        tmp.rename(path)
        print(json.dumps({"generated": records}), flush=True)
        return  # measured in a process that did not generate the data
    snapshot = allow_all(gd.snapshot(gd.SnapshotSpec(n_members=members)))
    target = out / f"rss-build-{records}"
    shutil.rmtree(target, ignore_errors=True)
    included = build(path, target, snapshot, None, "local", batch_rows)
    shutil.rmtree(target, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"records": records, "included": included, "peak_mib": round(peak)}))


def rss_runs(counts: list[int], members: int, out: Path, batch_rows: int) -> None:
    print(f"local runner peak RSS ({members:,} members, every record included):")
    for n in counts:
        for _ in range(2):  # the first run may only generate the source
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--rss-child",
                    str(n),
                    "--members",
                    str(members),
                    "--out",
                    str(out),
                    "--batch-rows",
                    str(batch_rows),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            got = json.loads(done.stdout.strip().splitlines()[-1])
            if "peak_mib" in got:
                print(
                    f"  {n:>11,} records  included {got['included']:>11,}  "
                    f"peak RSS {got['peak_mib']:>6} MiB",
                    flush=True,
                )
                break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--batch-rows", type=int, default=65_536)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--no-local", action="store_true")
    parser.add_argument("--rss", type=str, default="", help="record counts, comma-separated")
    parser.add_argument("--rss-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.rss_child:
        rss_child(args.rss_child, args.members, args.out, args.batch_rows)
        return
    if args.rss:
        rss_runs([int(n) for n in args.rss.split(",")], args.members, args.out, args.batch_rows)
        if args.no_spark and args.no_local:
            return
    source = source_file(args.out, args.records, args.members, args.batch_rows)
    work = args.out / "scaleout"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    snapshot = gd.snapshot(gd.SnapshotSpec(n_members=args.members))
    at_build = later(snapshot)
    everyone = allow_all(snapshot)
    rows = pq.ParquetFile(source).metadata.num_rows
    times: dict[str, float] = {}
    included: dict[str, int] = {}
    if not args.no_local:
        times["copy"] = timed(lambda: plain_copy(source, work / "copy.parquet", args.batch_rows))
        times["local-all"] = timed(
            lambda: included.__setitem__(
                "local-all",
                build(source, work / "local-all", everyone, None, "local", args.batch_rows),
            )
        )
    if not args.no_spark:
        from consentgate.gate.spark import local_session

        spark = local_session()
        df = spark.read.parquet(str(source))

        def spark_copy(target: Path) -> None:
            df.write.option("compression", "zstd").parquet(str(target))

        spark_copy(work / "spark-warm-up")
        times["spark-copy"] = timed(lambda: spark_copy(work / "spark-copy"))
        for name, snap, later_snap in (
            ("spark-build", snapshot, at_build),
            ("spark-all", everyone, None),
        ):
            times[name] = timed(
                lambda name=name, snap=snap, later_snap=later_snap: included.__setitem__(
                    name,
                    build(source, work / name, snap, later_snap, "spark", args.batch_rows),
                )
            )
        spark.stop()
    print(f"{rows:,} records, {args.members:,} members, batch_rows {args.batch_rows}")
    for name, seconds in times.items():
        base = times.get("spark-copy" if name.startswith("spark") else "copy", seconds)
        kept = f"  included {included[name]:,}" if name in included else ""
        print(
            f"  {name:<12} {seconds:8.1f} s  {rows / seconds / 1e3:8.1f} k rec/s  "
            f"ratio {base / seconds:5.2f}{kept}"
        )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
