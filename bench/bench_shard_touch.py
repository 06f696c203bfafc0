"""How many shards (and records) withdrawals touch, sharding by author or by conversation
(issue 12, item 4): the part of remediation's cost that sharding decides.

    python bench/bench_shard_touch.py [--records 1000000] [--members 100000]
        [--shards 32] [--withdrawals 1,10,100,1000] [--messages-only]

The records are tests/gate_data.py's (fixed seed; every record a private message with 1-3
recipients with ``--messages-only``). A withdrawing member's records are every record they
take part in (as author or recipient): remediation rewrites each part holding one. Each
record is given its shard with ``consentgate.sharding`` exactly as a build does (author
id, or the conversation key of its sorted participants); withdrawing members are drawn
at random (fixed seed). Prints, per count of withdrawals, the shards touched (= parts
rewritten per block of source records) and the share of records in them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import gate_data as gd  # noqa: E402

from consentgate.sharding import CONVERSATION_SEPARATOR, shard_of  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--members", type=int, default=100_000)
    ap.add_argument("--shards", type=int, default=32)
    ap.add_argument("--withdrawals", default="1,10,100,1000")
    ap.add_argument("--messages-only", action="store_true")
    args = ap.parse_args()
    spec = gd.RecordSpec(
        n_records=args.records,
        n_members=args.members,
        message_fraction=1.0 if args.messages_only else 0.6,
        unknown_fraction=0.0,
    )
    table = gd.record_table(spec)
    t0 = time.perf_counter()
    authors = table.column("author_id").combine_chunks()
    recipients = table.column("recipient_ids").combine_chunks()
    member_no = {m: i for i, m in enumerate(gd.member_ids(args.members).to_pylist())}
    author_no = np.array([member_no[a] for a in authors.to_pylist()], np.int64)
    by_author = np.array([shard_of(m, args.shards) for m in member_no], np.int64)[author_no]
    # participants of each record: author + recipients, deduplicated and sorted
    lists = recipients.fill_null(pa.scalar([], pa.list_(pa.string())))
    participants = [
        sorted({a, *r}) for a, r in zip(authors.to_pylist(), lists.to_pylist(), strict=True)
    ]
    keys = pa.array([CONVERSATION_SEPARATOR.join(p) for p in participants], pa.string())
    encoded = pc.dictionary_encode(keys)
    table_of = np.array(
        [shard_of(k, args.shards) for k in encoded.dictionary.to_pylist()], np.int64
    )
    by_conversation = table_of[np.asarray(encoded.indices.to_numpy(), np.int64)]
    # member -> records they take part in
    rec_of: list[list[int]] = [[] for _ in range(args.members)]
    for row, people in enumerate(participants):
        for m in people:
            rec_of[member_no[m]].append(row)
    print(
        f"{args.records:,} records ({'messages only' if args.messages_only else 'messages and posts'}), "
        f"{args.members:,} members, {args.shards} shards; set-up {time.perf_counter() - t0:.1f} s"
    )
    rng = np.random.default_rng(7)
    for count in (int(c) for c in args.withdrawals.split(",")):
        who = rng.choice(args.members, count, replace=False)
        rows = np.unique(np.concatenate([np.array(rec_of[m], np.int64) for m in who] or [[]]))
        line = f"  {count:>5} withdrawals: {len(rows):>7,} records removed;"
        for label, shard in (("author", by_author), ("conversation", by_conversation)):
            touched = np.unique(shard[rows])
            share = np.isin(shard, touched).mean()
            line += f"  by {label}: {len(touched):>3}/{args.shards} shards ({share:.0%} of records)"
        print(line, flush=True)


if __name__ == "__main__":
    main()
