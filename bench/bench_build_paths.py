"""Per-member and per-record paths of a build, the code before issue 12's second round and
now, in one process, alternating (CPU seconds, best of 3).

    python bench/bench_build_paths.py

member commitment (100k members): the HMAC keys and the members root; registry rows
(100k members): the rows ``register_dataset`` inserts; distinct (row, participant) pairs
of one batch of 65,536 messages with 1-3 recipients.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from consentgate.gate.sink import unique_ints
from consentgate.store.registry import _member_rows
from consentgate.tlog.membership import MemberTree, member_key, member_secret
from consentgate.workspace.proofs import member_commitment


def old_commitment(key: bytes, ids: list[str], dataset_id: str) -> dict[str, Any]:
    tree = MemberTree([member_key(member_secret(key, m), m, dataset_id) for m in ids])
    return {"members_root": tree.root.hex(), "members_count": tree.size}


def old_rows(dataset_id: str, counts: pa.Table) -> list[dict[str, Any]]:
    counts = counts.sort_by("member_id")
    return [
        {"dataset_id": dataset_id, "member_id": m, "as_author": int(a),
         "as_participant": int(p), "shards": None}
        for m, a, p in zip(
            counts.column("member_id").to_pylist(),
            counts.column("as_author").to_pylist(),
            counts.column("as_participant").to_pylist(),
            strict=True,
        )
    ]  # fmt: skip


def best(f: Callable[[], object]) -> float:
    times = []
    for _ in range(3):
        t = time.process_time()
        f()
        times.append(time.process_time() - t)
    return min(times)


def main() -> None:
    n = 100_000
    ids = [f"m{i:07d}" for i in range(n)]
    key = os.urandom(32)
    assert old_commitment(key, ids, "d" * 64) == member_commitment(key, ids, "d" * 64)
    counts = pa.table(
        {
            "member_id": ids,
            "as_author": np.arange(n),
            "as_participant": np.arange(n),
            "shards": pa.nulls(n, pa.list_(pa.int32())),
        }
    )
    rng = np.random.default_rng(1)
    rows = 65_536
    parent = np.repeat(np.arange(rows), rng.integers(1, 4, rows))
    keys = parent * n + rng.integers(0, n, len(parent))
    old = best(lambda: old_commitment(key, ids, "d" * 64))
    new = best(lambda: member_commitment(key, ids, "d" * 64))
    print(f"member commitment, {n:,} members: before {old:.2f} s, now {new:.2f} s")
    old, new = best(lambda: old_rows("d", counts)), best(lambda: _member_rows("d", counts))
    print(f"registry rows, {n:,} members: before {old:.2f} s, now {new:.2f} s")
    old, new = best(lambda: np.unique(keys)), best(lambda: unique_ints(keys))
    print(
        f"distinct (row, participant), {rows:,} messages: np.unique {old * 1e3:.0f} ms, "
        f"unique_ints {new * 1e3:.0f} ms"
    )


if __name__ == "__main__":
    main()
