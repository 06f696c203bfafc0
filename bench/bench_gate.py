"""Gate throughput against a plain Parquet copy of the same data, in one run.

    python bench/bench_gate.py              # 1M records, 200k members (a few minutes)
    python bench/bench_gate.py --full       # 5M records, 1M members (~15 min on 2 cores)
    python bench/bench_gate.py --records N --members M --repeat K --no-spark
    python bench/bench_gate.py --no-redact --workers W
    python bench/bench_gate.py --no-spark --ner   # redaction with statistical NER (issue 15)

Synthetic data (tests/gate_data.py, fixed seed): private messages of ~600 bytes with 1-3
recipients and public posts, cached under bench/out/. Measured with the same writer settings
(zstd) and batch size; local runs interleaved, best of ``--repeat`` (the machine may be
shared), Spark runs once:

  copy        pyarrow: read the Parquet file, write it again (the limit)
  gate        read -> gate_batch (consent checks) -> write the included rows; the index
              holds consent at the cutoff and at a later build time (2% of the grants
              withdrawn, 0.5% of the members erased since), as a build with a past
              --as-of judges every record at both times
  gate-1t     the same with consent at the cutoff alone (a build whose cutoff is its build
              time, or audit-dataset): the cost of the second time is gate-1t / gate
  gate-all    the same with a snapshot where every member consents to everything, so
              it writes (almost) every row, like the copy: the gate's own overhead
  build       build_dataset() at both times: the gate plus source/part hashing, member
              counts, Merkle root of the included ids, manifest and fsync (what
              `consentgate build` runs, without the ledger)
  spark-copy  Spark local[2]: read the Parquet file, write it again (Spark's own limit)
  spark-cold  Spark local[2]: gate_spark_dataframe -> filter -> Spark's Parquet write,
              first run (starts the Python workers, broadcasts the index)
  spark       the same, run again (session start-up and a warm-up copy not counted)

With redaction (skipped with --no-redact), the default profile (``Redactor()``) and a
member directory of every synthetic member with a name drawn, with a fixed seed, from
Faker's en_US first and last name lists, and an email address:

  gate-red    the "gate" loop with the redactor in gate_batch (one process)
  build-red1  build_dataset(redactor=..., workers=1): gate and redact in this process
  build-red   build_dataset(redactor=..., workers=W): W worker processes gate and redact
              batches while this one reads and writes (W: --workers, default 2)

Throughput is input records/s and MB/s of input (uncompressed Arrow bytes); "ratio" is
throughput / copy throughput. Goals: gate >= 0.7 of the copy; the gate with redaction
>= 0.3 of the consent-only gate (gate-red / gate, build-red / build).

Caveat: the synthetic texts are words drawn from a small vocabulary (no names, numbers
or identifiers), so the redactor scans every eligible text but finds little to replace;
messages dense with personal data cost more per row (see docs/redaction.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import gate_data as gd  # noqa: E402

from consentgate.gate.batch import Redactor as GateRedactor  # noqa: E402
from consentgate.gate.batch import gate_batch, prepare  # noqa: E402
from consentgate.gate.run import (  # noqa: E402
    WRITER_OPTIONS,
    BuildResult,
    build_dataset,
    parallel_workers,
)
from consentgate.redact import Directory, Redactor, default_ner  # noqa: E402
from consentgate.snapshot import GRANTS_SCHEMA, MEMBERS_SCHEMA, ConsentSnapshot  # noqa: E402


def source_file(out: Path, records: int, members: int, batch_rows: int) -> Path:
    path = out / f"records-{records}-{members}.parquet"
    if path.exists():
        return path
    print(f"generating {records:,} records over {members:,} members -> {path}")
    spec = gd.RecordSpec(n_records=records, n_members=members)
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, gd.RECORD_SCHEMA, compression="zstd") as writer:
        for batch in gd.record_batches(spec, batch_rows=batch_rows):
            writer.write_batch(batch)
    tmp.rename(path)
    return path


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def plain_copy(source: Path, target: Path, batch_rows: int) -> None:
    reader = pq.ParquetFile(source)
    with pq.ParquetWriter(target, reader.schema_arrow, **WRITER_OPTIONS) as writer:
        for batch in reader.iter_batches(batch_size=batch_rows):
            writer.write_table(pa.Table.from_batches([batch]), row_group_size=batch_rows)


def directory(members: int, seed: int = gd.SEED + 2) -> Directory:
    """Every synthetic member with a name from Faker's en_US lists and an email address."""
    from faker.providers.person.en_US import Provider

    first = np.array(list(Provider.first_names), dtype=object)
    last = np.array(list(Provider.last_names), dtype=object)
    rng = np.random.default_rng(seed)
    f = rng.choice(first, members)
    g = rng.choice(last, members)
    names = [f"{a} {b}" for a, b in zip(f.tolist(), g.tolist(), strict=True)]
    emails = [
        f"{a.lower()}.{b.lower()}{i}@example.com"
        for i, (a, b) in enumerate(zip(f.tolist(), g.tolist(), strict=True))
    ]
    return Directory(gd.member_ids(members).to_pylist(), names, emails)


