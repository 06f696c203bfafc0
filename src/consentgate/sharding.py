"""The shard of a record: one stable hash shared by the gate and machine unlearning, and
which shards a member's withdrawal touches.

A dataset built with ``S`` shards puts each included record in shard
``shard_of(key, S)``, where the key is the author (``--shard-by author``) or the
conversation: the record's participants, deduplicated, sorted and joined by U+001F
(``--shard-by conversation``). The gate (``consentgate.gate``) writes the shards and
``consentgate.unlearn`` trains and retrains per shard, so both import these functions
from here rather than keeping copies that could drift. ``shard_of`` is pure Python; the
table helpers (``assign_shards``, ``member_mask``, ``shards_touched``) import pyarrow when
called.

The trade-off, for messages (owned by every participant, so a withdrawal removes every
message the member sent *or received*):

* by author — an author's own messages sit in one shard, but a recipient's withdrawal
  touches the shard of every member who wrote to them;
* by conversation — a conversation (its sorted participants) sits in one shard whoever
  withdraws, but a member's messages spread over the shards of all their conversations
  (even the ones they wrote).

``shards_touched`` counts either cost on a concrete table; ``bench/bench_unlearn.py``
measures both on synthetic messages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from consentgate.errors import InvalidInput, SchemaMismatch

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "CONVERSATION_SEPARATOR",
    "ShardBy",
    "assign_shards",
    "conversation_key",
    "member_mask",
    "shard_of",
    "shards_touched",
]

ShardBy = Literal["author", "conversation"]

CONVERSATION_SEPARATOR = "\x1f"


def shard_of(key: str, shards: int) -> int:
    """The shard of ``key``: first 8 bytes of SHA-256(UTF-8 key), big-endian, mod ``shards``."""
    if shards < 1:
        raise InvalidInput("the number of shards must be at least 1", [f"shards: {shards}"])
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % shards


def conversation_key(participants: Iterable[str]) -> str:
    """Sorted distinct participants (author and recipients) joined by U+001F."""
    return CONVERSATION_SEPARATOR.join(sorted(set(participants)))


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
    import pyarrow as pa

    if by not in ("author", "conversation"):
        raise InvalidInput("unknown sharding key", [f"by: {by!r} (author|conversation)"])
    authors = _column(table, author_column).to_pylist()
    if any(a is None for a in authors):
        raise InvalidInput("every row needs an author to be sharded", [f"{author_column}: null"])
    if by == "author":
        keys: list[str] = authors
    else:
        recipients = _column(table, recipients_column).to_pylist()
        keys = [conversation_key((a, *(r or ()))) for a, r in zip(authors, recipients, strict=True)]
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
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

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
    import pyarrow.compute as pc

    mask = member_mask(
        table, member_id, author_column=author_column, recipients_column=recipients_column
    )
    held = pc.filter(_column(table, shard_column), mask)
    return {int(s) for s in pc.unique(held).to_pylist() if s is not None}
