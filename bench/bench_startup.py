"""Start-up time of the command line (issue 10): wall time of ``consentgate --help``,
``consentgate consent status`` on a small SQLite ledger and ``consentgate audit verify
--help``, each against ``python -c pass`` measured in the same run (median of N runs,
interleaved so a busy machine slows every command alike).

    python bench/bench_startup.py [--runs 10]

The ledger is made in a temporary directory with the CLI itself (init, policy v1, two
members, one grant); ``consent status`` reads one member's consent for one setting.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSENTGATE = Path(sys.executable).with_name("consentgate")


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed


def _ledger(tmp: Path, env: dict[str, str]) -> None:
    (tmp / "members.csv").write_text("member_id,jurisdiction\nmem-1,EU\nmem-2,US\n")
    for args in (
        ["init"],
        ["policy", "publish", str(ROOT / "examples" / "policy-v1.yaml")],
        ["members", "import", "members.csv"],
        [
            "consent", "record", "mem-1", "--setting", "personalize_feed", "--type", "grant",
            "--policy-version", "v1",
        ],
    ):  # fmt: skip
        _run([str(CONSENTGATE), *args], env, tmp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env = {
            **os.environ,
            "CONSENTGATE_DB_URL": f"sqlite:///{tmp / 'ledger.db'}",
            "CONSENTGATE_KEY_DIR": str(tmp / "keys"),
        }
        _ledger(tmp, env)
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "consentgate --help": [str(CONSENTGATE), "--help"],
            "consentgate consent status": [
                str(CONSENTGATE), "consent", "status", "mem-1", "--setting", "personalize_feed",
            ],
            "consentgate audit verify --help": [str(CONSENTGATE), "audit", "verify", "--help"],
        }  # fmt: skip
        times: dict[str, list[float]] = {label: [] for label in cases}
        for argv in cases.values():  # warm the page cache and .pyc files
            _run(argv, env, tmp)
        for _ in range(args.runs):
            for label, argv in cases.items():
                times[label].append(_run(argv, env, tmp))
    base = statistics.median(times["python -c pass"])
    print(f"median of {args.runs} runs; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"{'command':34} {'median s':>9} {'over bare python s':>19}")
    for label, values in times.items():
        median = statistics.median(values)
        print(f"{label:34} {median:9.3f} {median - base:19.3f}")


if __name__ == "__main__":
    main()
