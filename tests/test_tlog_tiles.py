"""c2sp.org/tlog-tiles: paths, bundles, incremental tile building, proofs from tiles."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.errors import AuditChainBroken, InvalidInput
from consentgate.tlog import tiles
from consentgate.tlog.merkle import MerkleTree, leaf_hash
from consentgate.tlog.tiles import (
    Resource,
    TileReader,
    build_tiles,
    bundle_path,
    decode_bundle,
    encode_bundle,
    first_difference,
    parse_path,
    tile_path,
    tile_width,
)


def test_paths_follow_the_spec() -> None:
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(0, 0) == "tile/0/000"
    assert tile_path(3, 999, 7) == "tile/3/999.p/7"
    assert tile_path(1, 1000) == "tile/1/x001/000"
    assert tile_path(63, 999999999999999999, 255) == "tile/63/x999/x999/x999/x999/x999/999.p/255"
    assert bundle_path(5, 12) == "tile/entries/005.p/12"
    assert bundle_path(1_000_000) == "tile/entries/x001/x000/000"
    for bad in ((64, 0, 256), (0, -1, 256), (0, 0, 0), (0, 0, 257)):
        with pytest.raises(InvalidInput):
            tile_path(*bad)


def test_parse_path_accepts_only_canonical_paths() -> None:
    assert parse_path("checkpoint") == Resource("checkpoint")
    assert parse_path("tile/0/x001/x234/067.p/89") == Resource("tile", 0, 1234067, 89)
    assert parse_path("tile/63/x999/x999/x999/x999/x999/999.p/255") == Resource(
        "tile", 63, 999999999999999999, 255
    )
    assert parse_path("tile/entries/005.p/12") == Resource("entries", None, 5, 12)
    assert parse_path("tile/0/001") == Resource("tile", 0, 1, 256)
    for bad in (
        "tile/0/0001",  # not 3 digits
        "tile/0/x000/001",  # a leading zero group
        "tile/0/x001/x234/067.p/",
        "tile/0/x001/x234/067.p",
        "tile/0/x001/x234/067.p/0",
        "tile/0/x001/x234/067.p/256",
        "tile/0/x001/x234/067.p/089",
        "tile/64/000",
        "tile/01/000",
        "tile/0/1/000",
        "tile/0/../checkpoint",
        "/checkpoint",
        "checkpoint/",
        "tile/0/000/",
        "tile/data/000",
    ):
        assert parse_path(bad) is None, bad
    # every path the builders write parses back to itself
    for level, index, width in ((0, 0, 1), (5, 1234, 256), (0, 10**12, 17)):
        assert parse_path(tile_path(level, index, width)).path == tile_path(level, index, width)  # type: ignore[union-attr]


def test_the_tiles_of_the_spec_example() -> None:
    """A tree of 70,000 leaves: 273 full level-0 tiles, a partial one of 112, one full
    level-1 tile, a partial level-1 tile of 17 and a partial level-2 tile of 1."""
    assert [tile_width(0, n, 70000) for n in (0, 272, 273, 274)] == [256, 256, 112, None]
    assert [tile_width(1, n, 70000) for n in (0, 1, 2)] == [256, 17, None]
    assert [tile_width(2, 0, 70000), tile_width(3, 0, 70000)] == [1, None]
    assert (
        tile_width(0, 0, 256) == 256
        and tile_width(1, 0, 256) == 1
        and tile_width(0, 1, 256) is None
    )
    built = build_tiles(0, 70000, [b"%d" % i for i in range(70000)], lambda *_: b"")
    upper = sorted(p for p in built if not p.startswith(("tile/0/", "tile/entries/")))
    assert upper == ["tile/1/000", "tile/1/001.p/17", "tile/2/000.p/1"]
    assert sum(1 for p in built if p.startswith("tile/0/")) == 274
    assert "tile/0/x001/x234/067" not in built and "tile/0/273.p/112" in built
    assert all(
        len(d) == 8192
        for p, d in built.items()
        if p.startswith("tile/") and "entries" not in p and ".p/" not in p
    )


def test_bundles_round_trip_and_refuse_truncation() -> None:
    entries = [b"", b"\x00\x01", b"x" * 300, b"y" * 65535]
    data = encode_bundle(entries)
    assert data[:2] == b"\x00\x00" and data[2:4] == b"\x00\x02"
    assert decode_bundle(data) == entries
    with pytest.raises(AuditChainBroken):
        decode_bundle(data[:-1])
    with pytest.raises(AuditChainBroken):
        decode_bundle(b"\x00")
    with pytest.raises(InvalidInput):
        encode_bundle([b"z" * 65536])


def _grow(sizes: list[int], entries: list[bytes]) -> dict[str, bytes]:
    """Publish ``entries`` incrementally at each of ``sizes``; full tiles never change."""
    store: dict[str, bytes] = {}
    old = 0
    for new in sizes:
        out = build_tiles(
            old, new, entries[old - old % 256 : new], lambda lv, i, w: store[tile_path(lv, i, w)]
        )
        for path, data in out.items():
            if ".p/" not in path and path in store:
                assert store[path] == data, f"full resource {path} changed"
        store.update(out)
        old = new
    return store


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 3000), min_size=1, max_size=6), st.data())
def test_incremental_tiles_equal_full_tiles_and_give_the_rfc_tree(
    steps: list[int], data: st.DataObject
) -> None:
    sizes = []
    total = 0
    for s in steps:
        total += s
        sizes.append(total)
    entries = [hashlib.sha256(b"%d" % i).digest()[: i % 40] for i in range(total)]
    store = _grow(sizes, entries)
    full = build_tiles(0, total, entries, lambda *_: b"")
    assert all(store[p] == d for p, d in full.items())
    tree = MerkleTree(leaf_hash(e) for e in entries)
    for size in sizes:  # every published size keeps its partial tiles
        reader = TileReader(size, store.__getitem__)
        assert reader.root() == tree.root(size)
        i = data.draw(st.integers(0, size - 1))
        assert reader.inclusion_proof(i) == tree.inclusion_proof(i, size)
        assert reader.leaf_hash(i) == tree.leaf_hash(i)
        assert reader.entry(i) == entries[i]
        old = data.draw(st.integers(1, size))
        assert reader.consistency_proof(old) == tree.consistency_proof(old, size)


def test_large_tree_crosses_three_levels() -> None:
    n = 256 * 256 + 300
    entries = [b"%d" % i for i in range(n)]
    store = _grow([255, 256, 65535, 65536, n], entries)
    tree = MerkleTree(leaf_hash(e) for e in entries)
    for size in (255, 256, 65535, 65536, n):
        assert TileReader(size, store.__getitem__).root() == tree.root(size)


def test_a_reader_refuses_wrong_tiles_and_absent_sizes() -> None:
    entries = [b"%d" % i for i in range(600)]
    store = _grow([600], entries)
    reader = TileReader(600, store.__getitem__)
    with pytest.raises(KeyError):  # no partial tiles were published for size 599
        TileReader(599, store.__getitem__).root()
    store["tile/0/002.p/88"] = store["tile/0/002.p/88"][:-1]
    with pytest.raises(AuditChainBroken, match="has 2815 bytes"):
        TileReader(600, store.__getitem__).root()
    with pytest.raises(InvalidInput):
        reader.inclusion_proof(600)
    with pytest.raises(InvalidInput):
        reader.consistency_proof(0)


def test_a_changed_tile_gives_proofs_that_fail() -> None:
    from consentgate.tlog.merkle import verify_inclusion

    entries = [b"%d" % i for i in range(1000)]
    store = _grow([1000], entries)
    good = TileReader(1000, store.__getitem__)
    root = good.root()
    assert verify_inclusion(leaf_hash(entries[257]), 257, 1000, good.inclusion_proof(257), root)
    tile = bytearray(store["tile/0/001"])
    tile[5] ^= 1  # leaf 256's hash
    store["tile/0/001"] = bytes(tile)
    bad = TileReader(1000, store.__getitem__)
    assert bad.root() == root  # the root comes from the level-1 tile
    assert not verify_inclusion(leaf_hash(entries[257]), 257, 1000, bad.inclusion_proof(257), root)
    tile1 = bytearray(store["tile/1/000.p/3"])
    tile1[40] ^= 1
    store["tile/1/000.p/3"] = bytes(tile1)
    assert TileReader(1000, store.__getitem__).root() != root


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 700), st.data())
def test_first_difference_names_the_first_changed_leaf(n: int, data: st.DataObject) -> None:
    leaves = [leaf_hash(b"%d" % i) for i in range(n)]
    a = MerkleTree(leaves)
    assert first_difference(a.subtree_hash, MerkleTree(leaves).subtree_hash, n) is None
    changed = sorted(set(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4))))
    other = list(leaves)
    for i in changed:
        other[i] = leaf_hash(b"changed %d" % i)
    b = MerkleTree(other)
    assert first_difference(a.subtree_hash, b.subtree_hash, n) == changed[0]
    m = data.draw(st.integers(0, n))
    expected = changed[0] if changed[0] < m else None
    assert first_difference(a.subtree_hash, b.subtree_hash, m) == expected


def test_module_constants() -> None:
    assert tiles.TILE_WIDTH == 256 and tiles.HASH_SIZE == 32 and tiles.MAX_ENTRY_SIZE == 65535
