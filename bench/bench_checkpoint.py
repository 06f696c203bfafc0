"""Cost of automatic checkpoints on import (issue 16.4), same run, with vs without.

Runs the real CLI entry point in this process on a fresh SQLite ledger (and PostgreSQL
with ``--pg``): ``--imports`` imports of ``--events`` consent events each, once with
``CONSENTGATE_AUTO_CHECKPOINT=true`` (a signed checkpoint after every import, the
latest also written to the key directory) and once with it off; prints seconds per
import for each and the ratio, in wall time and in this process's CPU time (the
figure that a loaded machine disturbs least; on PostgreSQL it leaves out the server's).

    python bench/bench_checkpoint.py [--events 5000] [--imports 8] [--pg URL] [--direct]

``--direct`` times the checkpoint alone after each import (median of the imports).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from consentgate.cli import main
from consentgate.store.engine import make_engine
from consentgate.workspace.autocheckpoint import after_command

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(*argv: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main(list(argv))
        except SystemExit as exc:
            if exc.code:
                raise RuntimeError(f"{argv[2:4]} exited {exc.code}") from None


def one(
    url: str, root: Path, *, auto: bool, events: int, imports: int, direct: bool = False
) -> list[tuple[float, float]]:
    """Seconds (wall, CPU) per import; with ``direct``, of the checkpoint alone: each
    import runs without one, then ``autocheckpoint.after_command`` is timed by itself."""
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
        if direct:
            run("--db", url, "consent", "import", str(path))
            engine = make_engine(url)
            key_dir = root / f"keys-{auto}"
            start, cpu = time.perf_counter(), time.process_time()
            after_command(engine, key_dir / "log.key", key_dir, every=1)
            times.append((time.perf_counter() - start, time.process_time() - cpu))
            engine.dispose()
            continue
        start, cpu = time.perf_counter(), time.process_time()
        run("--db", url, "consent", "import", str(path))
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    return times


def pg_url(base: str) -> tuple[str, sa.Engine, str]:
    schema = f"b_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    return f"{base}?options=-csearch_path%3D{schema}", admin, schema


def _url(backend: str, root: Path, pg: str | None) -> tuple[str, tuple[sa.Engine, str] | None]:
    if backend == "sqlite":
        return f"sqlite:///{root / 'ledger.db'}", None
    assert pg is not None
    url, admin, schema = pg_url(pg)
    return url, (admin, schema)


def _drop(cleanup: tuple[sa.Engine, str] | None) -> None:
    if cleanup:
        with cleanup[0].begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{cleanup[1]}" CASCADE'))
        cleanup[0].dispose()


def main_() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--imports", type=int, default=8)
    parser.add_argument("--pg", default=None)
    parser.add_argument(
        "--direct",
        action="store_true",
        help="time the checkpoint after each import by itself (median wall and CPU seconds)",
    )
    args = parser.parse_args()
    backends = ["sqlite"] + (["postgres"] if args.pg else [])
    for backend in backends:
        if args.direct:
            with tempfile.TemporaryDirectory() as tmp:
                url, cleanup = _url(backend, Path(tmp), args.pg)
                try:
                    got = one(
                        url, Path(tmp), auto=False, events=args.events, imports=args.imports,
                        direct=True,
                    )  # fmt: skip
                finally:
                    _drop(cleanup)
            wall = statistics.median(w for w, _ in got)
            cpu = statistics.median(c for _, c in got)
            print(
                f"{backend}: checkpoint after each of {args.imports} imports of {args.events} "
                f"events: median {wall * 1000:.0f} ms wall, {cpu * 1000:.0f} ms CPU of this "
                f"process (all: {', '.join(f'{w * 1000:.0f}/{c * 1000:.0f}' for w, c in got)})"
            )
            continue
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
        off, on = (sum(w for w, _ in results[a]) / args.imports for a in (False, True))
        off_cpu, on_cpu = (sum(c for _, c in results[a]) / args.imports for a in (False, True))
        print(
            f"{backend}: {args.imports} imports of {args.events} events: "
            f"{off:.3f} s/import without automatic checkpoints, {on:.3f} s with "
            f"(ratio {on / off:.2f}, +{(on - off) * 1000:.0f} ms per import); "
            f"CPU time of this process {off_cpu:.3f} s vs {on_cpu:.3f} s "
            f"(+{(on_cpu - off_cpu) * 1000:.0f} ms per import)"
        )


if __name__ == "__main__":
    main_()