def gate_only(
    source: Path,
    target: Path,
    snapshot: ConsentSnapshot,
    batch_rows: int,
    redactor: GateRedactor | None = None,
    at_build: ConsentSnapshot | None = None,
) -> None:
    index = prepare(snapshot, at_build=at_build)
    reader = pq.ParquetFile(source)
    width = len(reader.schema_arrow)
    with pq.ParquetWriter(target, reader.schema_arrow, **WRITER_OPTIONS) as writer:
        for batch in reader.iter_batches(batch_size=batch_rows):
            out = gate_batch(batch, index, redactor=redactor)
            kept = out.batch.select(list(range(width)))
            if not out.eligible.all():
                kept = kept.filter(pa.array(out.eligible))
            writer.write_table(pa.Table.from_batches([kept]), row_group_size=batch_rows)


def spark_runs(source: Path, work: Path, snapshot: ConsentSnapshot) -> dict[str, float]:
    from pyspark.sql import functions as F

    from consentgate.gate.spark import gate_spark_dataframe, local_session

    spark = local_session()
    df = spark.read.parquet(str(source))

    def copy(target: Path) -> None:
        df.write.option("compression", "zstd").parquet(str(target))

    copy(work / "spark-warm-up")  # JIT and Python workers
    results = {"spark-copy": timed(lambda: copy(work / "spark-copy"))}

    def gate() -> None:
        gated = gate_spark_dataframe(df, index=prepare(snapshot))
        kept = gated.filter(F.col("_eligible")).drop("_eligible", "_reason")
        kept.write.option("compression", "zstd").parquet(str(work / "spark-gate"))

    results["spark-cold"] = timed(gate)  # first job: starts and warms the Python workers
    shutil.rmtree(work / "spark-gate")
    results["spark"] = timed(gate)
    spark.stop()
    return results


def later(snapshot: ConsentSnapshot, seed: int = gd.SEED + 3) -> ConsentSnapshot:
    """Consent at a build time 30 days after the cutoff: 2% of the grants withdrawn and
    0.5% of the members erased in between."""
    rng = np.random.default_rng(seed)
    grants = snapshot.grants
    gone = rng.random(grants.num_rows) < 0.02
    withdrawn = pa.concat_tables(
        [
            snapshot.withdrawn,
            grants.filter(pa.array(gone)).select(["member_id", "category"]),
        ]
    )
    erased = pa.array(
        np.asarray(snapshot.members["erased"].to_numpy(), bool)
        | (rng.random(snapshot.members.num_rows) < 0.005)
    )
    members = pa.table([snapshot.members["member_id"], erased], schema=MEMBERS_SCHEMA)
    return dataclasses.replace(
        snapshot,
        as_of=snapshot.as_of + timedelta(days=30),
        known_at=snapshot.as_of + timedelta(days=30),
        grants=grants.filter(pa.array(~gone)),
        withdrawn=withdrawn.cast(snapshot.withdrawn.schema),
        members=members,
    )


