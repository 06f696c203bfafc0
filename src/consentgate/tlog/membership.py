"""Dataset member commitments: a sorted Merkle tree of per-member keys, and proofs that
a member is, or is not, in a dataset, which the member checks offline.

Each dataset commits to the members whose data it holds (the manifest's
``members_root``). A member is not named in the tree: their leaf is a 32-byte key

    key = HMAC-SHA256(secret, dataset_id || 0x00 || member_id)

where ``secret`` is a per-member secret (``member_secret`` derives it from a workspace
key; giving a member their own secret lets them recompute their key and check that a
proof is about them). Keys of other members look random to anyone without their
secrets, so a proof, which shows at most two neighbouring keys, reveals nothing about
who else is in the dataset beyond how many leaves there are.

The tree is the RFC 9162 tree (``consentgate.tlog.merkle``) over ``leaf_hash(key)`` for the
sorted, de-duplicated keys, in key order. Proofs:

* **present** — the member's key, its index and inclusion proof;
* **absent** — the two adjacent leaves around where the key would be (predecessor at
  ``i``, successor at ``i + 1``, with ``pred < key < succ``), each with its inclusion
  proof; before the first leaf only the successor at index 0, after the last only the
  predecessor at index ``size - 1``; an empty tree has root ``SHA-256("")``.

Why absence proofs cannot lie (given SHA-256 is collision resistant and the committed
tree was built sorted): a verified inclusion proof fixes the leaf's real path from the
root, and leaves ``i`` and ``i + 1`` of any tree shape have paths with nothing between
them, so the two neighbours are adjacent in the committed tree; with
``pred < key < succ`` the key cannot be a leaf of a sorted tree. This holds even for a
``tree_size`` chosen by whoever wrote the proof (an RFC 9162 root does not commit to
its size); ``verify_proof`` can also be told the expected size and dataset id, and the
member's secret and id, so that every field of a proof file is checked. Whether the
committed tree was sorted is checked by anyone who rebuilds the root from the keys
(``MemberTree.from_sorted`` refuses unsorted input; ``MemberTree`` and
``members_root`` sort).

Hand-written for the same reason as ``consentgate.tlog.merkle``: no maintained Python
library offers sorted-tree non-membership proofs.
"""

from __future__ import annotations

import bisect
import hmac
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from consentgate.errors import InvalidInput
from consentgate.tlog import strictjson
from consentgate.tlog.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    root_from_leaf_hashes,
    verify_inclusion,
)

__all__ = [
    "PROOF_TYPE",
    "PROOF_VERSION",
    "LeafProof",
    "MemberTree",
    "MembershipProof",
    "VerifyResult",
    "member_key",
    "member_keys",
    "member_secret",
    "members_root",
    "prove",
    "verify_proof",
    "verify_proof_json",
]

KEY_SIZE = 32
PROOF_TYPE = "consentgate.tlog.membership-proof"
PROOF_VERSION = 1
_HEX64 = re.compile(r"[0-9a-f]{64}")
SECRET_DOMAIN = b"consentgate.member-secret.v1\x00"
"""Prefix of the message whose HMAC under the workspace key is a member's secret."""


def member_secret(workspace_key: bytes, member_id: str) -> bytes:
    """A member's secret, ``HMAC-SHA256(workspace_key, "consentgate.member-secret.v1"
    || 0x00 || member_id)``: stable per member, unguessable without the workspace key,
    and safe to hand to that member."""
    if len(workspace_key) < 16:
        raise InvalidInput("workspace key must be at least 16 bytes")
    return hmac.new(workspace_key, SECRET_DOMAIN + member_id.encode("utf-8"), "sha256").digest()


def member_key(secret: bytes, member_id: str, dataset_id: str) -> bytes:
    """The member's 32-byte key in one dataset:
    ``HMAC-SHA256(secret, dataset_id || 0x00 || member_id)``."""
    if len(secret) < 16:
        raise InvalidInput("member secret must be at least 16 bytes")
    if not dataset_id or "\x00" in dataset_id:
        raise InvalidInput("dataset id must be non-empty and contain no NUL character")
    message = dataset_id.encode("utf-8") + b"\x00" + member_id.encode("utf-8")
    return hmac.new(secret, message, "sha256").digest()


