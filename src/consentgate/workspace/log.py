"""Use cases for the audit log as a transparency log: signing key, checkpoints, verification,
consent receipts (DESIGN.md "tamper-evident log with receipts and proofs").

The pure parts live in ``consentgate.tlog.receipts`` (receipts, log checks), ``merkle`` and
``checkpoint``; the SQL in ``consentgate.store.transparency`` and ``store.audit``.
"""

from __future__ import annotations

import contextlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from consentgate.errors import AuditChainBroken, Conflict, NotFound, UsageError
from consentgate.store import audit as store_audit
from consentgate.store import registry
from consentgate.store import transparency as store_tlog
from consentgate.store.erasure import MEMBER_ERASED
from consentgate.timestamps import Clock, format_timestamp, utcnow
from consentgate.tlog import audit
from consentgate.tlog.checkpoint import (
    Checkpoint,
    Signer,
    Verifier,
    generate_signing_key,
    load_signer,
    parse_verifier_key,
    verify_checkpoint,
)
from consentgate.tlog.keys import key_chain, rotation_statement
from consentgate.tlog.merkle import MerkleTree
from consentgate.tlog.note import verify_checkpoint as verify_checkpoint_by
from consentgate.tlog.policy import TlogPolicy
from consentgate.tlog.published import open_log
from consentgate.tlog.receipts import (
    LogCheck,
    LoggedCheckpoint,
    Receipt,
    SignedHead,
    build_receipt,
    check_log,
    log_origin,
)
from consentgate.tlog.statements import build_receipt_proof
from consentgate.tlog.tiles import CHECKPOINT, TileReader, first_difference
from consentgate.tlog.witness_client import Witnessing
from consentgate.workspace.witnessing import cosigners, witness_stored, witnessed


def ensure_signing_key(engine: sa.Engine, key_file: Path) -> str:
    """Create the log's signing key at ``key_file`` unless it exists (Ed25519, mode 0600,
    named after the log's origin ``consentgate/<workspace id>``), record its verifier key in
    the ledger the first time, and return it.

    The key belongs to the ledger: once one is recorded, a key file holding another key
    is refused (``Conflict`` naming both key ids), and so is creating a new key when the
    ledger's key file is missing. Idempotent; the key never goes into the database.
    ``init`` calls it.
    """
    with engine.begin() as conn:
        origin = log_origin(store_tlog.ensure_workspace_id(conn))
        chain = ledger_keys(conn, origin)
        if not key_file.exists():
            if chain:
                raise Conflict(
                    f"{key_file} does not exist, and this ledger's log key is "
                    f"{_key_label(chain[-1])}: set CONSENTGATE_SIGNING_KEY to that key's file "
                    "(a new key would not be this log's key)"
                )
            with contextlib.suppress(Conflict):  # another process created it meanwhile
                generate_signing_key(key_file, name=origin)
        signer = load_signer(key_file)
        _bind(conn, signer, chain, key_file, origin)
        return signer.verifier_key


def _key_label(verifier: Verifier) -> str:
    return f"{verifier.name}+{verifier.key_id.hex()}"


def ledger_keys(conn: sa.Connection, origin: str) -> list[Verifier]:
    """Every log key the ledger has had, oldest first (its first key, then each
    rotation's new key, every rotation statement checked); empty before the first."""
    first = store_tlog.registered_key(conn)
    if first is None:
        return []
    return key_chain(first, store_tlog.key_rotations(conn), origin=origin)


def _bind(
    conn: sa.Connection, signer: Signer, chain: list[Verifier], key_file: Path, origin: str
) -> None:
    """Refuse a signing key that is not the ledger's current log key; record it when the
    ledger has none yet (a ledger from before keys were recorded adopts the key only if it
    signed the latest stored checkpoint)."""
    if chain:
        current = chain[-1]
        if current.key != signer.verifier_key:
            raise Conflict(
                f"the signing key {key_file} (key id {signer.key_id.hex()}, "
                f"{signer.name}) is not this ledger's log key (key id "
                f"{current.key_id.hex()}, {current.name}); use that key's file "
                "(CONSENTGATE_SIGNING_KEY), or rotate keys with `consentgate log rotate-key`"
            )
        return
    latest = store_tlog.latest_checkpoint(conn)
    if latest is not None:
        try:
            verify_checkpoint(latest.note, signer.verifier, origin=origin)
        except AuditChainBroken as exc:
            raise Conflict(
                f"the signing key {key_file} (key id {signer.key_id.hex()}) did not sign "
                f"this ledger's checkpoints ({exc})"
            ) from exc
    store_tlog.register_key(conn, signer.verifier_key)


