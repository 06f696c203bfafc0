"""Which shard a record lives in, and which shards a member's withdrawal touches.

A gated dataset built with ``S`` shards gives every row an integer ``shard`` column in
``0..S-1``. The shard is a stable hash of a *key*: the author (``--shard-by author``) or
the conversation, i.e. the sorted set of participants (``--shard-by conversation``).

The trade-off, for messages (owned by every participant, so a withdrawal removes every
message the member sent *or received*):

* by author — an author's own messages sit in one shard, but a recipient's withdrawal
  touches the shard of every member who wrote to them;
* by conversation — a conversation (its sorted participants) sits in one shard whoever withdraws, but a member's
  messages spread over the shards of all their conversations (even the ones they wrote).

``shards_touched`` counts either cost on a concrete table; ``bench/bench_unlearn.py``
measures both on synthetic messages. ``shard_of`` is ``consentgate.sharding``'s, the very
function the gate shards with. Pure pyarrow: no scikit-learn needed here.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from consentgate import sharding
from consentgate.errors import InvalidInput, SchemaMismatch
from consentgate.sharding import ShardBy, shard_of

__all__ = [
    "ShardBy",
    "assign_shards",
    "conversation_key",
    "member_mask",
    "shard_of",
    "shards_touched",
]


def conversation_key(author_id: str, recipient_ids: Iterable[str]) -> str:
    """The participants of a message, deduplicated, sorted, joined by U+001F.

    The same key as the gate's ``--shard-by conversation`` (``consentgate.sharding``).
    Author and recipients play the same role, so a reply lands in the same conversation
    as the message it answers.
    """
    return sharding.conversation_key((author_id, *recipient_ids))


def _column(table: pa.Table, name: str) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise SchemaMismatch(f"column {name!r} is missing", [f"columns: {table.column_names}"])
    return table.column(name)


def assign_shards(
    table: pa.Table,
    shards: int,
    *,
    by: ShardBy = "author",
    shard_column: str = "shard",
    author_column: str = "author_id",
    recipients_column: str = "recipient_ids",
) -> pa.Table:
    """``table`` with ``shard_column`` (int32) set from the author or the conversation."""
    if by not in ("author", "conversation"):
        raise InvalidInput("unknown sharding key", [f"by: {by!r} (author|conversation)"])
    authors = _column(table, author_column).to_pylist()
    if any(a is None for a in authors):
        raise InvalidInput("every row needs an author to be sharded", [f"{author_column}: null"])
    if by == "author":
        keys: list[str] = authors
    else:
        recipients = _column(table, recipients_column).to_pylist()
        keys = [conversation_key(a, r or ()) for a, r in zip(authors, recipients, strict=True)]
    cache: dict[str, int] = {}
    values = [cache[k] if k in cache else cache.setdefault(k, shard_of(k, shards)) for k in keys]
    column = pa.array(values, type=pa.int32())
    if shard_column in table.column_names:
        return table.set_column(table.column_names.index(shard_column), shard_column, column)
    return table.append_column(shard_column, column)


def member_mask(
    table: pa.Table,
    member_id: str,
    *,
    author_column: str = "author_id",
    recipients_column: str = "recipient_ids",
) -> pa.BooleanArray:
    """True for each row the member owns: as author, or as a recipient when that column exists."""
    authors = _column(table, author_column)
    mask = pc.fill_null(pc.equal(authors, member_id), False).to_numpy(zero_copy_only=False)
    if recipients_column in table.column_names:
        lists = table.column(recipients_column).combine_chunks()
        hits = pc.fill_null(pc.equal(pc.list_flatten(lists), member_id), False)
        parents = pc.filter(pc.list_parent_indices(lists), hits).to_numpy()
        mask = mask.copy()
        mask[parents] = True
    return pa.array(np.asarray(mask, dtype=bool), type=pa.bool_())


def shards_touched(
    table: pa.Table,
    member_id: str,
    *,
    shard_column: str = "shard",
    author_column: str = "author_id",
    recipients_column: str = "recipient_ids",
) -> set[int]:
    """The shards holding at least one row the member authored or received."""
    mask = member_mask(
        table, member_id, author_column=author_column, recipients_column=recipients_column
    )
    held = pc.filter(_column(table, shard_column), mask)
    return {int(s) for s in pc.unique(held).to_pylist() if s is not None}
