"""The audit trail as a transparency log: checking it against signed checkpoints, and
consent receipts. Pure (no database, no files).

The leaves of the log are the audit entries' canonical bytes (``AuditEntry.entry_bytes``),
in index order: leaf hash ``H(0x00 || entry_bytes)`` (``consentgate.tlog.merkle``). A checkpoint
(``consentgate.tlog.checkpoint``) signs the tree head at some size; the store keeps every one.

* ``check_log`` checks a rebuilt tree against the stored checkpoints: each is signed by
  the log's key for this log's origin, the latest matches the log, and every earlier one
  is a prefix of it (its root is the root of the log's first entries, and the RFC 9162
  consistency proof from it to the latest verifies). A log rolled back or rewritten
  behind any checkpoint fails, naming the checkpoint and the first index that may differ.
* A **consent receipt** is what a member keeps: the consent event as stored, the audit
  entry that commits to it, the entry's inclusion proof, the signed checkpoint it is
  proven against, and the log key's signature over (origin, event, entry).
  ``verify_receipt`` needs only the file and the verifier key.
* ``units_root`` and ``blocked_inclusion_proof`` compute roots and audit paths from the
  roots of complete blocks of entries, so the store can sign a checkpoint or prove one
  entry without re-reading the whole log.

Why the receipt carries its own signature: an entry commits to its row with an HMAC under
the member's key (commit, don't reveal; an erase event: the workspace secret), which a
member cannot recompute, so the inclusion proof alone would not tie the event to the
entry. The signature does: the log operator states, under the key that signs its
checkpoints, that this event is the row that entry commits to. Anyone holding that key
(the operator, an auditor, until an erasure destroys it) can also check the digest itself
(``audit.row_digest`` over the event's columns, in the order of the ``consent_events``
table).

A receipt file is accepted only in the exact form ``Receipt.to_json`` writes, so that
every altered byte fails, not only the bytes that carry meaning. The receipt format is
consentgate's own (no standard or library covers it); it is built from the RFC 9162 and
signed-note pieces of ``merkle`` and ``checkpoint``.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consentgate.errors import AuditChainBroken, InvalidInput
from consentgate.timestamps import parse_timestamp
from consentgate.tlog import strictjson
from consentgate.tlog.audit import CONSENT_RECORDED, AuditEntry, canonical_json
from consentgate.tlog.checkpoint import (
    Checkpoint,
    Signer,
    Verifier,
    open_note,
    sign_note,
    verify_checkpoint,
)
from consentgate.tlog.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from consentgate.tlog.note import verify_checkpoint as verify_checkpoint_by

__all__ = [
    "RECEIPT_TYPE",
    "RECEIPT_VERSION",
    "LogCheck",
    "LoggedCheckpoint",
    "Receipt",
    "ReceiptCheck",
    "SignedHead",
    "blocked_inclusion_proof",
    "build_receipt",
    "check_log",
    "entry_leaf",
    "event_document",
    "log_origin",
    "units_root",
    "verify_receipt",
]

RECEIPT_TYPE = "consentgate.consent-receipt"
RECEIPT_VERSION = 1
_STATEMENT_HEADER = f"{RECEIPT_TYPE}/v{RECEIPT_VERSION}"
_EVENT_ENTITY = "consent_events"


def log_origin(workspace_id: str) -> str:
    """The origin line of the log of one workspace: ``consentgate/<workspace id>``."""
    return f"consentgate/{workspace_id}"


def entry_leaf(entry: AuditEntry) -> bytes:
    """The Merkle leaf hash of one audit entry: ``H(0x00 || entry_bytes)``."""
    return leaf_hash(entry.entry_bytes())


# -- the log against its checkpoints ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoggedCheckpoint:
    """A checkpoint as the store keeps it: its number (1, 2, ... in signing order), the
    size and root it was stored with, and the signed note. A checkpoint held elsewhere
    (a receipt's, a witness's) has number 0 and names its ``source``."""

    number: int
    size: int
    root: bytes
    note: str
    source: str = ""

    @property
    def label(self) -> str:
        """How messages name it: ``checkpoint #3``, or ``checkpoint <source>``."""
        return f"checkpoint #{self.number}" if self.number else f"checkpoint {self.source}"


@dataclass(frozen=True, slots=True)
class LogCheck:
    """What ``check_log`` found: the log's size and root, how many checkpoints were
    checked (and whether their signatures were), and the latest one."""

    size: int
    root: bytes
    checkpoints: int
    signatures_checked: bool
    latest: LoggedCheckpoint | None

    @property
    def uncovered(self) -> int:
        """Entries appended after the latest checkpoint (not yet signed)."""
        return self.size - (self.latest.size if self.latest else 0)