def ledger_signer(
    conn: sa.Connection, key_file: Path, origin: str
) -> tuple[Signer, list[Verifier]]:
    """The ledger's current signing key from ``key_file`` (refused when it is another key)
    and every key the log has had (for checkpoints signed before a rotation)."""
    signer = load_signer(key_file)
    chain = ledger_keys(conn, origin)
    _bind(conn, signer, chain, key_file, origin)
    return signer, chain or [signer.verifier]


def log_public_key(engine: sa.Engine, key_file: Path) -> str:
    """The verifier key of the ledger's log key (``consentgate audit public-key``); the
    key file must hold it."""
    with engine.begin() as conn:
        origin = log_origin(store_tlog.ensure_workspace_id(conn))
        return ledger_signer(conn, key_file, origin)[0].verifier_key


def create_checkpoint(engine: sa.Engine, key_file: Path, *, now: Clock = utcnow) -> SignedHead:
    """Sign and store the log's current head (``consentgate audit checkpoint``).

    Reads only the entries added since the latest checkpoint. Refuses
    (``AuditChainBroken``) to sign when those entries break the hash chain or the log no
    longer extends the latest checkpoint. Returns a ``transparency.SignedHead``; when the
    log has not grown since the latest checkpoint, that one (``created`` False).
    """

    with engine.begin() as conn:
        store_audit.lock(conn)
        origin = log_origin(store_tlog.ensure_workspace_id(conn))
        signer, chain = ledger_signer(conn, key_file, origin)
        return store_tlog.sign_head(conn, signer, origin=origin, at=now(), verifiers=chain)


@dataclass(frozen=True, slots=True)
class LogVerification:
    """What ``verify_log`` checked: the store's report, and under a policy the witnesses
    of the latest checkpoint; against a published log, its checkpoint and witnesses."""

    report: store_audit.VerifyReport
    witnesses: tuple[str, ...] = ()
    published: Checkpoint | None = None
    published_witnesses: tuple[str, ...] = ()

    @property
    def entries(self) -> int:
        return self.report.entries

    @property
    def head(self) -> str:
        return self.report.head

    @property
    def rows(self) -> int:
        return self.report.rows

    @property
    def root(self) -> str:
        return self.report.root

    @property
    def log(self) -> LogCheck | None:
        return self.report.log


def _trusted_keys(
    conn: sa.Connection,
    origin: str,
    *,
    key_file: Path,
    public_key: str | None,
    policy: TlogPolicy | None,
) -> list[Verifier] | None:
    """The log keys to check signatures with: the ledger's key chain, provided the key
    the verifier trusts (``public_key``, else the policy's log keys, else the key file's)
    is one of them; None when there is no key to trust."""
    chain = ledger_keys(conn, origin)
    if public_key is not None:
        anchors = [parse_verifier_key(public_key)]
    elif policy is not None:
        anchors = policy.log_keys(origin)
        if not anchors:
            raise AuditChainBroken(f"the policy has no log with origin {origin!r}")
    elif key_file.exists():
        signer = load_signer(key_file)
        if chain and chain[-1].key != signer.verifier_key:
            _bind(conn, signer, chain, key_file, origin)  # raises Conflict naming both
        anchors = [signer.verifier]
    else:
        return None
    if not chain:
        return anchors
    known = {k.key for k in chain}
    if not any(a.key in known for a in anchors):
        given = ", ".join(_key_label(a) for a in anchors) or "none"
        raise AuditChainBroken(
            f"the trusted log key ({given}) is not one of this ledger's log keys "
            f"({', '.join(_key_label(k) for k in chain)})"
        )
    return chain


