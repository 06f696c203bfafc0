"""Dataset member commitments: keys, roots, presence and absence proofs, their JSON
files, and that no false proof verifies."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.errors import InvalidInput
from consentgate.tlog.membership import (
    LeafProof,
    MembershipProof,
    MemberTree,
    member_key,
    member_secret,
    members_root,
    prove,
    verify_proof,
    verify_proof_json,
)
from consentgate.tlog.merkle import EMPTY_ROOT, MerkleTree, leaf_hash, root_from_leaf_hashes

DATASET = "ds-2025-01-demo"
keys_st = st.lists(st.binary(min_size=32, max_size=32), max_size=24)


def sorted_keys(keys: list[bytes]) -> list[bytes]:
    return sorted(set(keys))


def flip_bit(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


# -- keys and roots --------------------------------------------------------------------


def test_member_key_is_the_hmac_of_dataset_and_member() -> None:
    secret = b"s" * 32
    want = hmac.new(secret, b"ds-1\x00member-7", hashlib.sha256).digest()
    assert member_key(secret, "member-7", "ds-1") == want
    assert member_key(secret, "member-7", "ds-2") != want
    assert member_key(b"t" * 32, "member-7", "ds-1") != want


def test_member_key_refuses_ambiguous_or_weak_input() -> None:
    with pytest.raises(InvalidInput, match="NUL"):
        member_key(b"s" * 32, "m", "ds\x00x")
    with pytest.raises(InvalidInput, match="dataset id"):
        member_key(b"s" * 32, "m", "")
    with pytest.raises(InvalidInput, match="16 bytes"):
        member_key(b"short", "m", "ds")


def test_member_secret_is_stable_per_member_and_keyed() -> None:
    wk = b"w" * 32
    assert member_secret(wk, "alice") == member_secret(wk, "alice")
    assert member_secret(wk, "alice") != member_secret(wk, "bob")
    assert member_secret(b"v" * 32, "alice") != member_secret(wk, "alice")
    with pytest.raises(InvalidInput, match="16 bytes"):
        member_secret(b"k", "alice")


@given(keys_st)
def test_members_root_ignores_order_and_duplicates(keys: list[bytes]) -> None:
    want = root_from_leaf_hashes([leaf_hash(k) for k in sorted_keys(keys)])
    assert members_root(keys) == want
    assert members_root(list(reversed(keys)) + keys) == want
    assert MemberTree(keys).root == want
    assert MemberTree(keys).size == len(set(keys))


def test_empty_dataset_has_the_empty_root() -> None:
    assert members_root([]) == EMPTY_ROOT
    proof = prove([], b"k" * 32, dataset_id=DATASET)
    result = verify_proof(proof, EMPTY_ROOT.hex())
    assert result.valid and not result.present and result.reason == "OUT: the tree is empty"
    assert not verify_proof(proof, members_root([b"a" * 32]).hex()).valid


def test_prove_refuses_unsorted_duplicate_or_bad_keys() -> None:
    a, b = b"a" * 32, b"b" * 32
    with pytest.raises(InvalidInput, match="sorted and unique"):
        prove([b, a], a, dataset_id=DATASET)
    with pytest.raises(InvalidInput, match="sorted and unique"):
        prove([a, a], a, dataset_id=DATASET)
    with pytest.raises(InvalidInput, match="32 bytes"):
        prove([a, b"short"], a, dataset_id=DATASET)
    with pytest.raises(InvalidInput, match="32 bytes"):
        prove([a, b], b"short", dataset_id=DATASET)


# -- honest proofs ---------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(keys_st, st.data())
def test_proofs_verify_and_tell_the_truth(keys: list[bytes], data: st.DataObject) -> None:
    ks = sorted_keys(keys)
    if ks and data.draw(st.booleans(), label="pick a member"):
        key = data.draw(st.sampled_from(ks), label="member")
    else:
        key = data.draw(st.binary(min_size=32, max_size=32), label="key")
    tree = MemberTree(ks)
    proof = tree.prove(key, dataset_id=DATASET)
    assert proof == prove(ks, key, dataset_id=DATASET)
    assert proof.present is (key in ks) is (key in tree)
    root = tree.root.hex()
    result = verify_proof(proof, root, tree_size=len(ks), dataset_id=DATASET)
    assert result.valid, result.reason
    assert result.present is (key in ks)
    assert result.reason.startswith("IN" if key in ks else "OUT")
    assert MembershipProof.from_json(proof.to_json()) == proof
    assert verify_proof_json(proof.to_json(), root.upper()) == result
    other = members_root([*ks, hashlib.sha256(b"x" + key).digest()]).hex()
    assert not verify_proof(proof, other).valid


def test_proof_shapes_at_the_edges() -> None:
    ks = [bytes([i]) * 32 for i in (10, 20, 30)]
    tree = MemberTree(ks)
    before = tree.prove(bytes([5]) * 32, dataset_id=DATASET)
    assert before.predecessor is None and before.successor is not None
    assert before.successor.index == 0
    after = tree.prove(bytes([40]) * 32, dataset_id=DATASET)
    assert after.successor is None and after.predecessor is not None
    assert after.predecessor.index == 2
    middle = tree.prove(bytes([25]) * 32, dataset_id=DATASET)
    assert middle.predecessor is not None and middle.successor is not None
    assert (middle.predecessor.index, middle.successor.index) == (1, 2)
    for proof, reason in [
        (before, "before the first leaf"),
        (after, "after the last leaf (2)"),
        (middle, "between leaves 1 and 2"),
    ]:
        result = verify_proof(proof, tree.root.hex())
        assert result.valid and not result.present and reason in result.reason


def test_proof_file_is_versioned_hex_json() -> None:
    ks = [bytes([i]) * 32 for i in range(5)]
    proof = prove(ks, ks[3], dataset_id=DATASET)
    doc = json.loads(proof.to_json())
    assert doc["type"] == "consentgate.tlog.membership-proof"
    assert doc["version"] == 1
    assert doc["dataset_id"] == DATASET and doc["tree_size"] == 5
    assert doc["key"] == ks[3].hex() and doc["present"] is True
    assert doc["member"]["index"] == 3
    assert doc["predecessor"] is None and doc["successor"] is None
    assert all(len(p) == 64 for p in doc["member"]["path"])


# -- false proofs are impossible ---------------------------------------------------------


def candidate_leaves(ks: list[bytes]) -> list[tuple[bytes, tuple[bytes, ...]]]:
    """Every real leaf with its real inclusion proof: all a forger has to work with."""
    tree = MerkleTree(leaf_hash(k) for k in ks)
    return [(k, tuple(tree.inclusion_proof(i))) for i, k in enumerate(ks)]


@settings(max_examples=15, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=7, unique=True))
def test_a_present_member_cannot_get_a_valid_absence_proof(keys: list[bytes]) -> None:
    ks = sorted(keys)
    root = members_root(ks).hex()
    leaves = candidate_leaves(ks)
    for key in ks:
        # Every pair of real leaves, at every claimed index and tree size.
        for claimed in range(0, 2 * len(ks) + 2):
            assert not verify_proof(MembershipProof(DATASET, claimed, key, False), root).valid
            for pk, ppath in leaves:
                for i in range(claimed):
                    pred = LeafProof(i, pk, ppath)
                    for one in (
                        MembershipProof(DATASET, claimed, key, False, predecessor=pred),
                        MembershipProof(DATASET, claimed, key, False, successor=pred),
                    ):
                        assert not verify_proof(one, root).valid
                    for sk, spath in leaves:
                        succ = LeafProof(i + 1, sk, spath)
                        two = MembershipProof(
                            DATASET, claimed, key, False, predecessor=pred, successor=succ
                        )
                        assert not verify_proof(two, root).valid


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.binary(min_size=32, max_size=32), max_size=9, unique=True),
    st.binary(min_size=32, max_size=32),
)
def test_an_absent_member_cannot_get_a_valid_presence_proof(keys: list[bytes], key: bytes) -> None:
    ks = sorted(set(keys) - {key})
    root = members_root(ks).hex()
    paths = [path for _, path in candidate_leaves(ks)] + [()]
    for claimed in range(0, 2 * len(ks) + 2):
        for i in range(claimed):
            for path in paths:
                forged = MembershipProof(
                    DATASET, claimed, key, True, member=LeafProof(i, key, path)
                )
                assert not verify_proof(forged, root).valid


@pytest.mark.parametrize("which", ["present", "absent"])
def test_one_flipped_bit_anywhere_in_the_proof_file_invalidates_it(which: str) -> None:
    wk = b"workspace-key-0123456789"
    secrets = {f"member-{i}": member_secret(wk, f"member-{i}") for i in range(12)}
    keys = {m: member_key(s, m, DATASET) for m, s in secrets.items()}
    member = "member-3"
    tree = MemberTree(k for m, k in keys.items() if which == "present" or m != member)
    text = tree.prove(keys[member], dataset_id=DATASET).to_json().encode()
    root = tree.root.hex()
    expect = {
        "tree_size": tree.size,
        "dataset_id": DATASET,
        "secret": secrets[member],
        "member_id": member,
    }
    result = verify_proof_json(text, root, **expect)
    assert result.valid and result.present is (which == "present")
    for bit in range(len(text) * 8):
        result = verify_proof_json(flip_bit(text, bit), root, **expect)
        assert not result.valid, (bit, result.reason)
    for bit in range(256):
        assert not verify_proof_json(text, flip_bit(tree.root, bit).hex(), **expect).valid


@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_flips_that_keep_an_absence_proof_valid_only_move_the_absent_key(position: str) -> None:
    # Without the member's secret the absent key is not bound to anyone: a flip may
    # yield a valid proof, but only ever that some other key is absent, never IN.
    ks = sorted(hashlib.sha256(bytes([i])).digest() for i in range(11))
    tree = MemberTree(ks)
    key = {"first": b"\x00" * 32, "middle": ks[4][:1] + b"\xff" * 31, "last": b"\xff" * 32}[
        position
    ]
    proof = tree.prove(key, dataset_id=DATASET)
    text, root = proof.to_json().encode(), tree.root.hex()
    moved = 0
    for bit in range(len(text) * 8):
        result = verify_proof_json(flip_bit(text, bit), root, tree_size=11, dataset_id=DATASET)
        if result.valid:
            changed = MembershipProof.from_json(flip_bit(text, bit))
            assert not result.present and changed.key != key and changed.key not in ks
            moved += 1
    assert moved > 0  # the reason verify_proof takes the member's secret


def test_a_member_checks_the_proof_is_about_them() -> None:
    wk = b"workspace-key-0123456789"
    ids = [f"member-{i}" for i in range(8)]
    keys = {m: member_key(member_secret(wk, m), m, DATASET) for m in ids[:6]}
    tree = MemberTree(keys.values())
    root = tree.root.hex()
    alice, outsider = "member-2", "member-7"
    alice_secret = member_secret(wk, alice)
    proof = tree.prove(keys[alice], dataset_id=DATASET)
    mine = verify_proof(proof, root, secret=alice_secret, member_id=alice)
    assert mine.valid and mine.present
    # Someone else's proof, or one relabelled for another dataset, is refused.
    assert not verify_proof(proof, root, secret=alice_secret, member_id="member-3").valid
    relabelled = MembershipProof.from_json(proof.to_json().replace(DATASET, "ds-other"))
    result = verify_proof(relabelled, root, secret=alice_secret, member_id=alice)
    assert not result.valid and "not this member's key" in result.reason
    # An outsider's absence proof verifies as OUT with their own secret.
    out_secret = member_secret(wk, outsider)
    out = tree.prove(member_key(out_secret, outsider, DATASET), dataset_id=DATASET)
    result = verify_proof(out, root, secret=out_secret, member_id=outsider)
    assert result.valid and not result.present
    with pytest.raises(InvalidInput, match="both"):
        verify_proof(out, root, secret=out_secret)


def test_expectations_name_the_mismatch() -> None:
    ks = [bytes([i]) * 32 for i in range(4)]
    proof = prove(ks, ks[0], dataset_id=DATASET)
    root = members_root(ks).hex()
    assert "expected 5" in verify_proof(proof, root, tree_size=5).reason
    assert "expected 'ds-x'" in verify_proof(proof, root, dataset_id="ds-x").reason
    assert "64 hexadecimal" in verify_proof(proof, "abc").reason


# -- proof files that are not proofs ----------------------------------------------------


def _proof_doc() -> dict[str, object]:
    ks = [bytes([i]) * 32 for i in (0xAA, 0xBB, 0xCC)]
    doc: dict[str, object] = json.loads(prove(ks, ks[1], dataset_id=DATASET).to_json())
    return doc


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("tree_size"), "tree_size: missing"),
        (lambda d: d.update(extra=1), "extra: unknown field"),
        (lambda d: d.update(version=2), "only version 1"),
        (lambda d: d.update(version=True), "only version 1"),
        (lambda d: d.update(tree_size=3.0), "tree_size: must be an integer"),
        (lambda d: d.update(present="yes"), "present: must be true or false"),
        (lambda d: d.update(key=str(d["key"]).upper()), "key: must be 64 lower-case"),
        (lambda d: d.update(type="something"), "type: must be"),
        (lambda d: d.update(member={"index": 1}), "member: must be null or an object"),
        (lambda d: d.update(dataset_id=""), "dataset_id: must be a non-empty string"),
    ],
)
def test_malformed_proof_files_are_refused_with_the_field(change: object, message: str) -> None:
    doc = _proof_doc()
    change(doc)  # type: ignore[operator]
    with pytest.raises(InvalidInput, match=message):
        MembershipProof.from_json(json.dumps(doc))
    result = verify_proof_json(json.dumps(doc), "00" * 32)
    assert not result.valid and message.split(":")[0] in result.reason


@pytest.mark.parametrize(
    "text", ["", "[]", "{", '{"type": NaN}', '{"key": "a", "key": "b"}', b"\xff\xfe"]
)
def test_non_proof_json_is_refused(text: str | bytes) -> None:
    with pytest.raises(InvalidInput):
        MembershipProof.from_json(text)
