"""The c2sp.org/tlog-tiles layout of a log, and proofs read back from it. Pure: reading and
writing files or URLs is the caller's (``consentgate.tlog.published``).

A tiled log is a set of static resources under a prefix:

* ``checkpoint`` — the signed (and cosigned) checkpoint;
* ``tile/<L>/<N>[.p/<W>]`` — at level ``L``, tile ``N`` holds the ``W`` (256 when full)
  consecutive Merkle tree hashes ``MTH(D[(N*256 + i) * 256**L : (N*256 + i + 1) * 256**L])``:
  leaf hashes at level 0, the roots of full tiles of the level below above it;
* ``tile/entries/<N>[.p/<W>]`` — the entries (leaf data) of level-0 tile ``N``, each as a
  big-endian uint16 length then the bytes.

``N`` is written in zero-padded groups of three digits, every group but the last prefixed
with ``x`` (1234067 → ``x001/x234/067``); ``.p/<W>`` marks a partial tile (1 to 255
hashes). For a tree of size ``s`` the partial tile of level ``L`` has
``floor(s / 256**L) mod 256`` hashes; empty tiles do not exist.

``build_tiles`` computes the resources that change when the log grows from ``old_size`` to
``new_size``, from the new entries and the old partial tiles only (full tiles never
change). ``TileReader`` turns a fetch function into every root and proof of the tree at a
checkpoint's size (``consentgate.tlog.subtree``), fetching only the tiles it needs;
``first_difference`` locates the first leaf where two trees differ in O(log² n) subtree
comparisons.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from consentgate.errors import AuditChainBroken, InvalidInput
from consentgate.tlog import subtree

__all__ = [
    "CHECKPOINT",
    "HASH_SIZE",
    "MAX_ENTRY_SIZE",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "Resource",
    "TileReader",
    "build_tiles",
    "bundle_path",
    "decode_bundle",
    "encode_bundle",
    "encode_index",
    "first_difference",
    "parse_path",
    "tile_path",
    "tile_width",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
HASH_SIZE = 32
MAX_LEVEL = 63
MAX_ENTRY_SIZE = 0xFFFF
CHECKPOINT = "checkpoint"

Fetch = Callable[[str], bytes]
"""``fetch(path)``: the bytes of a resource of the log, by its path under the prefix."""

_sha256 = hashlib.sha256


def encode_index(n: int) -> str:
    """A tile index as path elements: ``1234067`` → ``x001/x234/067``."""
    if n < 0:
        raise InvalidInput(f"tile index must be >= 0, got {n}")
    text = f"{n % 1000:03d}"
    n //= 1000
    while n:
        text = f"x{n % 1000:03d}/{text}"
        n //= 1000
    return text


def _suffix(width: int) -> str:
    if not 1 <= width <= TILE_WIDTH:
        raise InvalidInput(f"tile width must be 1..{TILE_WIDTH}, got {width}")
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]``."""
    if not 0 <= level <= MAX_LEVEL:
        raise InvalidInput(f"tile level must be 0..{MAX_LEVEL}, got {level}")
    return f"tile/{level}/{encode_index(index)}{_suffix(width)}"


def bundle_path(index: int, width: int = TILE_WIDTH) -> str:
    """``tile/entries/<N>[.p/<W>]``."""
    return f"tile/entries/{encode_index(index)}{_suffix(width)}"


@dataclass(frozen=True, slots=True)
class Resource:
    """A resource of a tiled log: the checkpoint, a tile (``level`` set) or an entry
    bundle (``level`` None)."""

    kind: str  # "checkpoint" | "tile" | "entries"
    level: int | None = None
    index: int = 0
    width: int = TILE_WIDTH

    @property
    def path(self) -> str:
        if self.kind == CHECKPOINT:
            return CHECKPOINT
        if self.level is None:
            return bundle_path(self.index, self.width)
        return tile_path(self.level, self.index, self.width)


_PATH_RE = re.compile(
    r"tile/(?P<level>entries|0|[1-9][0-9]?)/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})"
    r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)