def member_keys(workspace_key: bytes, member_ids: Iterable[str], dataset_id: str) -> list[bytes]:
    """``member_key(member_secret(workspace_key, m), m, dataset_id)`` for each member, in
    order, with the checks and encodings done once (a build derives one key per member).
    The secrets' HMAC state after the workspace key and the domain is computed once and
    copied for each member (~30% cheaper than a new HMAC each)."""
    if len(workspace_key) < 16:
        raise InvalidInput("workspace key must be at least 16 bytes")
    if not dataset_id or "\x00" in dataset_id:
        raise InvalidInput("dataset id must be non-empty and contain no NUL character")
    prefix = dataset_id.encode("utf-8") + b"\x00"
    keys = []
    secrets = hmac.new(workspace_key, SECRET_DOMAIN, "sha256")
    for m in member_ids:
        raw = m.encode("utf-8")
        state = secrets.copy()
        state.update(raw)
        keys.append(hmac.new(state.digest(), prefix + raw, "sha256").digest())
    return keys


def members_root(keys: Iterable[bytes]) -> bytes:
    """The root committing to ``keys`` (any order, duplicates ignored)."""
    ordered = sorted(set(keys))
    _check_keys(ordered)
    return root_from_leaf_hashes([leaf_hash(k) for k in ordered])


