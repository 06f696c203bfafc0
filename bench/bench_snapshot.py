"""Benchmark ``compute_snapshot`` alone, in memory: no database, so the figure is the
set-based computation (issue 9: overlapping settings, jurisdiction moves).

    python bench/bench_snapshot.py [--members 1000000] [--events 100000]
                                   [--moves 0,1000,10000,100000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import yaml

from consentgate.policy import PolicyHistory, parse_policy
from consentgate.snapshot import EVENTS_SCHEMA, MOVES_SCHEMA, compute_snapshot

T0 = datetime(2024, 1, 1, tzinfo=UTC)
JURS = ["US", "US-CA", "EU", "UK"]


def _setting(sid: str, category: str, defaults: dict[str, str]) -> dict[str, object]:
    return {
        "id": sid,
        "label": sid,
        "use": "train_ai_system",
        "categories": [category],
        "recipients": ["first_party"],
        "defaults": defaults,
    }


POLICY = {
    "version": "v1",
    "published_at": T0.isoformat(),
    "effective_from": (T0 + timedelta(days=40)).isoformat(),
    "settings": [
        _setting("a", "user.content.public", {"US": "on", "*": "off"}),
        _setting("b", "user.job_title", {"*": "off"}),
        _setting("c", "user.behavior", {"US": "on", "*": "off"}),
    ],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--moves", default="0,1000,10000,100000")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    history = PolicyHistory.of([parse_policy(yaml.safe_dump(POLICY), name="bench")])
    rng = random.Random(1)
    n, ne = args.members, args.events
    ids = [f"m{i:07d}" for i in range(n)]
    members = pa.table({"member_id": ids, "jurisdiction": [rng.choice(JURS) for _ in ids]})
    kinds = [rng.choices(["grant", "deny", "withdraw"], [5, 3, 2])[0] for _ in range(ne)]
    events = pa.table(
        {
            "seq": pa.array(range(ne), pa.int64()),
            "member_id": [ids[rng.randrange(n)] for _ in range(ne)],
            "type": kinds,
            "setting": [rng.choice("abc") for _ in range(ne)],
            "policy_version": ["v1" if k == "grant" else None for k in kinds],
            "effective_at": [T0 + timedelta(days=40 + rng.randrange(60)) for _ in range(ne)],
            "recorded_at": [T0 + timedelta(days=100)] * ne,
            "covers_from": [None] * ne,
        },
        schema=EVENTS_SCHEMA,
    )
    for n_moves in (int(x) for x in args.moves.split(",")):
        moved = rng.sample(range(n), n_moves)
        moves = pa.table(
            {
                "member_id": [ids[i] for i in moved],
                "jurisdiction": [rng.choice(JURS) for _ in moved],
                "effective_at": [T0 + timedelta(days=rng.randrange(100)) for _ in moved],
                "recorded_at": [T0] * n_moves,
                "seq": pa.array(range(n_moves), pa.int64()),
            },
            schema=MOVES_SCHEMA,
        )
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            snap = compute_snapshot(
                members=members,
                moves=moves,
                events=events,
                history=history,
                use="train_ai_system",
                recipient="first_party",
                as_of=T0 + timedelta(days=120),
                known_at=T0 + timedelta(days=200),
            )
            times.append(time.perf_counter() - t0)
        print(
            f"{n:,} members, {ne:,} events, {n_moves:>7,} moved: {min(times):.3f} s "
            f"(best of {args.repeat}), {snap.grants.num_rows:,} consented rows"
        )


if __name__ == "__main__":
    main()
