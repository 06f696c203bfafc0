"""RFC 9162 Merkle tree: transparency-dev vectors, known answers, and properties
against a naive recursive implementation of the RFC definitions."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.errors import InvalidInput
from consentgate.tlog.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).parent / "vectors" / "transparency-dev-merkle"
INCLUSION_FILES = sorted((VECTORS / "inclusion").rglob("*.json"))
CONSISTENCY_FILES = sorted((VECTORS / "consistency").rglob("*.json"))


# -- naive reference: the RFC 9162 §2.1 definitions, transcribed literally ------------


def ref_mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [ref_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, leaves[:k], b), ref_mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_mth(leaves[:k])]


def entries(n: int) -> list[bytes]:
    return [f"entry-{i}".encode() for i in range(n)]


def flip(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


# -- transparency-dev/merkle vectors -------------------------------------------------


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_vector_files_are_all_present() -> None:
    assert len(INCLUSION_FILES) == 98
    assert len(CONSISTENCY_FILES) == 98
    assert "Apache License" in (VECTORS / "LICENSE").read_text()
    happy = [p for p in INCLUSION_FILES + CONSISTENCY_FILES if not _load(p)["wantErr"]]
    assert len(happy) == 12


@pytest.mark.parametrize(
    "path", INCLUSION_FILES, ids=lambda p: str(p.relative_to(VECTORS / "inclusion"))
)
def test_inclusion_vector(path: Path) -> None:
    v = _load(path)
    proof = [_b64(p) for p in v["proof"] or []]
    ok = verify_inclusion(_b64(v["leafHash"]), v["leafIdx"], v["treeSize"], proof, _b64(v["root"]))
    assert ok is (not v["wantErr"]), v["desc"]


@pytest.mark.parametrize(
    "path", CONSISTENCY_FILES, ids=lambda p: str(p.relative_to(VECTORS / "consistency"))
)
def test_consistency_vector(path: Path) -> None:
    v = _load(path)
    proof = [_b64(p) for p in v["proof"] or []]
    ok = verify_consistency(v["size1"], v["size2"], _b64(v["root1"]), _b64(v["root2"]), proof)
    assert ok is (not v["wantErr"]), v["desc"]


# -- known answers (the leaves and roots of transparency-dev/merkle's tests) -----------

GO_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
GO_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_roots_match_known_answers_at_every_size() -> None:
    hashes = [leaf_hash(d) for d in GO_LEAVES]
    tree = MerkleTree(hashes)
    rng = CompactRange()
    for size, want in enumerate(GO_ROOTS, start=1):
        rng.append(hashes[size - 1])
        assert root_from_leaf_hashes(hashes[:size]).hex() == want
        assert tree.root(size).hex() == want
        assert rng.root().hex() == want


def test_empty_tree_root_is_hash_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_from_leaf_hashes([]) == EMPTY_ROOT
    assert MerkleTree().root() == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT


@pytest.mark.parametrize(
    ("index", "size", "want"),
    [
        (0, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
        (5, 8, ["bc1a0643", "ca854ea1", "d37ee418"]),
        (2, 3, ["fac54203"]),
        (1, 5, ["6e340b9c", "5f083f0a", "bc1a0643"]),
    ],
)
def test_inclusion_proofs_match_known_answers(index: int, size: int, want: list[str]) -> None:
    hashes = [leaf_hash(d) for d in GO_LEAVES]
    got = MerkleTree(hashes).inclusion_proof(index, size)
    assert [p.hex()[:8] for p in got] == want


@pytest.mark.parametrize(
    ("old", "new", "want"),
    [
        (1, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
        (6, 8, ["0ebc5d34", "ca854ea1", "d37ee418"]),
        (2, 5, ["5f083f0a", "bc1a0643"]),
        (6, 7, ["0ebc5d34", "b08693ec", "d37ee418"]),
    ],
)
def test_consistency_proofs_match_known_answers(old: int, new: int, want: list[str]) -> None:
    hashes = [leaf_hash(d) for d in GO_LEAVES]
    got = MerkleTree(hashes).consistency_proof(old, new)
    assert [p.hex()[:8] for p in got] == want


# -- properties against the naive reference ------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=12), max_size=70))
def test_roots_equal_the_rfc_definition(leaves: list[bytes]) -> None:
    hashes = [leaf_hash(d) for d in leaves]
    want = ref_mth(leaves)
    assert root_from_leaf_hashes(hashes) == want
    assert MerkleTree(hashes).root() == want
    rng = CompactRange()
    rng.extend(hashes)
    assert rng.root() == want


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=70), st.data())
def test_inclusion_proofs_equal_the_rfc_definition_and_verify(n: int, data: st.DataObject) -> None:
    leaves = entries(n)
    hashes = [leaf_hash(d) for d in leaves]
    tree = MerkleTree(hashes)
    size = data.draw(st.integers(min_value=1, max_value=n), label="size")
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    root = ref_mth(leaves[:size])
    proof = tree.inclusion_proof(index, size)
    assert proof == ref_path(index, leaves[:size])
    assert verify_inclusion(hashes[index], index, size, proof, root)
    # Any other leaf, index or size fails with the same proof.
    assert not verify_inclusion(leaf_hash(b"other"), index, size, proof, root)
    for other in {index - 1, index + 1, index ^ 2} - {index}:
        if 0 <= other < size and hashes[other] != hashes[index]:
            assert not verify_inclusion(hashes[index], other, size, proof, root)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=70), st.data())
def test_consistency_proofs_equal_the_rfc_definition_and_verify(
    n: int, data: st.DataObject
) -> None:
    leaves = entries(n)
    hashes = [leaf_hash(d) for d in leaves]
    tree = MerkleTree(hashes)
    new = data.draw(st.integers(min_value=1, max_value=n), label="new")
    old = data.draw(st.integers(min_value=1, max_value=new), label="old")
    proof = tree.consistency_proof(old, new)
    assert proof == ref_subproof(old, leaves[:new], True)
    old_root, new_root = ref_mth(leaves[:old]), ref_mth(leaves[:new])
    assert verify_consistency(old, new, old_root, new_root, proof)
    if old < new:
        # A forked history (one entry changed) is not consistent.
        forked = [*leaves[: old - 1], b"forged", *leaves[old:new]]
        assert not verify_consistency(old, new, old_root, ref_mth(forked), proof)
        assert not verify_consistency(old, new, new_root, old_root, proof)


def test_sequence_helpers_agree_with_the_tree() -> None:
    hashes = [leaf_hash(d) for d in entries(37)]
    tree = MerkleTree(hashes)
    assert inclusion_proof(hashes, 20) == tree.inclusion_proof(20)
    assert consistency_proof(hashes, 13) == tree.consistency_proof(13)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=2, max_value=40), st.data())
def test_flipping_any_bit_of_an_inclusion_proof_fails(n: int, data: st.DataObject) -> None:
    hashes = [leaf_hash(d) for d in entries(n)]
    tree = MerkleTree(hashes)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof, root = tree.inclusion_proof(index), tree.root()
    assert verify_inclusion(hashes[index], index, n, proof, root)
    for i, element in enumerate(proof):
        for bit in range(256):
            bad = [*proof[:i], flip(element, bit), *proof[i + 1 :]]
            assert not verify_inclusion(hashes[index], index, n, bad, root)
    for bit in range(256):
        assert not verify_inclusion(hashes[index], index, n, proof, flip(root, bit))
        assert not verify_inclusion(flip(hashes[index], bit), index, n, proof, root)
    assert not verify_inclusion(hashes[index], index, n, proof[:-1], root)
    assert not verify_inclusion(hashes[index], index, n, [*proof, root], root)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=2, max_value=40), st.data())
def test_flipping_any_bit_of_a_consistency_proof_fails(n: int, data: st.DataObject) -> None:
    hashes = [leaf_hash(d) for d in entries(n)]
    tree = MerkleTree(hashes)
    old = data.draw(st.integers(min_value=1, max_value=n - 1))
    proof, old_root, new_root = tree.consistency_proof(old), tree.root(old), tree.root()
    assert verify_consistency(old, n, old_root, new_root, proof)
    for i, element in enumerate(proof):
        for bit in range(256):
            bad = [*proof[:i], flip(element, bit), *proof[i + 1 :]]
            assert not verify_consistency(old, n, old_root, new_root, bad)
    for bit in range(256):
        assert not verify_consistency(old, n, flip(old_root, bit), new_root, proof)
        assert not verify_consistency(old, n, old_root, flip(new_root, bit), proof)
    assert not verify_consistency(old, n, old_root, new_root, proof[:-1])
    assert not verify_consistency(old, n, old_root, new_root, [*proof, new_root])


# -- incremental structures ------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=140), st.integers(min_value=0, max_value=140))
def test_append_one_by_one_equals_bulk_extend(a: int, b: int) -> None:
    hashes = [leaf_hash(d) for d in entries(a + b)]
    one = MerkleTree()
    for h in hashes:
        one.append(h)
    bulk = MerkleTree(hashes[:a])
    bulk.extend(hashes[a:])
    assert one._levels == bulk._levels
    assert one.root() == bulk.root() == ref_mth(entries(a + b))
    for size in range(a + b + 1):
        assert bulk.root(size) == root_from_leaf_hashes(hashes[:size])


def test_append_returns_the_index_and_leaves_are_readable() -> None:
    tree = MerkleTree()
    hashes = [leaf_hash(d) for d in entries(5)]
    assert [tree.append(h) for h in hashes] == [0, 1, 2, 3, 4]
    assert tree.leaf_hash(3) == hashes[3]
    assert len(tree) == tree.size == 5


def test_compact_range_saves_and_restores() -> None:
    hashes = [leaf_hash(d) for d in entries(45)]
    rng = CompactRange()
    rng.extend(hashes[:29])
    assert len(rng.hashes) == bin(29).count("1")
    resumed = CompactRange.restore(rng.size, rng.hashes)
    resumed.extend(hashes[29:])
    assert resumed.size == 45
    assert resumed.root() == ref_mth(entries(45))


def test_compact_range_restore_refuses_a_wrong_state() -> None:
    with pytest.raises(InvalidInput, match="has 2 hashes"):
        CompactRange.restore(5, [EMPTY_ROOT])
    with pytest.raises(InvalidInput, match="32 bytes"):
        CompactRange.restore(1, [b"short"])


def test_node_hash_is_domain_separated_from_leaf_hash() -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert leaf_hash(a + b) != node_hash(a, b)


# -- refusals ---------------------------------------------------------------------------


def test_builders_refuse_impossible_requests() -> None:
    tree = MerkleTree([leaf_hash(d) for d in entries(4)])
    with pytest.raises(InvalidInput, match="leaf index 4"):
        tree.inclusion_proof(4)
    with pytest.raises(InvalidInput, match="size 5"):
        tree.root(5)
    with pytest.raises(InvalidInput, match="empty tree is meaningless"):
        tree.consistency_proof(0)
    with pytest.raises(InvalidInput, match="old size"):
        tree.consistency_proof(3, 2)
    with pytest.raises(InvalidInput, match="32 bytes"):
        tree.append(b"not a hash")
    with pytest.raises(InvalidInput, match="leaf hash 1"):
        root_from_leaf_hashes([EMPTY_ROOT, b"x"])
    with pytest.raises(InvalidInput, match="empty tree"):
        MerkleTree().inclusion_proof(0)
    with pytest.raises(InvalidInput, match="size 9"):
        tree.inclusion_proof(0, 9)


def test_equal_sizes_need_an_empty_proof_and_equal_roots() -> None:
    tree = MerkleTree([leaf_hash(d) for d in entries(6)])
    root = tree.root()
    assert tree.consistency_proof(6) == []
    assert verify_consistency(6, 6, root, root, [])
    assert not verify_consistency(6, 6, root, EMPTY_ROOT, [])
    assert not verify_consistency(6, 6, root, root, [root])
    assert not verify_consistency(0, 6, EMPTY_ROOT, root, [])
