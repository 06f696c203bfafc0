"""Deletion notices to third parties: the document, its signature, its verification. Pure.

A notice tells one recipient which records of which datasets it received must be deleted
(with anything derived from them, models included), why, and by when. It names no member:
records are given as *pseudonymous references*

    ref = HMAC-SHA256(ref_key, UTF-8 record id)      (hex)
    ref_key = HMAC-SHA256(workspace secret, "consentgate.notice-ref-key:" + recipient)

``ref_key`` is in the notice, so the recipient finds the records by hashing the ids of the
dataset it holds; anyone else who reads the notice learns neither member nor record ids
(short of guessing ids). Each recipient has its own key, so references cannot be linked
across recipients. A dataset disclosed under a scope the policy no longer declares, or a
version whose files were purged here (so its records can no longer be listed), is named
with ``all_records: true`` instead of references; ``superseded_by`` names the version
that replaces it.

The file (``<outbox>/<notice_id>.json``) is ``{"notice": {...}, "signature": "— <key
name> <base64>"}``. The signature is a signed note (see ``consentgate.tlog.checkpoint``) over the
*statement*: the line ``consentgate deletion notice v1`` then the canonical JSON (sorted
keys, no spaces, UTF-8) of ``notice``, each newline-terminated — made with the audit log's
signing key, so the verifier key ``consentgate audit public-key`` prints checks it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consentgate.errors import AuditChainBroken, InvalidInput
from consentgate.timestamps import format_timestamp
from consentgate.tlog.checkpoint import Signer, Verifier, open_note, sign_note

__all__ = [
    "NOTICE_TYPE",
    "DeletionNotice",
    "NoticeDataset",
    "record_ref",
    "ref_key",
    "sign_notice",
    "verify_notice",
]

NOTICE_TYPE = "consentgate.deletion-notice"
NOTICE_VERSION = 1
STATEMENT_HEADER = "consentgate deletion notice v1"
REQUEST = (
    "Delete the referenced records of each listed dataset (every record, where all_records "
    "is true), and everything derived from them, including models trained on them, by the "
    "deadline; then confirm to the issuer quoting notice_id."
)


def ref_key(secret: bytes, recipient: str) -> bytes:
    """The recipient's reference key, derived from the workspace secret."""
    return hmac.new(
        secret, b"consentgate.notice-ref-key:" + recipient.encode("utf-8"), hashlib.sha256
    ).digest()


def record_ref(key: bytes, record_id: str) -> str:
    """The pseudonymous reference of one record under a recipient's key (hex)."""
    return hmac.new(key, record_id.encode("utf-8"), hashlib.sha256).hexdigest()


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class NoticeDataset:
    """One dataset in a notice: references of the records to delete, or all of them."""

    dataset_id: str
    record_refs: tuple[str, ...] = ()
    all_records: bool = False
    superseded_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dataset_id": self.dataset_id, "all_records": self.all_records}
        if not self.all_records:
            out["records"] = len(self.record_refs)
            out["record_refs"] = sorted(self.record_refs)
        if self.superseded_by is not None:
            out["superseded_by"] = self.superseded_by
        return out


@dataclass(frozen=True, slots=True)
class DeletionNotice:
    """What one recipient is asked to delete, for one batch of remediation orders."""

    notice_id: str
    issuer: str
    recipient: str
    issued_at: datetime
    deadline: datetime
    legal_basis: tuple[str, ...]
    datasets: tuple[NoticeDataset, ...]
    ref_key: bytes
    orders: tuple[str, ...]

    @property
    def records(self) -> int:
        return sum(len(d.record_refs) for d in self.datasets)

    def body(self) -> dict[str, Any]:
        return {
            "type": NOTICE_TYPE,
            "version": NOTICE_VERSION,
            "notice_id": self.notice_id,
            "issuer": self.issuer,
            "recipient": self.recipient,
            "issued_at": format_timestamp(self.issued_at),
            "deadline": format_timestamp(self.deadline),
            "legal_basis": list(self.legal_basis),
            "request": REQUEST,
            "datasets": [d.as_dict() for d in self.datasets],
            "reference_scheme": "HMAC-SHA256(ref_key, UTF-8 record id), hex",
            "ref_key": self.ref_key.hex(),
            "orders": list(self.orders),
        }


def notice_id_for(recipient: str, orders: Iterable[str], issued_at: datetime) -> str:
    """A stable id for the notice of these orders issued at this time."""
    text = "\x1f".join([recipient, format_timestamp(issued_at), *sorted(orders)])
    return "ntc-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _statement(body: dict[str, Any]) -> str:
    return f"{STATEMENT_HEADER}\n{canonical_json(body).decode('utf-8')}\n"


def sign_notice(notice: DeletionNotice, signer: Signer) -> str:
    """The notice file's text (pretty JSON, newline-terminated), signed by ``signer``."""
    body = notice.body()
    statement = _statement(body)
    note = sign_note(signer, statement)
    signature = note[len(statement) + 1 :].rstrip("\n")
    return json.dumps({"notice": body, "signature": signature}, indent=2, sort_keys=True) + "\n"


def verify_notice(text: str | bytes, verifier: Verifier) -> dict[str, Any]:
    """Check a notice file's signature with ``verifier``; return the notice body.

    Raises ``AuditChainBroken`` when the signature does not verify (any change to the body
    breaks it) and ``InvalidInput`` when the file is not a notice.
    """
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"deletion notice is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or set(doc) != {"notice", "signature"}:
        raise InvalidInput("not a deletion notice (want keys notice and signature)")
    body, signature = doc["notice"], doc["signature"]
    if not isinstance(body, dict) or body.get("type") != NOTICE_TYPE:
        raise InvalidInput(f"not a deletion notice (type must be {NOTICE_TYPE!r})")
    if not isinstance(signature, str) or "\n" in signature:
        raise InvalidInput("deletion notice signature must be one line")
    try:
        open_note(_statement(body) + "\n" + signature + "\n", verifier)
    except AuditChainBroken as exc:
        raise AuditChainBroken(f"deletion notice {body.get('notice_id')}: {exc}") from exc
    return body


def merge_refs(refs: Sequence[Iterable[str]]) -> tuple[str, ...]:
    """Distinct references, sorted."""
    return tuple(sorted({r for group in refs for r in group}))