@dataclass(frozen=True, slots=True)
class LeafProof:
    """One leaf of the member tree: its index, its key and its inclusion proof."""

    index: int
    key: bytes
    path: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class MembershipProof:
    """A proof that ``key`` is (``present``) or is not in the member tree of a dataset.

    A presence proof sets ``member``; an absence proof sets ``predecessor`` and/or
    ``successor`` (neither when the tree is empty).
    """

    dataset_id: str
    tree_size: int
    key: bytes
    present: bool
    member: LeafProof | None = None
    predecessor: LeafProof | None = None
    successor: LeafProof | None = None
    version: int = PROOF_VERSION

    def to_json(self) -> str:
        """The proof file: JSON with hex-encoded hashes, newline-terminated."""
        doc = {
            "type": PROOF_TYPE,
            "version": self.version,
            "dataset_id": self.dataset_id,
            "tree_size": self.tree_size,
            "key": self.key.hex(),
            "present": self.present,
            "member": _leaf_to_json(self.member),
            "predecessor": _leaf_to_json(self.predecessor),
            "successor": _leaf_to_json(self.successor),
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> MembershipProof:
        """Read a proof file. Refuses (``InvalidInput``, listing every problem) anything
        that is not exactly the format ``to_json`` writes: unknown or missing fields,
        wrong types, upper-case or wrong-length hex."""
        try:
            doc = strictjson.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"membership proof is not valid JSON: {exc}") from exc
        problems: list[str] = []
        proof = _proof_from_doc(doc, problems)
        if proof is None or problems:
            raise InvalidInput("not a valid membership proof", problems)
        return proof


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of ``verify_proof``: ``present`` is meaningful only when ``valid``."""

    valid: bool
    present: bool
    reason: str


class MemberTree:
    """The member tree of one dataset, built once, for many proofs (O(log² n) each)."""

    __slots__ = ("_keys", "_tree")

    def __init__(self, keys: Iterable[bytes]) -> None:
        ordered = sorted(set(keys))
        _check_keys(ordered)
        self._keys = ordered
        self._tree = MerkleTree(leaf_hash(k) for k in ordered)

    @classmethod
    def from_sorted(cls, keys_sorted: Sequence[bytes]) -> MemberTree:
        """Build from keys already in strictly increasing order (checked, not sorted)."""
        keys = list(keys_sorted)
        _check_keys(keys)
        for i in range(1, len(keys)):
            if not keys[i - 1] < keys[i]:
                raise InvalidInput(
                    f"member keys must be sorted and unique; key {i} is not greater than key {i - 1}"
                )
        return cls(keys)

    @property
    def size(self) -> int:
        """Number of distinct member keys."""
        return len(self._keys)

    @property
    def root(self) -> bytes:
        """The ``members_root`` of the dataset."""
        return self._tree.root()

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, bytes):
            return False
        i = bisect.bisect_left(self._keys, key)
        return i < len(self._keys) and self._keys[i] == key

    def prove(self, key: bytes, *, dataset_id: str) -> MembershipProof:
        """A presence proof if ``key`` is in the tree, otherwise an absence proof."""
        _check_keys([key])
        n, keys = len(self._keys), self._keys
        i = bisect.bisect_left(keys, key)
        if i < n and keys[i] == key:
            return MembershipProof(dataset_id, n, key, True, member=self._leaf(i))
        predecessor = self._leaf(i - 1) if i > 0 else None
        successor = self._leaf(i) if i < n else None
        return MembershipProof(
            dataset_id, n, key, False, predecessor=predecessor, successor=successor
        )

    def _leaf(self, index: int) -> LeafProof:
        return LeafProof(index, self._keys[index], tuple(self._tree.inclusion_proof(index)))


def prove(keys_sorted: Sequence[bytes], key: bytes, *, dataset_id: str) -> MembershipProof:
    """Prove ``key`` in or out of the tree over ``keys_sorted`` (strictly increasing).

    Builds the tree each call (O(n)); keep a ``MemberTree`` for many proofs.
    """
    return MemberTree.from_sorted(keys_sorted).prove(key, dataset_id=dataset_id)


def verify_proof(
    proof: MembershipProof,
    root_hex: str,
    *,
    tree_size: int | None = None,
    dataset_id: str | None = None,
    secret: bytes | None = None,
    member_id: str | None = None,
) -> VerifyResult:
    """Check ``proof`` against a dataset's ``members_root`` (hex), offline.

    Optional expectations bind the rest of the proof file: ``tree_size`` (the
    dataset's member count) and ``dataset_id``; ``secret`` with ``member_id`` check
    that the proven key is this member's key for the proof's dataset. Never raises on
    a bad proof: the result says why it is invalid.
    """
    if (secret is None) != (member_id is None):
        raise InvalidInput("give both the member's secret and member id, or neither")
    if not _HEX64.fullmatch(root_hex.strip().lower()):
        return _invalid("the root must be 64 hexadecimal digits")
    root = bytes.fromhex(root_hex.strip())
    problem = _context_problem(proof, tree_size, dataset_id, secret, member_id)
    if problem:
        return _invalid(problem)
    if proof.present:
        return _verify_present(proof, root)
    return _verify_absent(proof, root)


def verify_proof_json(text: str | bytes, root_hex: str, **expect: Any) -> VerifyResult:
    """``verify_proof`` on a proof file's content; an unreadable file is invalid too.

    ``expect`` takes the keyword arguments of ``verify_proof``.
    """
    try:
        proof = MembershipProof.from_json(text)
    except InvalidInput as exc:
        return _invalid(str(exc))
    return verify_proof(proof, root_hex, **expect)


# -- verification --------------------------------------------------------------------


def _invalid(reason: str) -> VerifyResult:
    return VerifyResult(False, False, reason)


def _context_problem(
    proof: MembershipProof,
    tree_size: int | None,
    dataset_id: str | None,
    secret: bytes | None,
    member_id: str | None,
) -> str | None:
    if proof.version != PROOF_VERSION:
        return f"unsupported proof version {proof.version}"
    if len(proof.key) != KEY_SIZE:
        return f"the member key must be {KEY_SIZE} bytes"
    if proof.tree_size < 0:
        return "the tree size is negative"
    if tree_size is not None and proof.tree_size != tree_size:
        return f"the proof is for a tree of {proof.tree_size} leaves, expected {tree_size}"
    if dataset_id is not None and proof.dataset_id != dataset_id:
        return f"the proof is for dataset {proof.dataset_id!r}, expected {dataset_id!r}"
    if secret is not None and member_id is not None:
        try:
            mine = member_key(secret, member_id, proof.dataset_id)
        except InvalidInput as exc:
            return str(exc)
        if not hmac.compare_digest(mine, proof.key):
            return "the proven key is not this member's key for this dataset"
    return None


def _included(leaf: LeafProof, size: int, root: bytes) -> bool:
    return len(leaf.key) == KEY_SIZE and verify_inclusion(
        leaf_hash(leaf.key), leaf.index, size, leaf.path, root
    )


def _verify_present(proof: MembershipProof, root: bytes) -> VerifyResult:
    leaf = proof.member
    if leaf is None or proof.predecessor is not None or proof.successor is not None:
        return _invalid("a presence proof holds exactly the member's leaf")
    if leaf.key != proof.key:
        return _invalid("the proven leaf is not the member's key")
    if not _included(leaf, proof.tree_size, root):
        return _invalid("the member's leaf is not in the tree with this root")
    return VerifyResult(
        True, True, f"IN: the member's key is leaf {leaf.index} of {proof.tree_size}"
    )


def _verify_absent(proof: MembershipProof, root: bytes) -> VerifyResult:
    pred, succ, n, key = proof.predecessor, proof.successor, proof.tree_size, proof.key
    if proof.member is not None:
        return _invalid("an absence proof must not hold a member leaf")
    if n == 0:
        if pred is not None or succ is not None:
            return _invalid("an empty tree has no neighbouring leaves")
        if not hmac.compare_digest(root, EMPTY_ROOT):
            return _invalid("the tree with this root is not empty")
        return VerifyResult(True, False, "OUT: the tree is empty")
    if pred is None and succ is None:
        return _invalid("an absence proof needs the neighbouring leaves")
    if pred is not None:
        if not pred.key < key:
            return _invalid("the predecessor's key is not smaller than the member's key")
        if not _included(pred, n, root):
            return _invalid("the predecessor is not in the tree with this root")
    if succ is not None:
        if not key < succ.key:
            return _invalid("the successor's key is not greater than the member's key")
        if not _included(succ, n, root):
            return _invalid("the successor is not in the tree with this root")
    if pred is not None and succ is not None:
        if succ.index != pred.index + 1:
            return _invalid("the neighbouring leaves are not adjacent")
        where = f"between leaves {pred.index} and {succ.index}"
    elif pred is not None:
        if pred.index != n - 1:
            return _invalid("with no successor, the predecessor must be the last leaf")
        where = f"after the last leaf ({pred.index})"
    else:
        assert succ is not None
        if succ.index != 0:
            return _invalid("with no predecessor, the successor must be the first leaf")
        where = "before the first leaf"
    return VerifyResult(True, False, f"OUT: the member's key would sit {where} of {n}")


# -- (de)serialisation ---------------------------------------------------------------


def _check_keys(keys: Sequence[bytes]) -> None:
    for i, k in enumerate(keys):
        if not isinstance(k, bytes) or len(k) != KEY_SIZE:
            raise InvalidInput(f"member key {i} must be {KEY_SIZE} bytes")


def _leaf_to_json(leaf: LeafProof | None) -> dict[str, Any] | None:
    if leaf is None:
        return None
    return {"index": leaf.index, "key": leaf.key.hex(), "path": [p.hex() for p in leaf.path]}


_FIELDS = (
    "type",
    "version",
    "dataset_id",
    "tree_size",
    "key",
    "present",
    "member",
    "predecessor",
    "successor",
)


def _hex32(value: object, where: str, problems: list[str]) -> bytes:
    if isinstance(value, str) and _HEX64.fullmatch(value):
        return bytes.fromhex(value)
    problems.append(f"{where}: must be 64 lower-case hexadecimal digits")
    return b""


def _proof_from_doc(doc: object, problems: list[str]) -> MembershipProof | None:
    if not isinstance(doc, dict):
        problems.append("the proof must be a JSON object")
        return None
    for name in sorted(set(doc) - set(_FIELDS)):
        problems.append(f"{name}: unknown field")
    for name in _FIELDS:
        if name not in doc:
            problems.append(f"{name}: missing")
    if problems:
        return None
    if doc["type"] != PROOF_TYPE:
        problems.append(f"type: must be {PROOF_TYPE!r}")
    if not strictjson.is_int(doc["version"]) or doc["version"] != PROOF_VERSION:
        problems.append(f"version: only version {PROOF_VERSION} is supported")
    if not isinstance(doc["dataset_id"], str) or not doc["dataset_id"]:
        problems.append("dataset_id: must be a non-empty string")
    if not strictjson.is_int(doc["tree_size"]) or doc["tree_size"] < 0:
        problems.append("tree_size: must be an integer >= 0")
    if not isinstance(doc["present"], bool):
        problems.append("present: must be true or false")
    key = _hex32(doc["key"], "key", problems)
    leaves = {name: _leaf_from_doc(doc[name], name, problems) for name in _FIELDS[-3:]}
    if problems:
        return None
    return MembershipProof(
        dataset_id=doc["dataset_id"],
        tree_size=doc["tree_size"],
        key=key,
        present=doc["present"],
        member=leaves["member"],
        predecessor=leaves["predecessor"],
        successor=leaves["successor"],
        version=doc["version"],
    )


def _leaf_from_doc(doc: object, where: str, problems: list[str]) -> LeafProof | None:
    if doc is None:
        return None
    if not isinstance(doc, dict) or set(doc) != {"index", "key", "path"}:
        problems.append(f"{where}: must be null or an object with index, key and path")
        return None
    if not strictjson.is_int(doc["index"]) or doc["index"] < 0:
        problems.append(f"{where}.index: must be an integer >= 0")
    key = _hex32(doc["key"], f"{where}.key", problems)
    path = doc["path"]
    if not isinstance(path, list):
        problems.append(f"{where}.path: must be a list")
        return None
    hashes = tuple(_hex32(p, f"{where}.path[{i}]", problems) for i, p in enumerate(path))
    return LeafProof(doc["index"], key, hashes)