def verify_log(
    engine: sa.Engine,
    *,
    key_file: Path,
    public_key: str | None = None,
    checkpoints: Iterable[tuple[str, str]] = (),
    policy: TlogPolicy | None = None,
    published: str | None = None,
    timeout: float = 30.0,
) -> LogVerification:
    """``consentgate audit verify``: the hash chain, the Merkle tree against every stored
    checkpoint and every given one (``(source, signed note)`` pairs, e.g. from receipts
    or witnesses), then every audited row and the dataset registry (as ``verify_audit``).

    Signatures are checked with the ledger's log keys (every key before and after a
    rotation), provided the key trusted from outside is one of them: ``public_key`` (a
    verifier key string), else the ``policy``'s log keys, else the key in ``key_file``;
    with none, checkpoints cannot be checked and ``UsageError`` says so. With a
    ``policy``, the latest stored checkpoint and every given one must carry its quorum of
    witness cosignatures. With ``published`` (a directory or URL of the log's tiles), the
    published checkpoint is checked too and the log compared with the published tiles: a
    difference names the first audit entry that differs.
    """
    given = list(checkpoints)
    with engine.connect() as conn:
        origin = store_tlog.origin(conn)
        stored = store_tlog.checkpoints(conn)
        if (stored or given or published) and origin is None:
            raise AuditChainBroken("the workspace id (the log's origin) is missing")
        keys = None
        if origin is not None:
            keys = _trusted_keys(
                conn, origin, key_file=key_file, public_key=public_key, policy=policy
            )
        if (stored or given or published) and keys is None:
            raise UsageError(
                f"{len(stored) + len(given)} signed checkpoints to check but no verifier key: "
                f"give `public_key` (the log's verifier key), `policy` (a tlog-policy), "
                f"or the signing key {key_file}"
            )
        assert origin is not None or not (stored or given or published)
        extra: list[LoggedCheckpoint] = []
        witnesses: tuple[str, ...] = ()
        for source, note in given:
            cp = _given_checkpoint(note, source, keys or [], origin or "", policy)
            extra.append(LoggedCheckpoint(0, cp.size, cp.root, note, source))
        if policy is not None:
            if not stored:
                raise AuditChainBroken("no signed checkpoint to check against the policy")
            witnesses = _quorum(policy, stored[-1], origin or "")
        pub = None
        if published is not None:
            pub = _published(published, keys or [], origin or "", policy, timeout)
            extra.append(
                LoggedCheckpoint(0, pub[0].size, pub[0].root, pub[2], f"published in {published}")
            )
        everything = [*stored, *extra]

        def check_tree(tree: MerkleTree) -> LogCheck:
            if pub is not None:
                _compare_published(tree, pub[0], pub[3], published or "")
            return check_log(tree, everything, verifier=keys, origin=origin or "")

        report = store_audit.verify(conn, check_tree=check_tree)
        registry.verify_members(conn)  # as verify_audit does
    return LogVerification(
        report,
        witnesses,
        pub[0] if pub else None,
        pub[1] if pub else (),
    )


def _given_checkpoint(
    note: str, source: str, keys: list[Verifier], origin: str, policy: TlogPolicy | None
) -> Checkpoint:
    try:
        cp, _ = verify_checkpoint_by(note, keys, origin=origin)
        if policy is not None:
            policy.verify(note, origin=origin)
    except AuditChainBroken as exc:
        raise AuditChainBroken(f"checkpoint {source}: {exc}") from exc
    return cp


def _quorum(policy: TlogPolicy, cp: LoggedCheckpoint, origin: str) -> tuple[str, ...]:
    try:
        return policy.verify(cp.note, origin=origin).witnesses
    except AuditChainBroken as exc:
        raise AuditChainBroken(
            f"{cp.label} (the latest, size {cp.size}) is not witnessed under the policy: "
            f"{exc}; publish the log under the policy first (`publish_log`), which has its "
            "checkpoint witnessed"
        ) from exc


def _published(
    location: str, keys: list[Verifier], origin: str, policy: TlogPolicy | None, timeout: float
) -> tuple[Checkpoint, tuple[str, ...], str, TileReader]:
    """The checkpoint published at ``location``, verified, and a reader of its tiles."""
    fetch = open_log(location, timeout=timeout)
    try:
        note = fetch(CHECKPOINT).decode("utf-8")
    except UnicodeDecodeError:
        raise AuditChainBroken(f"{location}: the published checkpoint is not UTF-8") from None
    cp = _given_checkpoint(note, f"published in {location}", keys, origin, policy)
    witnesses = policy.cosigners(note) if policy is not None else ()
    reader = TileReader(cp.size, fetch)
    if not hmac.compare_digest(reader.root(), cp.root):
        raise AuditChainBroken(
            f"{location}: the published tiles do not match the published checkpoint "
            f"(size {cp.size}): the published copy is damaged"
        )
    return cp, witnesses, note, reader


