"""The shard of a record: one stable hash shared by the gate and machine unlearning.

A dataset built with ``S`` shards puts each included record in shard
``shard_of(key, S)``, where the key is the author (``--shard-by author``) or the
conversation: the record's participants, deduplicated, sorted and joined by U+001F
(``--shard-by conversation``). The gate (``consentgate.gate``) writes the shards and
``consentgate.unlearn`` trains and retrains per shard, so both import these functions
from here rather than keeping copies that could drift. Pure Python: no pyarrow needed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal

from consentgate.errors import InvalidInput

__all__ = ["CONVERSATION_SEPARATOR", "ShardBy", "conversation_key", "shard_of"]

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
