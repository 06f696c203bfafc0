"""What the ecosystem documents and lineage add to a build (issue 13), in one run.

    python bench/bench_ecosystem.py                 # 1M records, 200k members
    python bench/bench_ecosystem.py --records N --members M --repeat K

Same synthetic source as bench_gate.py (tests/gate_data.py, fixed seed, cached under
bench/out/). Interleaved, the order reversed every other round, best of ``--repeat`` (the
machine is shared):

  build       build_dataset() at two times (gate, hashes, counts, Merkle root, manifest)
  build+eco   the same, publishing through ``documenting`` (croissant.json and README.md
              written into the staged directory) and then emitting the START and COMPLETE
              OpenLineage events of the build to a file transport
  eco alone   write_documents() + emit_dataset_run() on the built dataset (the added work,
              measured on its own: the difference of two ~3 s runs is within their noise)

Overhead = (build+eco - build) / build, and eco alone / build. Goal: < 2%.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import gate_data as gd  # noqa: E402
from bench_gate import later, source_file, timed  # noqa: E402

from consentgate.ecosystem.documents import documenting, write_documents  # noqa: E402
from consentgate.ecosystem.lineage import emit_dataset_run, local_dataset  # noqa: E402
from consentgate.gate.run import build_dataset  # noqa: E402
from consentgate.gate.staging import publish_by_rename  # noqa: E402
from consentgate.timestamps import utcnow  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--batch-rows", type=int, default=65_536)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--repeat", type=int, default=4)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    source = source_file(args.out, args.records, args.members, args.batch_rows)
    snapshot = gd.snapshot(gd.SnapshotSpec(n_members=args.members))
    at_build = later(snapshot)
    work = args.out / "eco-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    lineage = work / "lineage.jsonl"
    config = {"transport": {"type": "file", "log_file_path": str(lineage), "append": True}}
    n = {"build": 0, "eco": 0}

    def build(eco: bool) -> Path:
        key = "eco" if eco else "build"
        out = work / f"{key}-{n[key]}"
        n[key] += 1
        build_dataset(
            source,
            snapshot=snapshot,
            at_build=at_build,
            out_dir=out,
            use=snapshot.use,
            recipient=snapshot.recipient,
            as_of=snapshot.as_of,
            batch_rows=args.batch_rows,
            publish=documenting(publish_by_rename) if eco else None,
        )
        if eco:
            emit_dataset_run(config, "build", out, inputs=[local_dataset(source)], now=utcnow())
        return out

    def eco_alone() -> None:
        target = work / "build-0"
        write_documents(target)
        emit_dataset_run(config, "build", target, inputs=[local_dataset(source)], now=utcnow())

    results: dict[str, float] = {}
    build(False)  # warm-up (page cache, imports); not counted
    runs = {"build": lambda: build(False), "build+eco": lambda: build(True), "eco alone": eco_alone}
    order = list(runs)
    for i in range(args.repeat):  # interleaved, the order reversed every other round
        for name in order if i % 2 == 0 else order[::-1]:
            results[name] = min(results.get(name, float("inf")), timed(runs[name]))
    print(f"{args.records:,} records, {args.members:,} members, best of {args.repeat}\n")
    print(f"{'run':<11}{'seconds':>10}{'records/s':>14}")
    for name, seconds in results.items():
        print(f"{name:<11}{seconds:>10.3f}{args.records / seconds:>14,.0f}")
    base = results["build"]
    print(
        f"\noverhead: build+eco vs build {100 * (results['build+eco'] - base) / base:+.2f}%; "
        f"eco alone / build {100 * results['eco alone'] / base:.3f}%"
    )
    events = sum(1 for _ in lineage.open())
    print(f"{events} OpenLineage events written to {lineage}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - start:.0f} s")
