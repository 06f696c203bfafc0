"""RFC 9162 roots, inclusion proofs and consistency proofs from complete subtrees.

Every hash the RFC 9162 §2.1 recursions ask for is the root of a range of leaves that
starts at a multiple of a power of two at least as large as the range, so it folds from at
most ``log2(n)`` *complete* (perfect) subtrees. The functions here take that one primitive,
``perfect(start, width)`` — the hash of the complete subtree of ``width`` (a power of two)
leaves starting at ``start`` — and build everything else from it. The same code then serves
an in-memory ``consentgate.tlog.merkle.MerkleTree``, the ledger's cached block roots and a
verifier reading published tiles (``consentgate.tlog.tiles``).

Callers validate sizes and indexes; these functions assume ``0 <= index < size`` and
``0 < old_size <= new_size``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

__all__ = ["EMPTY_ROOT", "Perfect", "consistency_proof", "inclusion_proof", "range_hash"]

Perfect = Callable[[int, int], bytes]
"""``perfect(start, width)``: the hash of the complete subtree of ``width`` leaves at ``start``."""

EMPTY_ROOT = hashlib.sha256(b"").digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_hash(perfect: Perfect, start: int, size: int) -> bytes:
    """MTH of ``size`` leaves from ``start`` (a multiple of a power of two >= ``size``)."""
    if size == 0:
        return EMPTY_ROOT
    parts = []
    while size:
        width = 1 << (size.bit_length() - 1)
        parts.append(perfect(start, width))
        start += width
        size -= width
    h = parts[-1]
    for left in reversed(parts[:-1]):
        h = _node(left, h)
    return h


def inclusion_proof(perfect: Perfect, index: int, size: int) -> list[bytes]:
    """The RFC 9162 §2.1.3.1 audit path of leaf ``index`` in the tree of ``size``,
    lowest sibling first."""
    start, m, n, top_down = 0, index, size, []
    while n > 1:
        k = _split(n)
        if m < k:
            top_down.append(range_hash(perfect, start + k, n - k))
            n = k
        else:
            top_down.append(perfect(start, k))
            start, m, n = start + k, m - k, n - k
    return top_down[::-1]


def consistency_proof(perfect: Perfect, old_size: int, new_size: int) -> list[bytes]:
    """The RFC 9162 §2.1.4.1 proof that the tree of ``old_size`` is a prefix of the tree
    of ``new_size`` (empty when the sizes are equal)."""
    start, m, n, complete, top_down = 0, old_size, new_size, True, []
    while m != n:
        k = _split(n)
        if m <= k:
            top_down.append(range_hash(perfect, start + k, n - k))
            n = k
        else:
            top_down.append(perfect(start, k))
            start, m, n, complete = start + k, m - k, n - k, False
    if not complete:
        top_down.append(range_hash(perfect, start, n))
    return top_down[::-1]