def check_log(
    tree: MerkleTree,
    checkpoints: Sequence[LoggedCheckpoint],
    *,
    verifier: Verifier | Sequence[Verifier] | None,
    origin: str,
) -> LogCheck:
    """Check the log's ``tree`` against every stored checkpoint.

    With a ``verifier`` (or several: the log's keys before and after a rotation), every
    note must carry a valid signature by one of them, be for
    ``origin``, and state the size and root it is stored with; without one, only the
    stored sizes and roots are compared (``signatures_checked`` is then False). Raises
    ``AuditChainBroken`` naming the checkpoint and, as ``index``, the first entry that
    may differ.
    """
    for cp in checkpoints:
        if verifier is not None:
            _check_signature(cp, verifier, origin)
    if not checkpoints:
        return LogCheck(len(tree), tree.root(), 0, verifier is not None, None)
    latest = max(checkpoints, key=lambda c: (c.number, c.size))
    good = [0]  # sizes known to match the log; entries below them are proven unchanged
    for cp in sorted(checkpoints, key=lambda c: (c.size, c.number)):
        _check_against_tree(tree, cp, good)
        good.append(cp.size)
    for cp in checkpoints:
        if cp is not latest:
            _check_consistent(tree, cp, latest)
    return LogCheck(len(tree), tree.root(), len(checkpoints), verifier is not None, latest)


def _check_signature(
    cp: LoggedCheckpoint, verifier: Verifier | Sequence[Verifier], origin: str
) -> None:
    keys = [verifier] if isinstance(verifier, Verifier) else list(verifier)
    try:
        signed, _ = verify_checkpoint_by(cp.note, keys, origin=origin)
    except AuditChainBroken as exc:
        raise AuditChainBroken(f"{cp.label}: {exc}") from exc
    if signed.size != cp.size or not hmac.compare_digest(signed.root, cp.root):
        raise AuditChainBroken(f"{cp.label}: the stored size or root differs from its signed note")


def _check_against_tree(tree: MerkleTree, cp: LoggedCheckpoint, good: list[int]) -> None:
    n = len(tree)
    if cp.size > n:
        raise AuditChainBroken(
            f"{cp.label} covers {cp.size} entries but the log has {n}: "
            f"audit entry {n} and later were removed (the log was rolled back)",
            n,
        )
    if not hmac.compare_digest(tree.root(cp.size), cp.root):
        lo = max(s for s in good if s < cp.size) if cp.size else 0
        raise AuditChainBroken(
            f"the log does not match {cp.label} (size {cp.size}): an audit entry "
            f"from index {lo} to {cp.size - 1} was changed (the log was rewritten or forked)",
            lo,
        )


def _check_consistent(tree: MerkleTree, cp: LoggedCheckpoint, latest: LoggedCheckpoint) -> None:
    """The RFC 9162 consistency proof from ``cp`` to ``latest``, as a monitor checks it."""
    if cp.size > latest.size:
        raise AuditChainBroken(
            f"{cp.label} (size {cp.size}) is larger than the latest {latest.label} "
            f"(size {latest.size}): the log was rolled back behind it",
            latest.size,
        )
    if cp.size == 0:
        ok = hmac.compare_digest(cp.root, EMPTY_ROOT)
    else:
        proof = tree.consistency_proof(cp.size, latest.size)
        ok = verify_consistency(cp.size, latest.size, cp.root, latest.root, proof)
    if not ok:
        raise AuditChainBroken(
            f"{cp.label} is not consistent with the latest {latest.label}: the log was forked"
        )


@dataclass(frozen=True, slots=True)
class SignedHead:
    """The outcome of signing the log's head: the checkpoint (a new one, or the latest
    when the log has not grown since) and the one before it."""

    checkpoint: LoggedCheckpoint
    created: bool
    previous: LoggedCheckpoint | None = None


# -- the tree from block roots -----------------------------------------------------------
#
# Signing a checkpoint or proving one entry should not re-read a million entries. The
# store keeps the root of every complete block of 2**k entries (1024). Every RFC 9162
# subtree split of a tree larger than a block falls on a block boundary, and the last,
# partial block is itself a subtree, so the tree over n entries is exactly the RFC tree
# over its "units" (the complete blocks' roots, then the partial block's root), each
# treated as a leaf hash; an audit path is the path inside the entry's unit followed by
# the unit's path in that tree.


def units_root(units: Sequence[bytes]) -> bytes:
    """The root of the log from its units (complete block roots, then the root of the
    partial last block, if any)."""
    return root_from_leaf_hashes(units)


