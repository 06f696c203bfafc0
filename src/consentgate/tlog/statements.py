"""What consentgate puts in a tlog-proof's extra data, and how a verifier checks it.

The extra data of every consentgate proof is a **signed note** (c2sp.org/signed-note) by
the log key: a statement whose exact bytes are in the file, so a verifier checks the
signature over those bytes and only *reads* the values — nothing is ever re-serialised.
Its text is a type line, then one ``<name> <value>`` line per field, in a fixed order;
values are single lines (JSON escapes every control character; lines are split on
U+000A only, never on U+2028 or other separators)::

    consentgate.consent-receipt/v2
    origin consentgate/c0b653d18f1ba4fe
    index 3
    entry {"action":"consent.recorded","at":"…","digest":"…","entity":"consent_events","idx":3,"key":"ev-…","prev":"…"}
    event {"covers_from":null,"effective_at":"…","event_id":"ev-…","member_id":"alice",…}

    consentgate.dataset-membership/v1
    origin consentgate/c0b653d18f1ba4fe
    index 42
    entry {"action":"dataset.registered",…,"entity":"datasets",…,"key":"ds-…",…}
    dataset {"dataset_id":"ds-…","manifest_sha256":"…","members_count":3,"members_root":"…"}
    proof {"dataset_id":"ds-…","key":"…","member":null,"predecessor":{…},…}

The ``entry`` value is the log entry itself: its UTF-8 bytes are the leaf, so the leaf
hash is ``SHA-256(0x00 || entry bytes)`` and the proof's inclusion hashes lead from it to
the checkpoint's root. The statement's signature binds the entry, which commits to its
row only through an HMAC the holder cannot recompute, to the row's content (the event)
or to the dataset's member commitment (``members_root``); the ``proof`` line is the
membership proof of ``consentgate.tlog.membership`` against that root.

Verification needs the log's key(s) — or a c2sp.org/tlog-policy, which also requires the
witnesses' quorum on the checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from consentgate.errors import AuditChainBroken, InvalidInput
from consentgate.tlog import strictjson
from consentgate.tlog.audit import CONSENT_RECORDED, AuditEntry, canonical_json
from consentgate.tlog.checkpoint import Checkpoint, Signer, Verifier, sign_note
from consentgate.tlog.membership import MembershipProof, verify_proof
from consentgate.tlog.merkle import EMPTY_ROOT, leaf_hash, verify_consistency, verify_inclusion
from consentgate.tlog.note import open_note, verify_checkpoint
from consentgate.tlog.policy import TlogPolicy
from consentgate.tlog.proof import TlogProof, parse_tlog_proof
from consentgate.tlog.receipts import event_document
from consentgate.tlog.tiles import TileReader

__all__ = [
    "DATASET_STATEMENT",
    "RECEIPT_STATEMENT",
    "VerifiedMembership",
    "VerifiedReceipt",
    "build_membership_proof",
    "build_receipt_proof",
    "verify_in_published",
    "verify_membership_proof",
    "verify_receipt_proof",
]

RECEIPT_STATEMENT = "consentgate.consent-receipt/v2"
DATASET_STATEMENT = "consentgate.dataset-membership/v1"
_RECEIPT_FIELDS = ("origin", "index", "entry", "event")
_DATASET_FIELDS = ("origin", "index", "entry", "dataset", "proof")
_ENTRY_FIELDS = {"action", "at", "digest", "entity", "idx", "key", "prev"}
_EVENT_ENTITY = "consent_events"
_DATASET_ENTITY = "datasets"


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def statement_text(kind: str, fields: Sequence[tuple[str, str]]) -> str:
    """A statement's note text: the type line, then ``<name> <value>`` lines."""
    lines = [kind] + [f"{name} {value}" for name, value in fields]
    for line in lines:
        if "\n" in line or any(c < " " for c in line):
            raise InvalidInput("a statement value must be one line without control characters")
    return "".join(line + "\n" for line in lines)


