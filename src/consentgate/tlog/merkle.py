"""RFC 9162 Merkle trees: hashing, roots, inclusion and consistency proofs.

This is the tree of the transparency log (issue 6): SHA-256, a leaf is hashed as
``H(0x00 || data)``, an interior node as ``H(0x01 || left || right)``, and the tree over
``n`` leaves splits at the largest power of two smaller than ``n`` (RFC 9162 §2.1.1).
Inclusion proofs follow §2.1.3, consistency proofs §2.1.4 (the recursions live in
``consentgate.tlog.subtree``, shared with the ledger's block cache and published tiles);
both verifiers are the algorithms of §2.1.3.2 and §2.1.4.2, step by step.

Why it is hand-written: no well-kept Python library does this. ``pymerkle`` is GPL and
its consistency proofs are not in the RFC format; sigstore-python's copy is private to
that package and verify-only (it cannot build trees or proofs). The code is small and
is checked against the transparency-dev/merkle test vectors and against a naive
recursive implementation of the RFC definitions (``tests/test_merkle.py``).

Three ways to hold a tree, by need:

* ``root_from_leaf_hashes`` — one root from a list of leaf hashes, nothing kept.
* ``CompactRange`` — appends in O(log n) time and memory; gives the root at any time and
  can be saved (``size``, ``hashes``) and restored, so an append-only store never has
  to reload its leaves to extend the tree.
* ``MerkleTree`` — keeps every complete subtree hash (about 2 x 32 bytes per leaf), so
  roots at any earlier size, inclusion proofs and consistency proofs take O(log² n)
  hashes: well under a millisecond for a million leaves.

Verification functions return ``bool`` and never raise on malformed proofs; builders
raise ``InvalidInput`` on impossible requests (an index outside the tree, a hash that
is not 32 bytes).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence

from consentgate.errors import InvalidInput
from consentgate.tlog import subtree

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "MerkleTree",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Bytes in a SHA-256 digest: every leaf hash, node hash, root and proof element."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the empty tree, ``SHA-256("")`` (RFC 9162 §2.1.1)."""

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one log entry."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node."""
    return _sha256(b"\x01" + left + right).digest()


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise InvalidInput(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """The RFC 9162 root over ``hashes`` (already leaf-hashed); ``EMPTY_ROOT`` if none.

    Hashes level by level, carrying an odd last node up unchanged, which gives the
    same root as the recursive definition (the tree is left-complete).
    """
    level = list(hashes)
    for i, h in enumerate(level):
        if len(h) != HASH_SIZE:
            raise InvalidInput(f"leaf hash {i} must be {HASH_SIZE} bytes, got {len(h)}")
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        odd = level[-1] if len(level) % 2 else None
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if odd is not None:
            level.append(odd)
    return level[0]


class CompactRange:
    """An append-only tree that keeps only the roots of its perfect subtrees.

    Holds at most ``log2(size) + 1`` hashes (one per set bit of ``size``, largest
    first). ``append`` is O(log n) amortised O(1) hashes; ``root`` is O(log n).
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []

    @classmethod
    def restore(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        """Rebuild a range saved as its ``size`` and ``hashes``."""
        if size < 0:
            raise InvalidInput(f"size must be >= 0, got {size}")
        if len(hashes) != size.bit_count():
            raise InvalidInput(
                f"a range of size {size} has {size.bit_count()} hashes, got {len(hashes)}"
            )
        for h in hashes:
            _check_hash(h, "compact range hash")
        rng = cls()
        rng._size = size
        rng._hashes = list(hashes)
        return rng

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Roots of the perfect subtrees covering the leaves, largest (leftmost) first."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf hash (not the entry: hash it with ``leaf_hash`` first)."""
        _check_hash(leaf_hash, "leaf hash")
        h, n, stack = leaf_hash, self._size, self._hashes
        while n & 1:
            h = node_hash(stack.pop(), h)
            n >>= 1
        stack.append(h)
        self._size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append every hash of ``leaf_hashes``, in order."""
        for h in leaf_hashes:
            self.append(h)

    def root(self) -> bytes:
        """The root of the tree over all leaves appended so far."""
        if not self._hashes:
            return EMPTY_ROOT
        h = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            h = node_hash(left, h)
        return h


class MerkleTree:
    """An append-only tree that keeps every complete subtree hash, for fast proofs.

    Level ``j`` stores, contiguously, the hashes of the ``size >> j`` complete subtrees
    of ``2**j`` leaves (level 0 holds the leaf hashes). A subtree the RFC recursion
    asks for is either one of them or a right edge folded from O(log n) of them, so
    roots (at this or any earlier size) and proofs cost O(log² n) hashes. Memory is
    about 64 bytes per leaf.
    """

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self.extend(leaf_hashes)

    def __len__(self) -> int:
        return len(self._levels[0]) // HASH_SIZE

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self)

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash stored at ``index``."""
        self._check_index(index, len(self))
        return self._node(0, index)

    def append(self, leaf_hash: bytes) -> int:
        """Add one leaf hash; return its index. Amortised O(1) hashes."""
        _check_hash(leaf_hash, "leaf hash")
        levels = self._levels
        index = len(self)
        levels[0] += leaf_hash
        count, level, h = index + 1, 0, leaf_hash
        while count % 2 == 0:
            cur = levels[level]
            h = node_hash(bytes(cur[-2 * HASH_SIZE : -HASH_SIZE]), h)
            level += 1
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += h
            count //= 2
        return index

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append many leaf hashes at once, hashing each new level in one pass."""
        batch = list(leaf_hashes)
        for i, h in enumerate(batch):
            if len(h) != HASH_SIZE:
                raise InvalidInput(f"leaf hash {i} must be {HASH_SIZE} bytes, got {len(h)}")
        if not batch:
            return
        levels = self._levels
        levels[0] += b"".join(batch)
        level = 0
        while True:
            cur = levels[level]
            want = len(cur) // (2 * HASH_SIZE)
            if want == 0:
                break
            if level + 1 == len(levels):
                levels.append(bytearray())
            up = levels[level + 1]
            have = len(up) // HASH_SIZE
            if have == want:
                break
            step = 2 * HASH_SIZE
            view = bytes(cur[have * step : want * step])
            up += b"".join(
                [_sha256(b"\x01" + view[o : o + step]).digest() for o in range(0, len(view), step)]
            )
            level += 1

    def root(self, size: int | None = None) -> bytes:
        """The root over the first ``size`` leaves (default: all of them)."""
        n = len(self) if size is None else size
        if not 0 <= n <= len(self):
            raise InvalidInput(f"size {n} is outside the tree (0..{len(self)})")
        return self._range_hash(0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The RFC 9162 §2.1.3.1 audit path for leaf ``index`` in the tree of ``size``."""
        n = len(self) if size is None else size
        if n == 0:
            raise InvalidInput("cannot prove inclusion in an empty tree")
        if not 0 < n <= len(self):
            raise InvalidInput(f"size {n} is outside the tree (1..{len(self)})")
        self._check_index(index, n)
        return subtree.inclusion_proof(self._perfect, index, n)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """The RFC 9162 §2.1.4.1 proof that the tree of ``old_size`` is a prefix of
        the tree of ``new_size`` (default: the whole tree). Empty when sizes are equal.
        """
        n = len(self) if new_size is None else new_size
        if not 0 <= n <= len(self):
            raise InvalidInput(f"size {n} is outside the tree (0..{len(self)})")
        if not 0 < old_size <= n:
            raise InvalidInput(
                f"old size must be in 1..{n}, got {old_size} "
                "(a consistency proof from the empty tree is meaningless)"
            )
        return subtree.consistency_proof(self._perfect, old_size, n)

    def subtree_hash(self, start: int, width: int) -> bytes:
        """The hash of the complete subtree of ``width`` (a power of two) leaves at
        ``start`` (a multiple of ``width``), inside the tree."""
        if width < 1 or width & (width - 1) or start % width or not 0 <= start <= len(self) - width:
            raise InvalidInput(f"no complete subtree of {width} leaves at {start}")
        return self._perfect(start, width)

    # -- internals -------------------------------------------------------------

    @staticmethod
    def _check_index(index: int, size: int) -> None:
        if not 0 <= index < size:
            raise InvalidInput(f"leaf index {index} is outside the tree (0..{size - 1})")

    def _node(self, level: int, index: int) -> bytes:
        off = index * HASH_SIZE
        return bytes(self._levels[level][off : off + HASH_SIZE])

    def _perfect(self, start: int, width: int) -> bytes:
        """Hash of the complete subtree of ``width`` (a power of two) leaves at ``start``."""
        level = width.bit_length() - 1
        return self._node(level, start >> level)

    def _range_hash(self, start: int, size: int) -> bytes:
        """MTH of ``size`` leaves from ``start``, where ``start`` is a multiple of a
        power of two >= ``size`` (true of every subtree the RFC recursion visits)."""
        return subtree.range_hash(self._perfect, start, size)


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path for leaf ``index`` of the tree over ``leaf_hashes``.

    Builds the tree each call (O(n)); keep a ``MerkleTree`` for many proofs.
    """
    return MerkleTree(leaf_hashes).inclusion_proof(index)


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """The proof that the first ``old_size`` leaves form a prefix of ``leaf_hashes``.

    Builds the tree each call (O(n)); keep a ``MerkleTree`` for many proofs.
    """
    return MerkleTree(leaf_hashes).consistency_proof(old_size)


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows ``leaf_hash`` at ``index`` in the tree of ``size`` with
    ``root`` (RFC 9162 §2.1.3.2). Malformed input gives ``False``, never an error.
    """
    if not 0 <= index < size:
        return False
    if len(leaf_hash) != HASH_SIZE or any(len(p) != HASH_SIZE for p in proof):
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(r, root)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree of ``old_size``/``old_root`` is a prefix of the
    tree of ``new_size``/``new_root`` (RFC 9162 §2.1.4.2). Malformed input gives
    ``False``, never an error.

    Equal sizes need an empty proof and equal roots. An ``old_size`` of 0 is always
    refused, as the transparency-dev vectors require: a proof from the empty tree
    proves nothing. A caller holding a checkpoint of size 0 should instead check that
    its root is ``EMPTY_ROOT``.
    """
    if old_size <= 0 or new_size < old_size:
        return False
    if old_size == new_size:
        return not proof and hmac.compare_digest(old_root, new_root)
    if not proof or len(old_root) != HASH_SIZE or len(new_root) != HASH_SIZE:
        return False
    if any(len(p) != HASH_SIZE for p in proof):
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)
