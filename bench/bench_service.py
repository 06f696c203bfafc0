"""Benchmark the HTTP service (issue 11) on PostgreSQL over loopback, printing figures.

One ``consentgate`` service process (uvicorn, one worker, the real ``create_app`` with
JSON access logs) and this process as the load generator (httpx, asyncio, a bounded number
of requests in flight). Phases, each bounded in requests and in seconds:

* ``baseline``: a minimal endpoint of the same stack (FastAPI + SQLAlchemy + psycopg +
  uvicorn) that only inserts one row, no authentication: the ceiling of the stack;
* ``write``: member consent writes (grant/withdraw, JWT-authenticated, rate limit set out
  of the way), each one event + its audit-log entry + remediation planning, one transaction;
* ``read``: member status reads (``GET .../status``);
* ``receipt``: signed receipts (each proves an event against a checkpoint);
* ``write`` again at concurrency 1, to show whether concurrency helps writes at all: every
  write takes ``LOCK TABLE audit_log IN EXCLUSIVE MODE`` (the hash chain has one head).

    python bench/bench_service.py [--pg URL] [--members 5000] [--requests 4000]
                                  [--seconds 20] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import sqlalchemy as sa

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ROOT = Path(__file__).resolve().parent.parent
SECRET = b"bench-only-hs256-secret-" * 3
SETTING = "ai_training_posts"


# --------------------------------------------------------------------------- the server process


def serve(db_url: str) -> None:
    """Run the service plus the baseline endpoint (called in the child process)."""
    import uvicorn
    from fastapi import APIRouter

    from consentgate.config import Settings
    from consentgate.service import create_app
    from consentgate.service.observability import configure_logging
    from consentgate.store.engine import make_engine

    configure_logging()
    settings = Settings()  # from the CONSENTGATE_* environment set by the parent
    engine = make_engine(db_url)
    app = create_app(settings, engine=engine)
    rows = sa.Table(
        "bench_rows",
        sa.MetaData(),
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("member_id", sa.String(255), nullable=False),
        sa.Column("setting", sa.String(255), nullable=False),
    )
    rows.create(engine, checkfirst=True)
    baseline = APIRouter()

    @baseline.post("/bench/insert", name="bench_insert", status_code=201)
    def insert(body: dict[str, str]) -> dict[str, int]:
        with engine.begin() as conn:
            new_id = conn.execute(
                sa.insert(rows).values(member_id=body["member_id"], setting=body["setting"])
            ).inserted_primary_key
        return {"id": int(new_id[0]) if new_id else 0}

    # How long each write holds the audit log's lock: from the LOCK TABLE statement to
    # the transaction's commit call (the commit's own flush to disk comes on top).
    held: list[float] = []

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _locked(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("LOCK TABLE audit_log"):
            conn.info["locked_at"] = time.perf_counter()

    @sa.event.listens_for(engine, "commit")
    def _committing(conn: Any) -> None:
        t0 = conn.info.pop("locked_at", None)
        if t0 is not None:
            held.append(time.perf_counter() - t0)

    @baseline.post("/bench/lock-held", name="bench_lock_held")
    def lock_held() -> dict[str, float]:
        got = sorted(held)
        held.clear()
        if not got:
            return {"n": 0}
        return {
            "n": len(got),
            "mean_ms": round(1000 * sum(got) / len(got), 2),
            "p50_ms": round(1000 * got[len(got) // 2], 2),
            "p99_ms": round(1000 * got[min(len(got) - 1, int(len(got) * 0.99))], 2),
        }

    app.include_router(baseline)
    uvicorn.run(
        app, host="127.0.0.1", port=0, access_log=False, log_config=None, server_header=False
    )


# --------------------------------------------------------------------------- set-up


def prepare(pg: str, members: int, tmp: Path) -> tuple[str, str]:
    """A fresh schema with the example policies and ``members`` members; its URL and name."""
    from consentgate import ingest, workspace
    from consentgate.store.engine import make_engine

    schema = f"bench_svc_{uuid.uuid4().hex[:8]}"
    admin = make_engine(pg)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    url = f"{pg}{'&' if '?' in pg else '?'}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    workspace.init_workspace(engine)
    workspace.ensure_signing_key(engine, tmp / "keys" / "log.key")
    for v in ("v1", "v2"):
        workspace.publish_policy(engine, ROOT / "examples" / f"policy-{v}.yaml", notice_days=30)
    csv = tmp / "members.csv"
    jurs = ["US", "US-CA", "EU", "UK"]
    csv.write_text(
        "member_id,jurisdiction\n" + "".join(f"m{i},{jurs[i % 4]}\n" for i in range(members))
    )
    workspace.import_members(engine, ingest.read_members(csv), source=str(csv))
    engine.dispose()
    return url, schema


def drop(pg: str, schema: str) -> None:
    from consentgate.store.engine import make_engine

    admin = make_engine(pg)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def start_server(url: str, tmp: Path) -> tuple[subprocess.Popen[str], str]:
    (tmp / "jwt.secret").write_bytes(SECRET)
    env = {
        **os.environ,
        "CONSENTGATE_DB_URL": url,
        "CONSENTGATE_KEY_DIR": str(tmp / "keys"),
        "CONSENTGATE_SERVICE_JWT_KEY": str(tmp / "jwt.secret"),
        "CONSENTGATE_SERVICE_WRITE_RATE": "1000000",
        "CONSENTGATE_SERVICE_WRITE_BURST": "1000000",
    }
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", url],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stderr is not None
    for _ in range(200):  # bounded: start-up logs a handful of lines
        line = proc.stderr.readline()
        m = re.search(r"running on http://127\.0\.0\.1:(\d+)", line)
        if m:
            # keep draining the access log, or the server blocks on a full pipe; the
            # drain ends when the server closes its end
            subprocess.Popen(["cat"], stdin=proc.stderr, stdout=subprocess.DEVNULL)
            return proc, f"http://127.0.0.1:{m.group(1)}"
        if not line:
            break
    proc.kill()
    raise SystemExit("the service did not start")


# --------------------------------------------------------------------------- load


def tokens(members: int) -> list[str]:
    exp = int(time.time()) + 3600
    return [
        jwt.encode({"sub": f"m{i}", "exp": exp}, SECRET, algorithm="HS256") for i in range(members)
    ]


async def run_phase(
    base: str,
    make: Any,
    *,
    requests: int,
    seconds: float,
    concurrency: int,
) -> dict[str, Any]:
    """Send up to ``requests`` requests (stopping after ``seconds``) with ``concurrency``
    in flight; ``make(i)`` gives (method, path, json, headers, ok_statuses)."""
    latencies: list[float] = []
    errors = 0
    statuses: dict[int, int] = {}
    counter = iter(range(requests))
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                if time.perf_counter() > deadline:
                    return
                method, path, body, headers, ok = make(i)
                t0 = time.perf_counter()
                try:
                    r = await client.request(method, path, json=body, headers=headers)
                    status = r.status_code
                except httpx.HTTPError:
                    status = 0
                latencies.append(time.perf_counter() - t0)
                statuses[status] = statuses.get(status, 0) + 1
                if status not in ok:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "seconds": round(elapsed, 2),
        "per_second": round(n / elapsed, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 2),
        "p99_ms": round(1000 * latencies[min(n - 1, int(n * 0.99))], 2),
        "errors": errors,
        "statuses": statuses,
        "concurrency": concurrency,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default=PG)
    ap.add_argument("--members", type=int, default=5000)
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--receipts", type=int, default=300)
    ap.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve)
        return
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        t0 = time.perf_counter()
        url, schema = prepare(args.pg, args.members, tmp)
        print(
            f"set-up: {args.members} members, 2 policy versions ({time.perf_counter() - t0:.1f} s)"
        )
        proc, base = start_server(url, tmp)
        toks = tokens(args.members)
        granted: set[int] = set()
        lock: dict[str, Any] = {}
        try:

            def insert(i: int) -> Any:
                m = rng.randrange(args.members)
                return (
                    "POST",
                    "/bench/insert",
                    {"member_id": f"m{m}", "setting": SETTING},
                    {},
                    {201},
                )

            def write(i: int) -> Any:
                m = rng.randrange(args.members)
                grant = m not in granted
                (granted.add if grant else granted.discard)(m)
                body = (
                    {"type": "grant", "setting": SETTING, "policy_version": "v2"}
                    if grant
                    else {"type": "withdraw", "setting": SETTING}
                )
                h = {"Authorization": f"Bearer {toks[m]}"}
                return ("POST", f"/api/v1/members/m{m}/consent", body, h, {201})

            def read(i: int) -> Any:
                m = rng.randrange(args.members)
                h = {"Authorization": f"Bearer {toks[m]}"}
                path = f"/api/v1/members/m{m}/status?setting={SETTING}"
                return ("GET", path, None, h, {200})

            written = sorted(granted)

            def receipt(i: int) -> Any:
                m = written[i % len(written)] if written else 0
                h = {"Authorization": f"Bearer {toks[m]}"}
                return ("POST", f"/api/v1/members/m{m}/receipts", {}, h, {200})

            results: dict[str, Any] = {}
            kw = {"seconds": args.seconds, "concurrency": args.concurrency}
            # warm-up (connections, caches), not counted
            asyncio.run(run_phase(base, read, requests=200, seconds=10, concurrency=8))
            results["baseline"] = asyncio.run(run_phase(base, insert, requests=args.requests, **kw))
            httpx.post(f"{base}/bench/lock-held", timeout=30)  # forget the set-up's
            results["write"] = asyncio.run(run_phase(base, write, requests=args.requests, **kw))
            lock = httpx.post(f"{base}/bench/lock-held", timeout=30).json()
            written = sorted(granted)
            results["read"] = asyncio.run(run_phase(base, read, requests=args.requests, **kw))
            results["receipt"] = asyncio.run(run_phase(base, receipt, requests=args.receipts, **kw))
            results["write_c1"] = asyncio.run(
                run_phase(
                    base, write, requests=args.requests // 4, seconds=args.seconds, concurrency=1
                )
            )
            results["baseline_c1"] = asyncio.run(
                run_phase(
                    base, insert, requests=args.requests // 4, seconds=args.seconds, concurrency=1
                )
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            drop(args.pg, schema)
    print(
        f"{'phase':<12}{'conc':>5}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>7}"
    )
    for name, r in results.items():
        print(
            f"{name:<12}{r['concurrency']:>5}{r['requests']:>9}{r['per_second']:>9}"
            f"{r['p50_ms']:>9}{r['p99_ms']:>9}{r['errors']:>7}"
        )
    print("load average (1, 5, 15 min) at the end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    if lock.get("n"):
        print(
            f"audit-log lock held per write (32 in flight): mean {lock['mean_ms']} ms, "
            f"p50 {lock['p50_ms']} ms, p99 {lock['p99_ms']} ms over {lock['n']:.0f} writes; "
            f"ceiling while it is held that long: {1000 / lock['mean_ms']:.0f} writes/s"
        )
    ratio = results["write"]["per_second"] / results["baseline"]["per_second"]
    print(f"writes / baseline: {ratio:.2f}x")
    print(json.dumps({**results, "lock_held": lock}, sort_keys=True))


if __name__ == "__main__":
    main()