def allow_all(snapshot: ConsentSnapshot) -> ConsentSnapshot:
    """Every member consents to every category, for all time."""
    members = snapshot.members.column("member_id")
    grants = pa.table(
        {
            "member_id": pa.concat_arrays([members.combine_chunks()] * len(snapshot.categories)),
            "category": pa.array(
                [c for c in snapshot.categories for _ in range(len(members))], pa.string()
            ),
            "covers_from": pa.array([0] * len(members) * len(snapshot.categories), pa.int64()).cast(
                gd.TS
            ),
        },
        schema=GRANTS_SCHEMA,
    )
    erased = pa.array([False] * len(members))
    return dataclasses.replace(
        snapshot,
        grants=grants,
        members=pa.table([members, erased], schema=MEMBERS_SCHEMA),
        withdrawn=snapshot.withdrawn.slice(0, 0),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--full", action="store_true", help="5M records, 1M members")
    parser.add_argument("--batch-rows", type=int, default=65_536)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--repeat", type=int, default=2, help="local runs: best of N")
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark measurement")
    parser.add_argument("--no-redact", action="store_true", help="skip the redaction runs")
    parser.add_argument(
        "--ner", action="store_true", help="redaction runs with the spaCy NER (ner extra)"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="build-red worker processes (default: 2)"
    )
    args = parser.parse_args()
    if args.full:
        args.records, args.members = 5_000_000, 1_000_000
    args.out.mkdir(parents=True, exist_ok=True)
    source = source_file(args.out, args.records, args.members, args.batch_rows)
    meta = pq.ParquetFile(source).metadata
    raw_mb = (
        sum(
            meta.row_group(i).column(j).total_uncompressed_size
            for i in range(meta.num_row_groups)
            for j in range(meta.num_columns)
        )
        / 1e6
    )
    snapshot = gd.snapshot(gd.SnapshotSpec(n_members=args.members))
    work = args.out / "gate-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    print(
        f"{args.records:,} records, {args.members:,} members, "
        f"{source.stat().st_size / 1e6:,.0f} MB Parquet ({raw_mb:,.0f} MB uncompressed), "
        f"batch {args.batch_rows:,} rows"
    )
    results: dict[str, float] = {}
    everyone = allow_all(snapshot)
    at_build = later(snapshot)
    runs: dict[str, Callable[[], object]] = {
        "copy": lambda: plain_copy(source, work / "copy.parquet", args.batch_rows),
        "gate": lambda: gate_only(
            source, work / "gate.parquet", snapshot, args.batch_rows, at_build=at_build
        ),
        "gate-1t": lambda: gate_only(source, work / "gate1.parquet", snapshot, args.batch_rows),
        "gate-all": lambda: gate_only(source, work / "all.parquet", everyone, args.batch_rows),
        "build": lambda: built.append(
            build_dataset(
                source,
                snapshot=snapshot,
                at_build=at_build,
                out_dir=work / f"dataset-{len(built)}",
                use=snapshot.use,
                recipient=snapshot.recipient,
                as_of=snapshot.as_of,
                batch_rows=args.batch_rows,
            )
        ),
    }
    built: list[BuildResult] = []
    redacted: dict[str, list[BuildResult]] = {"build-red1": [], "build-red": []}
    if not args.no_redact:
        start = time.perf_counter()
        ner = default_ner() if args.ner else None
        if args.ner and ner is None:
            raise SystemExit("--ner: the ner extra is not installed")
        redactor = Redactor(directory=directory(args.members), ner=ner)
        workers = parallel_workers(args.workers or 2, redactor=redactor)
        print(
            f"directory of {args.members:,} members built in {time.perf_counter() - start:.1f} s;"
            f" build-red uses {workers} worker processes"
        )

        def build_red(name: str, n_workers: int) -> None:
            done = redacted[name]
            done.append(
                build_dataset(
                    source,
                    snapshot=snapshot,
                    out_dir=work / f"{name}-{len(done)}",
                    use=snapshot.use,
                    recipient=snapshot.recipient,
                    as_of=snapshot.as_of,
                    at_build=at_build,
                    batch_rows=args.batch_rows,
                    redactor=redactor,
                    workers=n_workers,
                )
            )

        runs["gate-red"] = lambda: gate_only(
            source, work / "gate-red.parquet", snapshot, args.batch_rows, redactor, at_build
        )
        runs["build-red1"] = lambda: build_red("build-red1", 1)
        runs["build-red"] = lambda: build_red("build-red", workers)
    for _ in range(args.repeat):  # interleaved, best of N: the machine is shared
        for name, run in runs.items():
            results[name] = min(results.get(name, float("inf")), timed(run))
    if not args.no_spark:
        results.update(spark_runs(source, work, snapshot))
    included = built[0].counts.included
    print(
        f"included {included:,} of {args.records:,} records (judged at the cutoff and the build time)\n"
    )
    print(f"{'run':<11}{'seconds':>10}{'records/s':>14}{'MB/s':>10}{'ratio':>8}")
    for name, seconds in results.items():
        print(
            f"{name:<11}{seconds:>10.2f}{args.records / seconds:>14,.0f}"
            f"{raw_mb / seconds:>10,.1f}{results['copy'] / seconds:>8.2f}"
        )
    print(f"second time (gate-1t / gate, goal >= 0.9): {results['gate-1t'] / results['gate']:.2f}")
    if "spark" in results:
        print(f"spark / spark-copy: {results['spark-copy'] / results['spark']:.2f}")
    if not args.no_redact:
        serial, parallel = redacted["build-red1"][0], redacted["build-red"][0]
        if {r.dataset_id for rs in redacted.values() for r in rs} != {serial.dataset_id}:
            raise AssertionError("redacted builds differ between runs or worker counts")
        manifest = serial.manifest
        print(
            f"\nwith redaction: included {serial.counts.included:,}; "
            f"redactions {manifest['redactions']}, exclusions {manifest['exclusions']}; "
            f"same dataset_id with 1 and {workers} workers: {parallel.dataset_id[:16]}..."
        )
        print("redaction ratio (goal >= 0.3):")
        for red, base in (("gate-red", "gate"), ("build-red1", "build"), ("build-red", "build")):
            print(f"  {red:<11}/ {base:<6}{results[base] / results[red]:>6.2f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