def _compare_published(tree: MerkleTree, cp: Checkpoint, reader: TileReader, where: str) -> None:
    """Name the first audit entry where the log differs from the published one."""
    n = len(tree)
    index = first_difference(tree.subtree_hash, reader.subtree, min(n, cp.size))
    if index is not None:
        raise AuditChainBroken(
            f"the log differs from the log published in {where} (checkpoint of size "
            f"{cp.size}) from audit entry {index} on: the log was rewritten, rolled back "
            "and appended to, or forked",
            index,
        )
    if n < cp.size:
        raise AuditChainBroken(
            f"the log published in {where} has {cp.size} entries but the log has {n}: "
            f"audit entry {n} and later were removed (the log was rolled back)",
            n,
        )


# -- receipts ---------------------------------------------------------------------------------


def _receipt_event(
    conn: sa.Connection, member_id: str, event_id: str | None
) -> tuple[dict[str, Any], audit.AuditEntry]:
    """The member's consent event (default: the latest recorded) and the audit entry that
    records it, checked against each other."""
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
    check_entry(conn, store_tlog.EVENT_ENTITY, row, entry, "the consent event")
    assert entry is not None
    return row, entry


def check_entry(
    conn: sa.Connection,
    entity: str,
    row: dict[str, Any],
    entry: audit.AuditEntry | None,
    what: str,
) -> None:
    secret = store_audit.Keyring(conn).secret_for(entity, row)  # the row's digest key
    spec = store_audit.AUDITED[entity]
    if entry is None or entry.digest != audit.row_digest(secret, entity, spec.row(row)):
        idx = None if entry is None else entry.idx
        raise AuditChainBroken(f"{what} differs from its audit entry", idx)


def covering_checkpoint(
    conn: sa.Connection,
    signer: Signer,
    chain: list[Verifier],
    *,
    origin: str,
    index: int,
    at: datetime,
    policy: TlogPolicy | None = None,
    timeout: float = 10.0,
) -> tuple[LoggedCheckpoint, Witnessing | None]:
    """The latest checkpoint if it covers entry ``index``, else a new one signed now;
    with a ``policy``, cosigned by its witnesses (asked now if needed). The caller holds
    the log lock. The log must still have the checkpoint's root (``AuditChainBroken``)."""
    cp = store_tlog.latest_checkpoint(conn)
    if cp is None or cp.size <= index:
        cp = store_tlog.sign_head(conn, signer, origin=origin, at=at, verifiers=chain).checkpoint
    else:
        size = store_audit.head(conn)[0]
        store_tlog.check_log_prefix(conn, cp, [signer.verifier, *chain], origin=origin, size=size)
    if policy is None:
        return cp, None
    return witness_stored(conn, cp, policy, timeout=timeout)


def require_quorum(
    policy: TlogPolicy | None, cp: LoggedCheckpoint, result: Witnessing | None
) -> None:
    if policy is None or witnessed(policy, cp.note):
        return
    refusals = "; ".join(f"{o.name}: {o.detail}" for o in (result.outcomes if result else ()))
    raise AuditChainBroken(
        f"checkpoint #{cp.number} (size {cp.size}) is not cosigned by the policy's quorum "
        f"{policy.quorum!r} ({refusals or 'no witness answered'})"
    )


@dataclass(frozen=True, slots=True)
class IssuedReceipt:
    """A consent receipt as a tlog-proof file, and what it proves."""

    text: str
    event_id: str
    leaf_index: int
    checkpoint: LoggedCheckpoint
    witnesses: tuple[str, ...] = ()


