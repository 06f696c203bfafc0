"""The build as a user meets it (issue 12): the whole ``consentgate build … --no-redact``
process against a ``python`` process that reads and writes the same Parquet with pyarrow.

    python bench/bench_build_cli.py                          # 1M messages, 100k members
    python bench/bench_build_cli.py --records 1000000 --members 100000 --runs 5
    python bench/bench_build_cli.py --setup-only             # print the two commands
    python bench/bench_build_cli.py --before /tmp/main/src   # also time another checkout

``--before DIR`` adds a third command, the same build with ``PYTHONPATH=DIR`` (a checkout's
``src``, e.g. ``git archive main src | tar -x -C /tmp/main``) on its own ledger made by
that code (``ledger-before.db``, the same members and events), run in the same rotation,
for a before/after pair measured under the same load. Both sources are byte-compiled first
(``compileall``), as an installed package is: without it a shell that sets
``PYTHONDONTWRITEBYTECODE`` recompiles ~80 modules on every start (~0.5 s).

Set-up (cached under bench/out/cli-<records>-<members>/, fixed seed): a SQLite ledger made
with the CLI itself — ``init``, a policy whose first-party setting covers private messages
for ``train_ai_system``, ``members import`` of a Parquet file and ``consent import`` of one
grant per member (covering every record) — and a source of private messages with 1-3
recipients each (tests/gate_data.py). Every record is included, so the build writes what
the copy writes, plus hashes, roots, the registry and the manifest.

Each run builds into a new directory (a dataset is never overwritten) and registers
another dataset in the ledger, as a user's repeated builds would. The two commands run in
turn, A B A B …, and the ratio is taken pair by pair (copy time / build time: the build's
throughput as a share of the copy's); the median is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import gate_data as gd  # noqa: E402

CONSENTGATE = Path(sys.executable).with_name("consentgate")
POLICY = """\
version: v1
published_at: 2022-01-02T00:00:00Z
effective_from: 2022-02-01T00:00:00Z
recipients: []
settings:
  - id: ai_training_messages
    label: Use my messages to train AI
    use: train_ai_system
    categories: [user.content.private]
    recipients: [first_party]
    defaults: {"*": "off"}
"""
COPY = (
    "import sys, pyarrow.parquet as pq\n"
    "pq.write_table(pq.read_table(sys.argv[1]), sys.argv[2], compression='zstd')\n"
)


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed


def workspace_env(work: Path, db: str = "ledger.db") -> dict[str, str]:
    return {
        **os.environ,
        "CONSENTGATE_DB_URL": f"sqlite:///{work / db}",
        "CONSENTGATE_KEY_DIR": str(work / "keys"),
    }


def ledger(work: Path, env: dict[str, str]) -> None:
    """Make the ledger with the CLI that ``env`` runs."""
    for args in (
        ["init"],
        ["policy", "publish", "policy.yaml"],
        ["members", "import", "members.parquet"],
        ["consent", "import", "events.jsonl"],
    ):
        print("set-up:", " ".join(args), f"{_run([str(CONSENTGATE), *args], env, work):.1f} s")


def setup(work: Path, records: int, members: int) -> Path:
    """The ledger and the source under ``work`` (made once); returns the source path."""
    source = work / "messages.parquet"
    if (work / "ready").exists():
        return source
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ids = gd.member_ids(members)
    jurisdictions = np.array(["US", "US-CA", "EU", "UK"])[np.arange(members) % 4]
    pq.write_table(
        pa.table({"member_id": ids, "jurisdiction": jurisdictions.tolist()}),
        work / "members.parquet",
    )
    with (work / "events.jsonl").open("w", encoding="utf-8") as out:
        for member in ids.to_pylist():
            event = {
                "member_id": member,
                "type": "grant",
                "setting": "ai_training_messages",
                "policy_version": "v1",
                "effective_at": "2022-03-01T00:00:00Z",
                "covers_from": "2020-01-01T00:00:00Z",
            }
            out.write(json.dumps(event) + "\n")
    (work / "policy.yaml").write_text(POLICY, encoding="utf-8")
    ledger(work, workspace_env(work))
    spec = gd.RecordSpec(
        n_records=records, n_members=members, message_fraction=1.0, unknown_fraction=0.0
    )
    with pq.ParquetWriter(source, gd.RECORD_SCHEMA, compression="zstd") as writer:
        for batch in gd.record_batches(spec):
            writer.write_batch(batch)
    (work / "ready").touch()
    return source


def commands(work: Path, source: Path, out: Path) -> tuple[list[str], list[str]]:
    build = [
        str(CONSENTGATE), "build", str(source), "--use", "train_ai_system",
        "--recipient", "first_party", "--no-redact", "--out", str(out),
    ]  # fmt: skip
    copy = [sys.executable, "-c", COPY, str(source), str(out.with_suffix(".parquet"))]
    return build, copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--setup-only", action="store_true")
    parser.add_argument("--before", type=Path, help="another checkout's src, timed alike")
    args = parser.parse_args()
    sources = [ROOT / "src"] + ([args.before] if args.before else [])
    for src in sources:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=True)
    work = ROOT / "bench" / "out" / f"cli-{args.records}-{args.members}"
    source = setup(work, args.records, args.members)
    env = workspace_env(work)
    if args.setup_only:
        build, copy = commands(work, source, work / "builds" / "OUT")
        print("cd", work)
        print(" ".join(f"{k}={env[k]}" for k in ("CONSENTGATE_DB_URL", "CONSENTGATE_KEY_DIR")))
        print("build:", " ".join(build))
        print("copy: ", " ".join(copy))
        return
    labels = ["build", "copy"] + (["before"] if args.before else [])
    before_env = {**workspace_env(work, "ledger-before.db"), "PYTHONPATH": str(args.before)}
    if args.before and not (work / "ledger-before.db").exists():
        ledger(work, before_env)  # its own ledger, at the schema revision that code expects
    times: dict[str, list[float]] = {label: [] for label in labels}
    with tempfile.TemporaryDirectory(dir=work) as name:
        tmp = Path(name)
        for run in range(args.runs + 1):  # the first round warms the page cache
            build, copy = commands(work, source, tmp / f"b{run}")
            argv = {"build": (build, env), "copy": (copy, env)}
            if args.before:
                argv["before"] = (commands(work, source, tmp / f"a{run}")[0], before_env)
            took = {label: _run(a, e, work) for label, (a, e) in argv.items()}
            for out in tmp.iterdir():
                shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink()
            if run:
                for label, seconds in took.items():
                    times[label].append(seconds)
                print(
                    f"run {run}: "
                    + ", ".join(f"{label} {seconds:.2f} s" for label, seconds in took.items())
                )
    copies = times["copy"]
    print(
        f"{args.records:,} private messages, {args.members:,} members, {args.runs} rounds, "
        f"{os.cpu_count()} CPUs (medians; ratio = copy time / build time, pair by pair):"
    )
    for label in labels:
        line = f"  {label:6} {statistics.median(times[label]):7.2f} s"
        if label != "copy":
            ratios = [c / b for b, c in zip(times[label], copies, strict=True)]
            line += f"   ratio to the copy {statistics.median(ratios):.2f}"
        print(line)


if __name__ == "__main__":
    main()