def blocked_inclusion_proof(
    units: Sequence[bytes], unit_leaves: Sequence[bytes], index: int, *, block: int
) -> list[bytes]:
    """The RFC 9162 audit path of leaf ``index`` from the log's ``units`` (see above)
    and the leaf hashes of the unit holding ``index`` (``block`` leaves, fewer for the
    last unit). ``block`` must be a power of two."""
    if block < 1 or block & (block - 1):
        raise InvalidInput(f"block size must be a power of two, got {block}")
    j = index // block
    if not 0 <= j < len(units):
        raise InvalidInput(f"leaf index {index} is outside the tree")
    inner = MerkleTree(unit_leaves)
    if not hmac.compare_digest(inner.root(), units[j]):
        first, last = j * block, j * block + len(unit_leaves) - 1
        raise AuditChainBroken(
            f"audit entries {first} to {last} differ from the signed tree (the log was rewritten)",
            first,
        )
    return inner.inclusion_proof(index - j * block) + MerkleTree(units).inclusion_proof(j)


# -- receipts --------------------------------------------------------------------------


def event_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """A consent event row as JSON values: keys sorted at every level, timestamps in
    RFC 3339 (as ``audit.row_digest`` writes them), so one event has one document."""
    doc: dict[str, Any] = json.loads(canonical_json(dict(row)))
    return doc