def issue_receipt_proof(
    engine: sa.Engine,
    key_file: Path,
    member_id: str,
    *,
    event_id: str | None = None,
    policy: TlogPolicy | None = None,
    timeout: float = 10.0,
    now: Clock = utcnow,
) -> IssuedReceipt:
    """``consentgate receipt``: a consent receipt for one of the member's events (default:
    the latest recorded) as a c2sp.org/tlog-proof file, proven against the latest
    checkpoint (or a new one), cosigned by the ``policy``'s quorum when one is given.

    Refuses (``AuditChainBroken``) when the event differs from its audit entry, the log
    does not extend the checkpoint, or the witnesses do not reach the quorum (the
    cosignatures gathered are kept); ``NotFound`` when the member has no such event.
    """
    with engine.begin() as conn:
        store_audit.lock(conn)
        origin = log_origin(store_tlog.ensure_workspace_id(conn))
        signer, chain = ledger_signer(conn, key_file, origin)
        row, entry = _receipt_event(conn, member_id, event_id)
        cp, result = covering_checkpoint(
            conn,
            signer,
            chain,
            origin=origin,
            index=entry.idx,
            at=now(),
            policy=policy,
            timeout=timeout,
        )
        text = None
        if policy is None or witnessed(policy, cp.note):
            text = build_receipt_proof(
                signer,
                origin=origin,
                event=row,
                entry=entry,
                inclusion_proof=store_tlog.inclusion_proof(conn, entry.idx, cp.size),
                checkpoint=cp.note,
                log_keys=chain,
            )
    require_quorum(policy, cp, result)
    assert text is not None
    return IssuedReceipt(
        text, entry.key, entry.idx, cp, cosigners(policy, cp.note) if policy else ()
    )


def issue_receipt(
    engine: sa.Engine,
    key_file: Path,
    member_id: str,
    *,
    event_id: str | None = None,
    now: Clock = utcnow,
) -> Receipt:
    """A consent receipt in the JSON form of consentgate 0.1 (``transparency.Receipt``),
    still accepted by ``verify-receipt``; ``issue_receipt_proof`` writes the standard form.
    Proven against the latest checkpoint, or a new one signed now."""
    with engine.begin() as conn:
        store_audit.lock(conn)
        origin = log_origin(store_tlog.ensure_workspace_id(conn))
        signer, chain = ledger_signer(conn, key_file, origin)
        row, entry = _receipt_event(conn, member_id, event_id)
        cp, _ = covering_checkpoint(conn, signer, chain, origin=origin, index=entry.idx, at=now())
        return build_receipt(
            signer,
            origin=origin,
            event=row,
            entry=entry,
            inclusion_proof=store_tlog.inclusion_proof(conn, entry.idx, cp.size),
            checkpoint=cp.note,
        )


# -- key rotation -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rotation:
    """A key rotation: the old and new verifier keys, the checkpoint signed right after
    it (by both keys), and where the old key file was moved."""

    old_key: str
    new_key: str
    checkpoint: LoggedCheckpoint
    retired: Path


def rotate_key(engine: sa.Engine, key_file: Path, *, now: Clock = utcnow) -> Rotation:
    """``consentgate log rotate-key``: replace the ledger's log key by a new one.

    The new key is created beside the current one (``<key>.next``); the rotation
    statement, signed by both keys, is recorded with an audit entry, and the log's head is
    signed at once by the new key with the old key's signature added (so verifiers and
    witnesses that know only the old key accept it); then the old key file is renamed
    ``<key>.<old key id>.retired`` and the new one takes its place. Checkpoints signed
    before stay verifiable: verification follows the chain of rotation statements.
    """
    next_file = key_file.with_name(key_file.name + ".next")
    created = False
    try:
        with engine.begin() as conn:
            store_audit.lock(conn)
            origin = log_origin(store_tlog.ensure_workspace_id(conn))
            old, chain = ledger_signer(conn, key_file, origin)
            if not next_file.exists():
                generate_signing_key(next_file, name=origin)
                created = True
            new = load_signer(next_file)
            at = now()
            statement = rotation_statement(old, new, origin=origin, at=format_timestamp(at))
            store_tlog.insert_rotation(
                conn,
                old_key=old.verifier_key,
                new_key=new.verifier_key,
                statement=statement,
                at=at,
            )
            head = store_tlog.sign_head(
                conn, new, origin=origin, at=at, verifiers=chain, cosigners=[old]
            )
    except BaseException:
        if created:
            next_file.unlink(missing_ok=True)
        raise
    retired = key_file.with_name(f"{key_file.name}.{old.key_id.hex()}.retired")
    os.replace(key_file, retired)
    os.replace(next_file, key_file)
    return Rotation(old.verifier_key, new.verifier_key, head.checkpoint, retired)


def verify_audit(engine: sa.Engine) -> store_audit.VerifyReport:
    from consentgate.store import registry

    with engine.connect() as conn:
        report = store_audit.verify(conn)
        registry.verify_members(conn)
        return report