def parse_statement(text: str, kind: str, names: Sequence[str]) -> dict[str, str]:
    """The fields of a statement of ``kind`` with exactly ``names``, in order."""
    lines = text[:-1].split("\n") if text.endswith("\n") else [""]
    if lines[0] != kind:
        raise AuditChainBroken(f"the proof's statement is not a {kind} statement")
    if len(lines) != len(names) + 1:
        raise AuditChainBroken(f"the {kind} statement must have the fields {', '.join(names)}")
    out = {}
    for name, line in zip(names, lines[1:], strict=True):
        key, sep, value = line.partition(" ")
        if key != name or not sep or not value:
            raise AuditChainBroken(f"the {kind} statement has no {name} line where expected")
        out[name] = value
    return out


def _signed_statement(signer: Signer, kind: str, fields: Sequence[tuple[str, str]]) -> bytes:
    return sign_note(signer, statement_text(kind, fields)).encode("utf-8")


@dataclass(frozen=True, slots=True)
class _Checked:
    """A proof whose checkpoint and statement verified: the statement's fields and the
    entry's leaf bytes and parsed fields."""

    proof: TlogProof
    checkpoint: Checkpoint
    witnesses: tuple[str, ...]
    fields: dict[str, str]
    entry: dict[str, Any]


def _check(
    data: str | bytes,
    kind: str,
    names: Sequence[str],
    log_keys: Sequence[Verifier],
    policy: TlogPolicy | None,
) -> _Checked:
    try:
        proof = parse_tlog_proof(data)
    except InvalidInput as exc:
        raise AuditChainBroken(str(exc)) from exc
    witnesses: tuple[str, ...] = ()
    keys = list(log_keys)
    if policy is not None:
        witnessed = policy.verify(proof.checkpoint)
        cp, witnesses = witnessed.checkpoint, witnessed.witnesses
        keys += [k for k in policy.log_keys(cp.origin) if k not in keys]
        if log_keys:  # a pinned key must have signed it too
            verify_checkpoint(proof.checkpoint, log_keys)
    else:
        if not keys:
            raise InvalidInput("give the log's public key or a policy")
        cp, _ = verify_checkpoint(proof.checkpoint, keys)
    if proof.extra is None:
        raise AuditChainBroken("the proof carries no statement (extra data)")
    try:
        opened = open_note(proof.extra, keys)
    except AuditChainBroken as exc:
        raise AuditChainBroken(f"the proof's statement: {exc}") from exc
    if not opened.signed_by:
        raise AuditChainBroken("the proof's statement is not signed by the log's key")
    fields = parse_statement(opened.text, kind, names)
    if fields["origin"] != cp.origin:
        raise AuditChainBroken("the statement is for another log than the checkpoint")
    if fields["index"] != str(proof.index):
        raise AuditChainBroken("the statement names another index than the proof")
    entry = _entry(fields["entry"], proof.index)
    if not proof.index < cp.size:
        raise AuditChainBroken(
            f"entry {proof.index} is not covered by the checkpoint (size {cp.size})"
        )
    leaf = leaf_hash(fields["entry"].encode("utf-8"))
    if not verify_inclusion(leaf, proof.index, cp.size, proof.hashes, cp.root):
        raise AuditChainBroken(
            f"the inclusion proof does not show entry {proof.index} in the checkpoint's tree"
        )
    return _Checked(proof, cp, witnesses, fields, entry)


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = strictjson.loads(text)
    except ValueError as exc:
        raise AuditChainBroken(f"the statement's {what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise AuditChainBroken(f"the statement's {what} is not a JSON object")
    return value


def _entry(text: str, index: int) -> dict[str, Any]:
    entry = _json_object(text, "entry")
    if set(entry) != _ENTRY_FIELDS or entry["idx"] != index or not strictjson.is_int(entry["idx"]):
        raise AuditChainBroken("the statement's entry is not the log entry at the proof's index")
    return entry


# -- consent receipts ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifiedReceipt:
    """A verified consent receipt: the event as the log's operator states it, where it
    is in the log, the checkpoint and the witnesses that cosigned it."""

    event: dict[str, Any]
    leaf_index: int
    checkpoint: Checkpoint
    witnesses: tuple[str, ...]
    entry: bytes

    @property
    def event_id(self) -> str:
        return str(self.event["event_id"])

    @property
    def event_type(self) -> str:
        return str(self.event.get("type"))


def build_receipt_proof(
    signer: Signer,
    *,
    origin: str,
    event: Mapping[str, Any],
    entry: AuditEntry,
    inclusion_proof: Sequence[bytes],
    checkpoint: str,
    log_keys: Sequence[Verifier] = (),
) -> str:
    """A consent receipt as a tlog-proof file, verified before it is returned (with
    ``log_keys``, default the signer's, for a checkpoint signed before a key rotation)."""
    doc = event_document(event)
    if entry.entity != _EVENT_ENTITY or entry.key != doc.get("event_id"):
        raise InvalidInput("the audit entry does not record this consent event")
    extra = _signed_statement(
        signer,
        RECEIPT_STATEMENT,
        [
            ("origin", origin),
            ("index", str(entry.idx)),
            ("entry", entry.entry_bytes().decode("utf-8")),
            ("event", canonical_json(doc).decode("utf-8")),
        ],
    )
    text = TlogProof(entry.idx, tuple(inclusion_proof), checkpoint, extra).text()
    verify_receipt_proof(text, log_keys=[signer.verifier, *log_keys])
    return text


def verify_receipt_proof(
    data: str | bytes, *, log_keys: Sequence[Verifier] = (), policy: TlogPolicy | None = None
) -> VerifiedReceipt:
    """Check a receipt tlog-proof offline: the checkpoint signed by a log key (and, with a
    ``policy``, by one of its logs and cosigned by its quorum), the statement signed by a
    log key for the same origin and index, its entry a ``consent.recorded`` entry of this
    event, and the entry's leaf in the checkpoint's tree. ``AuditChainBroken`` says why not.
    """
    checked = _check(data, RECEIPT_STATEMENT, _RECEIPT_FIELDS, log_keys, policy)
    entry = checked.entry
    event = _json_object(checked.fields["event"], "event")
    if entry["action"] != CONSENT_RECORDED or entry["entity"] != _EVENT_ENTITY:
        raise AuditChainBroken("the receipt's entry does not record a consent event")
    if not isinstance(event.get("event_id"), str) or entry["key"] != event["event_id"]:
        raise AuditChainBroken("the receipt's entry is for another event")
    return VerifiedReceipt(
        event,
        checked.proof.index,
        checked.checkpoint,
        checked.witnesses,
        checked.fields["entry"].encode("utf-8"),
    )


# -- dataset membership --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifiedMembership:
    """A verified dataset membership proof: whether the member's key is in the dataset,
    the dataset's committed ``members_root``, and where its registry entry is."""

    dataset_id: str
    present: bool
    reason: str
    members_root: str
    members_count: int
    leaf_index: int
    checkpoint: Checkpoint
    witnesses: tuple[str, ...]


def build_membership_proof(
    signer: Signer,
    *,
    origin: str,
    dataset: Mapping[str, Any],
    entry: AuditEntry,
    inclusion_proof: Sequence[bytes],
    checkpoint: str,
    member_proof: MembershipProof,
    log_keys: Sequence[Verifier] = (),
) -> str:
    """A dataset (non-)membership proof as a tlog-proof file; ``dataset`` holds
    ``dataset_id``, ``manifest_sha256``, ``members_root`` (hex) and ``members_count``."""
    doc = {
        k: dataset[k] for k in ("dataset_id", "manifest_sha256", "members_count", "members_root")
    }
    if entry.entity != _DATASET_ENTITY or entry.key != doc["dataset_id"]:
        raise InvalidInput("the audit entry does not record this dataset")
    proof_doc = json.loads(member_proof.to_json())
    extra = _signed_statement(
        signer,
        DATASET_STATEMENT,
        [
            ("origin", origin),
            ("index", str(entry.idx)),
            ("entry", entry.entry_bytes().decode("utf-8")),
            ("dataset", _compact(doc)),
            ("proof", _compact(proof_doc)),
        ],
    )
    text = TlogProof(entry.idx, tuple(inclusion_proof), checkpoint, extra).text()
    result = verify_membership_proof(text, log_keys=[signer.verifier, *log_keys])
    if not result.present == member_proof.present:
        raise AuditChainBroken("the membership proof does not verify")
    return text


def verify_membership_proof(
    data: str | bytes,
    *,
    log_keys: Sequence[Verifier] = (),
    policy: TlogPolicy | None = None,
    secret: bytes | None = None,
    member_id: str | None = None,
    root_hex: str | None = None,
) -> VerifiedMembership:
    """Check a dataset membership tlog-proof offline: the checkpoint and statement as for
    receipts, the entry a ``datasets`` entry of this dataset, and the membership proof
    against the stated ``members_root`` (and ``root_hex`` when given); ``secret`` with
    ``member_id`` check that the proof is about that member. ``AuditChainBroken`` says why
    the file is not valid."""
    checked = _check(data, DATASET_STATEMENT, _DATASET_FIELDS, log_keys, policy)
    dataset = _json_object(checked.fields["dataset"], "dataset")
    if set(dataset) != {"dataset_id", "manifest_sha256", "members_count", "members_root"}:
        raise AuditChainBroken("the statement's dataset has the wrong fields")
    dataset_id, root, count = (
        dataset["dataset_id"],
        dataset["members_root"],
        dataset["members_count"],
    )
    if not isinstance(dataset_id, str) or not isinstance(root, str) or not strictjson.is_int(count):
        raise AuditChainBroken("the statement's dataset has the wrong field types")
    if checked.entry["entity"] != _DATASET_ENTITY or checked.entry["key"] != dataset_id:
        raise AuditChainBroken("the proof's entry does not record this dataset")
    if root_hex is not None and root_hex.strip().lower() != root:
        raise AuditChainBroken("the proof is for another members_root than the one given")
    try:
        member = MembershipProof.from_json(checked.fields["proof"])
    except InvalidInput as exc:
        raise AuditChainBroken(f"the statement's membership proof: {exc}") from exc
    result = verify_proof(
        member, root, tree_size=count, dataset_id=dataset_id, secret=secret, member_id=member_id
    )
    if not result.valid:
        raise AuditChainBroken(result.reason)
    return VerifiedMembership(
        dataset_id,
        result.present,
        result.reason,
        root,
        count,
        checked.proof.index,
        checked.checkpoint,
        checked.witnesses,
    )


# -- against a published log ---------------------------------------------------------------


def verify_in_published(
    index: int,
    entry: bytes,
    checkpoint: Checkpoint,
    *,
    note: str,
    fetch: Callable[[str], bytes],
    log_keys: Sequence[Verifier] = (),
    policy: TlogPolicy | None = None,
) -> tuple[Checkpoint, tuple[str, ...]]:
    """Check a verified proof against a published log (c2sp.org/tlog-tiles): its
    checkpoint ``note`` (signed by a log key; under ``policy``, cosigned by the quorum),
    the proof's ``checkpoint`` a prefix of it (a consistency proof computed from the
    tiles) and the entry still in it (an inclusion proof from the tiles). Returns the
    published checkpoint and its witnesses; ``AuditChainBroken`` says what fails."""
    witnesses: tuple[str, ...] = ()
    if policy is not None:
        witnessed = policy.verify(note, origin=checkpoint.origin)
        published, witnesses = witnessed.checkpoint, witnessed.witnesses
        if log_keys:
            verify_checkpoint(note, log_keys)
    else:
        published, _ = verify_checkpoint(note, log_keys, origin=checkpoint.origin)
    if published.size < checkpoint.size:
        raise AuditChainBroken(
            f"the published log (size {published.size}) is behind the proof's checkpoint "
            f"(size {checkpoint.size}): publish it, or check again later"
        )
    reader = TileReader(published.size, fetch)
    if checkpoint.size == 0:
        consistent = checkpoint.root == EMPTY_ROOT
    else:
        consistent = verify_consistency(
            checkpoint.size,
            published.size,
            checkpoint.root,
            published.root,
            reader.consistency_proof(checkpoint.size),
        )
    if not consistent:
        raise AuditChainBroken(
            f"the published log (size {published.size}) does not extend the proof's "
            f"checkpoint (size {checkpoint.size}): the log was forked"
        )
    if not verify_inclusion(
        leaf_hash(entry), index, published.size, reader.inclusion_proof(index), published.root
    ):
        raise AuditChainBroken(f"entry {index} is not in the published log")
    return published, witnesses