def parse_path(path: str) -> Resource | None:
    """The resource at ``path`` (relative to the prefix), or None when ``path`` is not the
    canonical path of a checkpoint, tile or entry bundle (so ``tile/0/0001`` or
    ``tile/0/x000/001`` are refused: one path per resource)."""
    if path == CHECKPOINT:
        return Resource(CHECKPOINT)
    m = _PATH_RE.fullmatch(path)
    if m is None:
        return None
    index = int(m["index"].replace("x", "").replace("/", ""))
    width = int(m["width"]) if m["width"] else TILE_WIDTH
    if (m["width"] and width >= TILE_WIDTH) or encode_index(index) != m["index"]:
        return None
    if m["level"] == "entries":
        return Resource("entries", None, index, width)
    level = int(m["level"])
    if level > MAX_LEVEL:
        return None
    return Resource("tile", level, index, width)


def tile_width(level: int, index: int, size: int) -> int | None:
    """The width of tile ``index`` at ``level`` in the tree of ``size`` leaves (256 for a
    full tile), or None when the tree has no such tile."""
    full = size >> (TILE_HEIGHT * (level + 1))
    if index < full:
        return TILE_WIDTH
    if index == full:
        return ((size >> (TILE_HEIGHT * level)) % TILE_WIDTH) or None
    return None


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length and its bytes."""
    out = bytearray()
    for i, e in enumerate(entries):
        if len(e) > MAX_ENTRY_SIZE:
            raise InvalidInput(f"entry {i} has {len(e)} bytes; a tiled log allows 65535")
        out += struct.pack(">H", len(e))
        out += e
    return bytes(out)


def decode_bundle(data: bytes) -> list[bytes]:
    """The entries of a bundle; ``AuditChainBroken`` when it is truncated."""
    out, offset = [], 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise AuditChainBroken("entry bundle is truncated")
        (n,) = struct.unpack_from(">H", data, offset)
        offset += 2
        if offset + n > len(data):
            raise AuditChainBroken("entry bundle is truncated")
        out.append(data[offset : offset + n])
        offset += n
    return out


def _fold(hashes: Sequence[bytes]) -> bytes:
    """The root of a perfect subtree over ``hashes`` (a power of two of node hashes)."""
    level = list(hashes)
    while len(level) > 1:
        level = [
            _sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)
        ]
    return level[0]


def build_tiles(
    old_size: int,
    new_size: int,
    entries: Sequence[bytes],
    read_tile: Callable[[int, int, int], bytes],
) -> dict[str, bytes]:
    """The tiles and entry bundles that change when the log grows from ``old_size`` to
    ``new_size``: every tile and bundle from the one holding index ``old_size`` on, at
    every level, full ones and the partial ones of ``new_size``.

    ``entries`` are the leaf data from ``old_size - old_size % 256`` to ``new_size``;
    ``read_tile(level, index, width)`` returns a partial tile already published for
    ``old_size`` (only those above level 0 are read). Returns ``{path: bytes}``.
    """
    if not 0 <= old_size <= new_size:
        raise InvalidInput(f"cannot publish from size {old_size} to {new_size}")
    start = old_size - old_size % TILE_WIDTH
    if len(entries) != new_size - start:
        raise InvalidInput(f"expected {new_size - start} entries from {start}, got {len(entries)}")
    out: dict[str, bytes] = {}
    for n in range(start // TILE_WIDTH, -(-new_size // TILE_WIDTH)):
        lo, hi = n * TILE_WIDTH, min(n * TILE_WIDTH + TILE_WIDTH, new_size)
        out[bundle_path(n, hi - lo)] = encode_bundle(entries[lo - start : hi - start])
    hashes = [_sha256(b"\x00" + e).digest() for e in entries]
    first, level = start, 0
    while True:
        total = new_size >> (TILE_HEIGHT * level)  # complete nodes at this level's height
        if total == 0:
            break
        for n in range(first // TILE_WIDTH, -(-total // TILE_WIDTH)):
            lo, hi = n * TILE_WIDTH, min(n * TILE_WIDTH + TILE_WIDTH, total)
            out[tile_path(level, n, hi - lo)] = b"".join(hashes[lo - first : hi - first])
        old_nodes = old_size >> (TILE_HEIGHT * (level + 1))
        next_first = old_nodes - old_nodes % TILE_WIDTH
        kept: list[bytes] = []
        if old_nodes % TILE_WIDTH:
            width = old_nodes % TILE_WIDTH
            data = read_tile(level + 1, next_first // TILE_WIDTH, width)
            if len(data) != width * HASH_SIZE:
                raise AuditChainBroken(
                    f"published {tile_path(level + 1, next_first // TILE_WIDTH, width)} has "
                    f"{len(data)} bytes, expected {width * HASH_SIZE}"
                )
            kept = [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]
        new = [
            _fold(hashes[j * TILE_WIDTH - first : (j + 1) * TILE_WIDTH - first])
            for j in range(old_nodes, total // TILE_WIDTH)
        ]
        hashes, first, level = kept + new, next_first, level + 1
    return out


class TileReader:
    """Every root and proof of the tree of ``size`` leaves, from its published tiles.

    ``fetch(path)`` returns a resource's bytes (raising to signal that it is missing); each
    tile is fetched once. Nothing read is trusted: a root or proof computed from altered
    tiles simply fails to verify against the signed checkpoint, and ``root()`` is the
    first thing to compare with it.
    """

    def __init__(self, size: int, fetch: Fetch) -> None:
        if size < 0:
            raise InvalidInput(f"tree size must be >= 0, got {size}")
        self.size = size
        self._fetch = fetch
        self._tiles: dict[tuple[int, int], bytes] = {}
        self._bundles: dict[int, list[bytes]] = {}

    def _tile(self, level: int, index: int) -> bytes:
        key = (level, index)
        data = self._tiles.get(key)
        if data is None:
            width = tile_width(level, index, self.size)
            if width is None:
                raise InvalidInput(f"the tree of size {self.size} has no tile {level}/{index}")
            path = tile_path(level, index, width)
            data = self._fetch(path)
            if len(data) != width * HASH_SIZE:
                raise AuditChainBroken(
                    f"{path} has {len(data)} bytes, expected {width * HASH_SIZE}"
                )
            self._tiles[key] = data
        return data

    def subtree(self, start: int, width: int) -> bytes:
        """The hash of the complete subtree of ``width`` leaves at ``start``."""
        height = width.bit_length() - 1
        level, rest = divmod(height, TILE_HEIGHT)
        first = (start >> height) << rest  # its first node at the tile level's height
        data = self._tile(level, first // TILE_WIDTH)
        off = (first % TILE_WIDTH) * HASH_SIZE
        nodes = [data[o : o + HASH_SIZE] for o in range(off, off + (HASH_SIZE << rest), HASH_SIZE)]
        return _fold(nodes)

    def root(self) -> bytes:
        return subtree.range_hash(self.subtree, 0, self.size)

    def leaf_hash(self, index: int) -> bytes:
        self._check_index(index)
        return self.subtree(index, 1)

    def inclusion_proof(self, index: int) -> list[bytes]:
        self._check_index(index)
        return subtree.inclusion_proof(self.subtree, index, self.size)

    def consistency_proof(self, old_size: int) -> list[bytes]:
        if not 0 < old_size <= self.size:
            raise InvalidInput(f"old size must be in 1..{self.size}, got {old_size}")
        return subtree.consistency_proof(self.subtree, old_size, self.size)

    def entry(self, index: int) -> bytes:
        """The leaf data of entry ``index``, from its entry bundle."""
        self._check_index(index)
        n = index // TILE_WIDTH
        entries = self._bundles.get(n)
        if entries is None:
            width = tile_width(0, n, self.size)
            assert width is not None
            entries = decode_bundle(self._fetch(bundle_path(n, width)))
            if len(entries) != width:
                raise AuditChainBroken(
                    f"{bundle_path(n, width)} holds {len(entries)} entries, expected {width}"
                )
            self._bundles[n] = entries
        return entries[index % TILE_WIDTH]

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.size:
            raise InvalidInput(f"leaf index {index} is outside the tree (size {self.size})")


def first_difference(a: subtree.Perfect, b: subtree.Perfect, size: int) -> int | None:
    """The first leaf index below ``size`` at which two trees differ, given the complete
    subtree hashes of each (``perfect(start, width)``), or None when their first ``size``
    leaves are equal. Compares O(log² size) subtrees: the aligned subtrees covering
    ``[0, size)`` left to right, then halves of the first that differs, left first."""
    start, remaining = 0, size
    while remaining:
        width = 1 << (remaining.bit_length() - 1)
        if a(start, width) != b(start, width):
            while width > 1:
                width //= 2
                if a(start, width) == b(start, width):
                    start += width
            return start
        start += width
        remaining -= width
    return None