@dataclass(frozen=True, slots=True)
class Receipt:
    """A consent receipt: see the module docstring and docs/transparency.md."""

    origin: str
    event: Mapping[str, Any]
    entry: AuditEntry
    inclusion_proof: tuple[bytes, ...]
    checkpoint: str
    signature: str

    def statement(self) -> str:
        """The signed text: a type line, then the canonical JSON of origin, event, entry."""
        return _statement(self.origin, self.event, self.entry)

    def to_json(self) -> str:
        """The receipt file, newline-terminated; the only form ``from_json`` accepts."""
        doc = {
            "type": RECEIPT_TYPE,
            "version": RECEIPT_VERSION,
            "origin": self.origin,
            "event": event_document(self.event),
            "entry": self.entry.as_dict(),
            "leaf_index": self.entry.idx,
            "inclusion_proof": [p.hex() for p in self.inclusion_proof],
            "checkpoint": self.checkpoint,
            "signature": self.signature,
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Receipt:
        """Read a receipt file. Refuses (``InvalidInput``, listing every problem) anything
        that is not exactly what ``to_json`` writes."""
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInput("receipt is not valid UTF-8") from exc
        try:
            doc = strictjson.loads(text)
        except ValueError as exc:
            raise InvalidInput(f"receipt is not valid JSON: {exc}") from exc
        problems: list[str] = []
        receipt = _receipt_from_doc(doc, problems)
        if receipt is None or problems:
            raise InvalidInput("not a valid consent receipt", problems)
        if receipt.to_json() != text:
            raise InvalidInput("receipt is not in canonical form (it was altered)")
        return receipt


@dataclass(frozen=True, slots=True)
class ReceiptCheck:
    """A verified receipt: which event it proves, where, and against which checkpoint."""

    event_id: str
    event_type: str
    leaf_index: int
    checkpoint: Checkpoint


def build_receipt(
    signer: Signer,
    *,
    origin: str,
    event: Mapping[str, Any],
    entry: AuditEntry,
    inclusion_proof: Sequence[bytes],
    checkpoint: str,
) -> Receipt:
    """Sign and assemble a receipt, then verify it as a member would (so a receipt that
    would not verify is never issued)."""
    doc = event_document(event)
    if entry.entity != _EVENT_ENTITY or entry.key != doc.get("event_id"):
        raise InvalidInput("the audit entry does not record this consent event")
    statement = _statement(origin, doc, entry)
    note = sign_note(signer, statement)
    signature = note[len(statement) + 1 :].rstrip("\n")
    receipt = Receipt(origin, doc, entry, tuple(inclusion_proof), checkpoint, signature)
    verify_receipt(receipt.to_json(), signer.verifier)
    return receipt


def verify_receipt(text: str | bytes, verifier: Verifier) -> ReceiptCheck:
    """Check a receipt file offline with the log's verifier key.

    Raises ``AuditChainBroken`` (with the reason) unless the file is exactly as issued,
    its statement is signed by ``verifier``, its checkpoint is signed by ``verifier`` for
    the same origin, and the entry — which records this event — is in the tree of that
    checkpoint (the tree size comes from the signed checkpoint only).
    """
    try:
        receipt = Receipt.from_json(text)
    except InvalidInput as exc:
        raise AuditChainBroken(f"receipt refused: {exc}") from exc
    try:
        open_note(f"{receipt.statement()}\n{receipt.signature}\n", verifier)
    except AuditChainBroken as exc:
        raise AuditChainBroken(f"receipt signature: {exc}") from exc
    try:
        cp = verify_checkpoint(receipt.checkpoint, verifier, origin=receipt.origin)
    except AuditChainBroken as exc:
        raise AuditChainBroken(f"receipt checkpoint: {exc}") from exc
    entry = receipt.entry
    if entry.action != CONSENT_RECORDED or entry.entity != _EVENT_ENTITY:
        raise AuditChainBroken("receipt entry does not record a consent event")
    if entry.key != receipt.event.get("event_id"):
        raise AuditChainBroken("receipt entry is for another event")
    if not entry.idx < cp.size:
        raise AuditChainBroken(
            f"receipt entry {entry.idx} is not covered by its checkpoint (size {cp.size})"
        )
    if not verify_inclusion(
        entry_leaf(entry), entry.idx, cp.size, receipt.inclusion_proof, cp.root
    ):
        raise AuditChainBroken(
            f"receipt inclusion proof does not show entry {entry.idx} in the checkpoint's tree"
        )
    return ReceiptCheck(
        event_id=str(receipt.event["event_id"]),
        event_type=str(receipt.event.get("type")),
        leaf_index=entry.idx,
        checkpoint=cp,
    )


def _statement(origin: str, event: Mapping[str, Any], entry: AuditEntry) -> str:
    body = {"origin": origin, "event": dict(event), "entry": entry.as_dict()}
    return f"{_STATEMENT_HEADER}\n{canonical_json(body).decode('utf-8')}\n"


# -- reading receipt files ------------------------------------------------------------------

_FIELDS = (
    "type",
    "version",
    "origin",
    "event",
    "entry",
    "leaf_index",
    "inclusion_proof",
    "checkpoint",
    "signature",
)
_ENTRY_FIELDS = ("idx", "action", "entity", "key", "digest", "at", "prev")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _receipt_from_doc(doc: object, problems: list[str]) -> Receipt | None:
    if not isinstance(doc, dict):
        problems.append("the receipt must be a JSON object")
        return None
    problems.extend(f"{name}: unknown field" for name in sorted(set(doc) - set(_FIELDS)))
    problems.extend(f"{name}: missing" for name in _FIELDS if name not in doc)
    if problems:
        return None
    if doc["type"] != RECEIPT_TYPE:
        problems.append(f"type: must be {RECEIPT_TYPE!r}")
    if not strictjson.is_int(doc["version"]) or doc["version"] != RECEIPT_VERSION:
        problems.append(f"version: only version {RECEIPT_VERSION} is supported")
    for name in ("origin", "checkpoint", "signature"):
        if not isinstance(doc[name], str) or not doc[name]:
            problems.append(f"{name}: must be a non-empty string")
    event = doc["event"]
    if not isinstance(event, dict) or not isinstance(event.get("event_id"), str):
        problems.append("event: must be an object with a string event_id")
    entry = _entry_from_doc(doc["entry"], problems)
    if not strictjson.is_int(doc["leaf_index"]) or (
        entry is not None and doc["leaf_index"] != entry.idx
    ):
        problems.append("leaf_index: must equal entry.idx")
    proof = _proof_from_doc(doc["inclusion_proof"], problems)
    if problems or entry is None:
        return None
    return Receipt(doc["origin"], event, entry, proof, doc["checkpoint"], doc["signature"])


def _entry_from_doc(doc: object, problems: list[str]) -> AuditEntry | None:
    if not isinstance(doc, dict) or set(doc) != set(_ENTRY_FIELDS):
        problems.append(f"entry: must be an object with exactly {', '.join(_ENTRY_FIELDS)}")
        return None
    bad = len(problems)
    if not strictjson.is_int(doc["idx"]) or doc["idx"] < 0:
        problems.append("entry.idx: must be an integer >= 0")
    for name in ("action", "entity", "key", "prev"):
        if not isinstance(doc[name], str):
            problems.append(f"entry.{name}: must be a string")
    if doc["digest"] is not None and not isinstance(doc["digest"], str):
        problems.append("entry.digest: must be a string or null")
    at: datetime | None = None
    try:
        at = parse_timestamp(doc["at"], field="entry.at", allow_date=False)
    except ValueError as exc:
        problems.append(str(exc))
    if len(problems) > bad or at is None:
        return None
    return AuditEntry(
        doc["idx"], doc["action"], doc["entity"], doc["key"], doc["digest"], at, doc["prev"]
    )


def _proof_from_doc(doc: object, problems: list[str]) -> tuple[bytes, ...]:
    if not isinstance(doc, list):
        problems.append("inclusion_proof: must be a list of hashes")
        return ()
    out = []
    for i, h in enumerate(doc):
        if isinstance(h, str) and _HEX64.fullmatch(h):
            out.append(bytes.fromhex(h))
        else:
            problems.append(f"inclusion_proof[{i}]: must be 64 lower-case hexadecimal digits")
    return tuple(out)
