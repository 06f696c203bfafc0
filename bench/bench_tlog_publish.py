"""Benchmark the published, witnessed log (issue 14).

    python bench/bench_tlog_publish.py                        # 1,000,000 entries
    python bench/bench_tlog_publish.py --entries 100000 --store-entries 20000 --checkpoints 50

1. Publishing C2SP tiles: all of them for N entries into a directory (``build_tiles`` +
   ``PublishedDirectory``, entries shaped like audit entries, in memory), then
   incrementally, 1,000 new entries at a time (reading the published partial tiles back).
   The same through the ledger (``publish_log`` on a SQLite ledger of ``--store-entries``
   entries, which adds reading the entries from the database and signing).
2. A checkpoint cosigned by 3 local witnesses (``consentgate witness serve`` processes on
   127.0.0.1): latency of ``witness_checkpoint`` per new checkpoint (one entry more each
   time, with its consistency proof), p50 and p99.
3. tlog-proof files at N entries: a consent receipt and a dataset non-membership proof,
   cosigned by 3 witnesses: size, and verification time (with the policy's quorum).

Witnesses run on loopback only, three of them, stopped at the end (and on any error).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

from consentgate.tlog import audit
from consentgate.tlog.checkpoint import generate_signing_key, load_signer, sign_checkpoint
from consentgate.tlog.membership import MemberTree, member_key, member_secret
from consentgate.tlog.merkle import MerkleTree
from consentgate.tlog.policy import parse_policy
from consentgate.tlog.published import PublishedDirectory
from consentgate.tlog.receipts import entry_leaf
from consentgate.tlog.statements import (
    build_membership_proof,
    build_receipt_proof,
    verify_membership_proof,
    verify_receipt_proof,
)
from consentgate.tlog.tiles import TileReader, build_tiles, tile_path
from consentgate.tlog.witness_client import witness_checkpoint

ROWS: list[tuple[str, str]] = []
ORIGIN = "consentgate/bench0000000000000"


def row(what: str, value: str) -> None:
    ROWS.append((what, value))
    print(f"  {what:<62} {value}", flush=True)


def entries_of(start: int, stop: int) -> list[audit.AuditEntry]:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    items = (
        ("consent.recorded", "consent_events", f"ev-{i:032x}", f"{i:064x}")
        for i in range(start, stop)
    )
    prev = "0" * 64
    return [e for e, _ in audit.chain(start, prev, items, at=at)]


def publish_in_memory(directory: Path, n: int) -> None:
    print(f"1. tiles for {n:,} entries (in memory -> files)")
    out = PublishedDirectory(directory)
    data = [e.entry_bytes() for e in entries_of(0, n)]
    t0 = time.perf_counter()
    written = 0
    chunk = 65_536
    partials: dict[str, bytes] = {}
    lo = 0
    while lo < n:
        hi = min(lo + chunk, n)
        res = build_tiles(
            lo, hi, data[lo:hi], lambda lv, i, w, parts=partials: parts[tile_path(lv, i, w)]
        )
        partials = {p: d for p, d in res.items() if ".p/" in p}
        for p, d in res.items():
            if p not in partials:
                written += out.write(p, d)
        lo = hi
    for p, d in partials.items():
        written += out.write(p, d)
    full = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())
    row(
        "full publication",
        f"{full:.1f} s ({n / full:,.0f} entries/s), {written:,} files, {size / 2**20:,.0f} MiB",
    )
    tree_root = TileReader(n, out.fetch).root()
    times = []
    old = n
    for step in range(20):
        new = old + 1000
        more = [e.entry_bytes() for e in entries_of(old - old % 256, new)]
        t0 = time.perf_counter()
        res = build_tiles(old, new, more, lambda lv, i, w: out.fetch(tile_path(lv, i, w)))
        for p, d in res.items():
            out.write(p, d)
        times.append(time.perf_counter() - t0)
        old = new
        del step
    assert TileReader(old, out.fetch).root() != tree_root
    row(
        "incremental, +1,000 entries (20 steps)",
        f"p50 {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms",
    )


def publish_from_store(tmp: Path, n: int) -> None:
    from consentgate import workspace
    from consentgate.store import audit as store_audit
    from consentgate.store.engine import make_engine
    from consentgate.workspace.log_publication import publish_log

    print(f"1b. log publish from a SQLite ledger of {n:,} entries")
    engine = make_engine(f"sqlite:///{tmp / 'ledger.db'}")
    workspace.init_workspace(engine)
    key = tmp / "log.key"
    from consentgate import workspace

    workspace.ensure_signing_key(engine, key)
    at = datetime(2025, 1, 1, tzinfo=UTC)

    def add(count: int, start: int) -> None:
        items = [
            ("consent.recorded", "consent_events", f"ev-{i:032x}", f"{i:064x}")
            for i in range(start, start + count)
        ]
        with engine.begin() as conn:
            store_audit.append(conn, items, at=at)

    for s in range(0, n, 50_000):
        add(min(50_000, n - s), s)
    out = tmp / "pub-store"
    t0 = time.perf_counter()
    publish_log(engine, key, out)
    full = time.perf_counter() - t0
    row(
        "full `log publish` (read, chain-check, tiles, sign)",
        f"{full:.1f} s ({n / full:,.0f} entries/s)",
    )
    times = []
    for step in range(10):
        add(1000, n + step * 1000)
        t0 = time.perf_counter()
        publish_log(engine, key, out)
        times.append(time.perf_counter() - t0)
    row(
        "incremental `log publish`, +1,000 entries (10 steps)",
        f"p50 {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms",
    )
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def witnesses(tmp: Path, log_key_file: Path, count: int = 3) -> Iterator[list[tuple[str, str]]]:
    """``count`` witness processes on loopback: (verifier key, url) each; killed on exit."""
    exe = Path(sys.executable).with_name("consentgate")
    procs: list[subprocess.Popen[bytes]] = []
    out: list[tuple[str, str]] = []
    try:
        for i in range(count):
            key = tmp / f"w{i}.key"
            vkey = subprocess.run(
                [str(exe), "witness", "init", "--key", str(key), "--name", f"bench.test/w{i}"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            port = _free_port()
            procs.append(
                subprocess.Popen(
                    [
                        str(exe),
                        "witness",
                        "serve",
                        "--key",
                        str(key),
                        "--state",
                        str(tmp / f"w{i}.state"),
                        "--log",
                        str(log_key_file),
                        "--port",
                        str(port),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            out.append((vkey, f"http://127.0.0.1:{port}"))
        deadline = time.monotonic() + 30
        for _, url in out:
            while True:
                try:
                    httpx.get(url + "/" + "0" * 64 + "/checkpoint", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("witnesses did not start") from None
                    time.sleep(0.1)
        yield out
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cosign_and_proofs(tmp: Path, n: int, checkpoints: int) -> None:
    key = tmp / "bench.key"
    generate_signing_key(key, name=ORIGIN)
    signer = load_signer(key)
    (tmp / "log.pub").write_text(signer.verifier_key + "\n")
    entries = entries_of(0, n)
    tree = MerkleTree(entry_leaf(e) for e in entries)
    with witnesses(tmp, tmp / "log.pub") as ws:
        policy_text = (
            f"log {signer.verifier_key}\n"
            + "".join(f"witness w{i} {vkey} {url}\n" for i, (vkey, url) in enumerate(ws))
            + "group all3 all w0 w1 w2\nquorum all3\n"
        )
        policy = parse_policy(policy_text.encode())
        print(
            f"2. checkpoints cosigned by 3 witness processes on loopback ({checkpoints} checkpoints)"
        )
        sizes = {f"w{i}": 0 for i in range(3)}
        times = []
        client = httpx.Client(timeout=10)
        size = n - checkpoints
        note = ""
        for _ in range(checkpoints):
            size += 1
            note = sign_checkpoint(signer, origin=ORIGIN, size=size, root=tree.root(size))
            t0 = time.perf_counter()
            result = witness_checkpoint(
                note,
                size,
                policy,
                old_sizes=sizes,
                proof=lambda old, s=size: tree.consistency_proof(old, s) if 0 < old < s else [],
                client=client,
            )
            times.append(time.perf_counter() - t0)
            assert result.quorum, [o.detail for o in result.outcomes]
            sizes = dict.fromkeys(sizes, size)
            note = result.note
        row(
            "witness_checkpoint, 3 witnesses, quorum all 3",
            f"p50 {statistics.median(times) * 1000:.1f} ms, p99 {percentile(times, 0.99) * 1000:.1f} ms",
        )
    print(f"3. tlog-proof files at {size:,} entries, checkpoint cosigned by 3 witnesses")
    index = size // 2
    event = {
        "covers_from": None,
        "effective_at": datetime(2025, 1, 1, tzinfo=UTC),
        "event_id": entries[index].key,
        "evidence": None,
        "member_id": "member-123456",
        "policy_version": "v2",
        "recorded_at": datetime(2025, 1, 1, tzinfo=UTC),
        "seq": index + 1,
        "setting": "ai_training_posts",
        "source": "import",
        "type": "grant",
    }
    receipt = build_receipt_proof(
        signer,
        origin=ORIGIN,
        event=event,
        entry=entries[index],
        inclusion_proof=tree.inclusion_proof(index, size),
        checkpoint=note,
    )
    row("consent receipt (tlog-proof)", f"{len(receipt.encode()):,} bytes")
    t = best_of(lambda: verify_receipt_proof(receipt, policy=policy), 200)
    row("receipt verification (policy: log + 3 cosignatures)", f"{t * 1e6:,.0f} us")
    t = best_of(lambda: verify_receipt_proof(receipt, log_keys=[signer.verifier]), 200)
    row("receipt verification (log key only)", f"{t * 1e6:,.0f} us")
    wk = b"w" * 32
    members = MemberTree(
        member_key(member_secret(wk, f"m{i}"), f"m{i}", "ds-1") for i in range(100_000)
    )
    # A dataset proof needs its own leaf in the tree: a small log with one dataset entry.
    items = [("dataset.registered", "datasets", "ds-1", "cd" * 32)]
    dlog = [e for e, _ in audit.chain(0, "0" * 64, items, at=datetime(2025, 1, 1, tzinfo=UTC))]
    dtree = MerkleTree([entry_leaf(dlog[0]), *tree_leaves(tree, 1, size)])
    dnote = sign_checkpoint(signer, origin=ORIGIN, size=size, root=dtree.root())
    absent = member_secret(wk, "absent")
    membership = build_membership_proof(
        signer,
        origin=ORIGIN,
        dataset={
            "dataset_id": "ds-1",
            "manifest_sha256": "ab" * 32,
            "members_root": members.root.hex(),
            "members_count": members.size,
        },
        entry=dlog[0],
        inclusion_proof=dtree.inclusion_proof(0),
        checkpoint=dnote,
        member_proof=members.prove(member_key(absent, "absent", "ds-1"), dataset_id="ds-1"),
    )
    row(
        "dataset non-membership proof (tlog-proof, 100k members)",
        f"{len(membership.encode()):,} bytes",
    )
    t = best_of(
        lambda: verify_membership_proof(
            membership, log_keys=[signer.verifier], secret=absent, member_id="absent"
        ),
        200,
    )
    row("dataset proof verification (log key)", f"{t * 1e6:,.0f} us")


def tree_leaves(tree: MerkleTree, start: int, stop: int) -> list[bytes]:
    return [tree.leaf_hash(i) for i in range(start, stop)]


def best_of(fn: Callable[[], object], count: int) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(count):
            fn()
        best = min(best, (time.perf_counter() - t0) / count)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--store-entries", type=int, default=200_000)
    parser.add_argument("--checkpoints", type=int, default=200)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-tlog-"))
    try:
        publish_in_memory(tmp / "pub", args.entries)
        shutil.rmtree(tmp / "pub")
        publish_from_store(tmp, args.store_entries)
        cosign_and_proofs(tmp, args.entries, args.checkpoints)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n(CPython {sys.version.split()[0]}, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
