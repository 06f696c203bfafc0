"""Cost of automatic checkpoints on import (issue 16.4), same run, with vs without.

Runs the real CLI entry point in this process on a fresh SQLite ledger (and PostgreSQL
with ``--pg``): ``--imports`` imports of ``--events`` consent events each, once with
``CONSENTGATE_AUTO_CHECKPOINT=true`` (a signed checkpoint after every import, the
latest also written to the key directory) and once with it off; prints seconds per
import for each and the ratio.

    python bench/bench_checkpoint.py [--events 5000] [--imports 8] [--pg URL]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from consentgate.cli import main
from consentgate.store.engine import make_engine

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(*argv: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main(list(argv))
        except SystemExit as exc:
            if exc.code:
                raise RuntimeError(f"{argv[2:4]} exited {exc.code}") from None


def one(url: str, root: Path, *, auto: bool, events: int, imports: int) -> list[float]:
    os.environ["CONSENTGATE_KEY_DIR"] = str(root / f"keys-{auto}")
    os.environ["CONSENTGATE_AUTO_CHECKPOINT"] = "true" if auto else "false"
    run("--db", url, "init")
    for v in ("v1", "v2"):
        run("--db", url, "policy", "publish", str(EXAMPLES / f"policy-{v}.yaml"))
    members = root / f"m-{auto}.csv"
    members.write_text("member_id,jurisdiction\n" + "".join(f"m{i},US\n" for i in range(1000)))
    run("--db", url, "members", "import", str(members))
    times = []
    for n in range(imports):
        path = root / f"e-{auto}-{n}.jsonl"
        path.write_text(
            "".join(
                json.dumps(
                    {
                        "event_id": f"e{n}-{i}",
                        "member_id": f"m{i % 1000}",
                        "type": ("grant", "withdraw")[i % 2],
                        "setting": "ai_training_posts",
                        "policy_version": "v2",
                        "effective_at": f"2024-10-{1 + n:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
                    }
                )
                + "\n"
                for i in range(events)
            )
        )
        start = time.perf_counter()
        run("--db", url, "consent", "import", str(path))
        times.append(time.perf_counter() - start)
    return times


def pg_url(base: str) -> tuple[str, sa.Engine, str]:
    schema = f"b_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    return f"{base}?options=-csearch_path%3D{schema}", admin, schema


def main_() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--imports", type=int, default=8)
    parser.add_argument("--pg", default=None)
    args = parser.parse_args()
    backends = ["sqlite"] + (["postgres"] if args.pg else [])
    for backend in backends:
        results = {}
        for auto in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp)
                if backend == "sqlite":
                    url, cleanup = f"sqlite:///{root / 'ledger.db'}", None
                else:
                    url, admin, schema = pg_url(args.pg)
                    cleanup = (admin, schema)
                try:
                    results[auto] = one(
                        url, root, auto=auto, events=args.events, imports=args.imports
                    )
                finally:
                    if cleanup:
                        with cleanup[0].begin() as conn:
                            conn.execute(sa.text(f'DROP SCHEMA "{cleanup[1]}" CASCADE'))
                        cleanup[0].dispose()
        off = sum(results[False]) / len(results[False])
        on = sum(results[True]) / len(results[True])
        print(
            f"{backend}: {args.imports} imports of {args.events} events: "
            f"{off:.3f} s/import without automatic checkpoints, {on:.3f} s with "
            f"(ratio {on / off:.2f}, +{(on - off) * 1000:.0f} ms per import)"
        )


if __name__ == "__main__":
    main_()
