"""Use cases for the audit log as a transparency log: signing key, checkpoints, verification,
consent receipts (DESIGN.md "tamper-evident log with receipts and proofs").

The pure parts live in ``consentgate.transparency`` (receipts, log checks), ``merkle`` and
``checkpoint``; the SQL in ``consentgate.store.transparency`` and ``store.audit``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa

from consentgate import audit
from consentgate.checkpoint import (
    generate_signing_key,
    load_signer,
    parse_verifier_key,
    verify_checkpoint,
)
from consentgate.errors import AuditChainBroken, Conflict, NotFound, UsageError
from consentgate.store import audit as store_audit
from consentgate.store import registry
from consentgate.store import transparency as store_tlog
from consentgate.store.erasure import MEMBER_ERASED
from consentgate.timestamps import utcnow
from consentgate.transparency import (
    LoggedCheckpoint,
    Receipt,
    SignedHead,
    build_receipt,
    check_log,
    log_origin,
)
from consentgate.workspace import Clock


def ensure_signing_key(engine: sa.Engine, key_file: Path) -> str:
    """Create the log's signing key at ``key_file`` unless it exists (Ed25519, mode 0600,
    named after the log's origin ``consentgate/<workspace id>``); return its verifier key.

    Idempotent; the key never goes into the database. ``init`` calls it.
    """
    with engine.begin() as conn:
        origin = log_origin(store_tlog.ensure_workspace_id(conn))
    if not key_file.exists():
        with contextlib.suppress(Conflict):  # another process created it meanwhile
            generate_signing_key(key_file, name=origin)
    return load_signer(key_file).verifier_key


def log_public_key(key_file: Path) -> str:
    """The verifier key of the log's signing key (``consentgate audit public-key``)."""

    return load_signer(key_file).verifier_key


def create_checkpoint(engine: sa.Engine, key_file: Path, *, now: Clock = utcnow) -> SignedHead:
    """Sign and store the log's current head (``consentgate audit checkpoint``).

    Reads only the entries added since the latest checkpoint. Refuses
    (``AuditChainBroken``) to sign when those entries break the hash chain or the log no
    longer extends the latest checkpoint. Returns a ``transparency.SignedHead``; when the
    log has not grown since the latest checkpoint, that one (``created`` False).
    """

    signer = load_signer(key_file)
    with engine.begin() as conn:
        store_audit.lock(conn)
        origin = log_origin(store_tlog.ensure_workspace_id(conn))
        return store_tlog.sign_head(conn, signer, origin=origin, at=now())


def verify_log(
    engine: sa.Engine,
    *,
    key_file: Path,
    public_key: str | None = None,
    checkpoints: Iterable[tuple[str, str]] = (),
) -> store_audit.VerifyReport:
    """``consentgate audit verify``: the hash chain, the Merkle tree against every stored
    checkpoint and every given one (``(source, signed note)`` pairs, e.g. from receipts
    or witnesses), then every audited row and the dataset registry (as ``verify_audit``).

    Signatures are checked with ``public_key`` (a verifier key string), else with the key
    in ``key_file``; with neither, checkpoints cannot be checked and ``UsageError`` says so.
    """

    if public_key is not None:
        verifier = parse_verifier_key(public_key)
    elif key_file.exists():
        verifier = load_signer(key_file).verifier
    else:
        verifier = None
    given = list(checkpoints)
    with engine.connect() as conn:
        origin = store_tlog.origin(conn)
        stored = store_tlog.checkpoints(conn)
        if (stored or given) and verifier is None:
            raise UsageError(
                f"{len(stored) + len(given)} signed checkpoints to check but no verifier key: "
                f"give --public-key FILE (what `audit public-key` prints) or the signing key {key_file}"
            )
        if (stored or given) and origin is None:
            raise AuditChainBroken("the workspace id (the log's origin) is missing")
        extra = []
        for source, note in given:
            assert verifier is not None and origin is not None
            try:
                cp = verify_checkpoint(note, verifier, origin=origin)
            except AuditChainBroken as exc:
                raise AuditChainBroken(f"checkpoint {source}: {exc}") from exc
            extra.append(LoggedCheckpoint(0, cp.size, cp.root, note, source))
        everything = [*stored, *extra]
        report = store_audit.verify(
            conn,
            check_tree=lambda tree: check_log(
                tree, everything, verifier=verifier, origin=origin or ""
            ),
        )
        registry.verify_members(conn)  # as verify_audit does
        return report


def issue_receipt(
    engine: sa.Engine,
    key_file: Path,
    member_id: str,
    *,
    event_id: str | None = None,
    now: Clock = utcnow,
) -> Receipt:
    """``consentgate receipt``: a signed consent receipt (``transparency.Receipt``) for one
    of the member's events (default: the latest recorded), proven against the latest
    checkpoint, or against a new one signed now if the latest does not cover the event.
    Reads block roots and one block of entries, not the whole log.

    Refuses (``AuditChainBroken``) when the event differs from its audit entry or the log
    does not extend the checkpoint; ``NotFound`` when the member has no such event.
    """

    signer = load_signer(key_file)
    with engine.begin() as conn:
        store_audit.lock(conn)
        eid = event_id or store_tlog.latest_event_id(conn, member_id)
        row = store_tlog.event_row(conn, eid) if eid else None
        if row is None or row["member_id"] != member_id:
            raise NotFound("consent event of this member", event_id or "latest")
        assert eid is not None
        entry = store_tlog.event_entry(conn, eid)
        if entry is not None and entry.action == MEMBER_ERASED:
            raise Conflict(
                "the member is erased: no receipt is issued for their events any more "
                "(receipts issued before stay valid)"
            )
        secret = store_audit.Keyring(conn).member(member_id)  # the event's digest key
        spec = store_audit.AUDITED[store_tlog.EVENT_ENTITY]
        if entry is None or entry.digest != audit.row_digest(
            secret, store_tlog.EVENT_ENTITY, spec.row(row)
        ):
            idx = None if entry is None else entry.idx
            raise AuditChainBroken("the consent event differs from its audit entry", idx)
        origin = log_origin(store_tlog.ensure_workspace_id(conn))
        cp = store_tlog.latest_checkpoint(conn)
        if cp is None or cp.size <= entry.idx:
            cp = store_tlog.sign_head(conn, signer, origin=origin, at=now()).checkpoint
        else:
            size = store_audit.head(conn)[0]
            store_tlog.check_log_prefix(conn, cp, signer.verifier, origin=origin, size=size)
        return build_receipt(
            signer,
            origin=origin,
            event=row,
            entry=entry,
            inclusion_proof=store_tlog.inclusion_proof(conn, entry.idx, cp.size),
            checkpoint=cp.note,
        )
