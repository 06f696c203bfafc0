"""Storage of the transparency log: the workspace id (the log's origin), the signed
checkpoints (``sign_head`` signs and stores one), a cache of block roots so that signing
and proving do not re-read the whole log, and the lookups a consent receipt needs.

The cache (``log_blocks``: the root of every complete block of ``BLOCK_LEAVES`` entries)
is filled from chain-checked entries and trusted only as far as a signed root vouches for
it: a root or proof built from it must reproduce a signed checkpoint's root, or the
operation is refused, and blocks past the latest checkpoint are recomputed from the
entries before signing. ``audit verify`` ignores it and rebuilds the tree from the entries.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from consentgate import audit
from consentgate.checkpoint import Signer, Verifier, sign_checkpoint, verify_checkpoint
from consentgate.errors import AuditChainBroken, InvalidInput
from consentgate.merkle import root_from_leaf_hashes
from consentgate.store import audit as store_audit
from consentgate.store import tables as t
from consentgate.transparency import (
    LoggedCheckpoint,
    SignedHead,
    blocked_inclusion_proof,
    log_origin,
    units_root,
)

logger = logging.getLogger(__name__)
WORKSPACE_ID_KEY = "workspace_id"
EVENT_ENTITY = "consent_events"


def workspace_id(conn: sa.Connection) -> str | None:
    """The workspace's stable random id, or None before the first ``ensure_workspace_id``."""
    value = conn.execute(
        sa.select(t.meta.c.value).where(t.meta.c.key == WORKSPACE_ID_KEY)
    ).scalar_one_or_none()
    return None if value is None else str(value)


def ensure_workspace_id(conn: sa.Connection) -> str:
    """The workspace id, created (16 random hex digits) if the database has none yet."""
    existing = workspace_id(conn)
    if existing is not None:
        return existing
    value = secrets.token_hex(8)
    conn.execute(t.meta.insert().values(key=WORKSPACE_ID_KEY, value=value))
    return value


def origin(conn: sa.Connection) -> str | None:
    """The log's origin line, ``consentgate/<workspace id>``, if the workspace has an id."""
    wid = workspace_id(conn)
    return None if wid is None else log_origin(wid)


def _checkpoint(r: Any) -> LoggedCheckpoint:
    return LoggedCheckpoint(int(r.number), int(r.tree_size), bytes.fromhex(r.root_hash), r.note)


def checkpoints(conn: sa.Connection) -> list[LoggedCheckpoint]:
    """Every stored checkpoint, in signing order."""
    c = t.log_checkpoints.c
    rows = conn.execute(sa.select(c.number, c.tree_size, c.root_hash, c.note).order_by(c.number))
    return [_checkpoint(r) for r in rows]


def latest_checkpoint(conn: sa.Connection) -> LoggedCheckpoint | None:
    """The checkpoint signed last, if any."""
    c = t.log_checkpoints.c
    r = conn.execute(
        sa.select(c.number, c.tree_size, c.root_hash, c.note).order_by(c.number.desc()).limit(1)
    ).first()
    return None if r is None else _checkpoint(r)


def insert_checkpoint(
    conn: sa.Connection, *, size: int, root: bytes, note: str, at: datetime
) -> LoggedCheckpoint:
    """Store a signed checkpoint as the next number. The caller holds the log lock
    (``store.audit.lock``), so numbers follow signing order."""
    c = t.log_checkpoints.c
    number = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(c.number), 0))).scalar_one())
    number += 1
    conn.execute(
        t.log_checkpoints.insert().values(
            number=number, tree_size=size, root_hash=root.hex(), note=note, created_at=at
        )
    )
    return LoggedCheckpoint(number, size, root, note)


BLOCK_LEAVES = 1024
"""Entries per cached block root (a power of two). Fixed for a database: the rows of
``log_blocks`` are roots of blocks of this size."""


def block_roots(conn: sa.Connection) -> list[bytes]:
    """The cached roots of the complete blocks, in order."""
    c = t.log_blocks.c
    return [bytes.fromhex(h) for h in conn.execute(sa.select(c.hash).order_by(c.block)).scalars()]


def _ensure_blocks(conn: sa.Connection, size: int) -> list[bytes]:
    """The roots of the complete blocks below ``size``, computing and storing (from the
    chain-checked entries) those not cached yet."""
    b = BLOCK_LEAVES
    roots = block_roots(conn)
    want = size // b
    if len(roots) < want:
        leaves = store_audit.range_leaves(conn, len(roots) * b, want * b)
        new = [root_from_leaf_hashes(leaves[o : o + b]) for o in range(0, len(leaves), b)]
        conn.execute(
            t.log_blocks.insert(),
            [{"block": len(roots) + k, "hash": h.hex()} for k, h in enumerate(new)],
        )
        roots += new
    return roots[:want]


def log_units(conn: sa.Connection, size: int) -> list[bytes]:
    """The units of the tree of the first ``size`` entries: the complete blocks' roots,
    then the root of the partial last block (``transparency.units_root``)."""
    units = _ensure_blocks(conn, size)
    tail = store_audit.range_leaves(conn, len(units) * BLOCK_LEAVES, size)
    return [*units, root_from_leaf_hashes(tail)] if tail else units


def inclusion_proof(conn: sa.Connection, index: int, size: int) -> list[bytes]:
    """The audit path of entry ``index`` in the tree of the first ``size`` entries,
    reading only block roots and the entries of one block."""
    if not 0 <= index < size:
        raise InvalidInput(f"leaf index {index} is outside the tree (0..{size - 1})")
    units = log_units(conn, size)
    first = index - index % BLOCK_LEAVES
    leaves = store_audit.range_leaves(conn, first, min(first + BLOCK_LEAVES, size))
    return blocked_inclusion_proof(units, leaves, index, block=BLOCK_LEAVES)


def sign_head(conn: sa.Connection, signer: Signer, *, origin: str, at: datetime) -> SignedHead:
    """Sign and store the head of the log (the caller holds ``store.audit.lock``).

    First checks the latest checkpoint: its signature by this key, and that the log
    still has its root at its size (from the cached block roots, which must reproduce
    it), so a log rewritten or rolled back behind it is never signed (``AuditChainBroken``).
    Then reads only the entries after the last block the latest checkpoint covers
    (checked against the hash chain). When the log has not grown since, returns that
    checkpoint unchanged.
    """
    latest = latest_checkpoint(conn)
    size = store_audit.head(conn)[0]
    signed = 0
    if latest is not None:
        check_log_prefix(conn, latest, signer.verifier, origin=origin, size=size)
        if latest.size == size:
            return SignedHead(latest, False)
        signed = latest.size
    # Cached roots are trusted only as far as a signed root vouches for them.
    conn.execute(t.log_blocks.delete().where(t.log_blocks.c.block >= signed // BLOCK_LEAVES))
    root = units_root(log_units(conn, size))
    note = sign_checkpoint(signer, origin=origin, size=size, root=root)
    return SignedHead(insert_checkpoint(conn, size=size, root=root, note=note, at=at), True, latest)


def check_log_prefix(
    conn: sa.Connection, cp: LoggedCheckpoint, verifier: Verifier, *, origin: str, size: int
) -> None:
    """Check one stored checkpoint against the log of ``size`` entries without reading
    it all: signed by ``verifier`` for ``origin``, and the log's root at its size is its
    root. Raises ``AuditChainBroken``. A wrong block cache is rebuilt from the entries
    (a full read, only then), so only a changed log fails."""
    try:
        signed = verify_checkpoint(cp.note, verifier, origin=origin)
    except AuditChainBroken as exc:
        raise AuditChainBroken(f"{cp.label}: {exc}") from exc
    if (signed.size, signed.root) != (cp.size, cp.root):
        raise AuditChainBroken(f"{cp.label}: the stored size or root differs from its signed note")
    if cp.size > size:
        raise AuditChainBroken(
            f"{cp.label} covers {cp.size} entries but the log has {size}: "
            f"audit entry {size} and later were removed (the log was rolled back)",
            size,
        )
    if hmac.compare_digest(units_root(log_units(conn, cp.size)), cp.root):
        return
    # Either the cache or the log differs from what was signed: rebuild the cache from
    # the entries and look again.
    conn.execute(t.log_blocks.delete())
    if not hmac.compare_digest(units_root(log_units(conn, cp.size)), cp.root):
        raise AuditChainBroken(
            f"the log does not match {cp.label} (size {cp.size}): an audit entry before "
            f"index {cp.size} was changed (the log was rewritten or forked); "
            "run `consentgate audit verify` to locate it",
            0,
        )
    logger.warning("the cached block roots of the audit log were wrong and were rebuilt")


def event_row(conn: sa.Connection, event_id: str) -> dict[str, Any] | None:
    """A consent event as stored (every column, in table order), or None."""
    r = conn.execute(
        sa.select(t.consent_events).where(t.consent_events.c.event_id == event_id)
    ).first()
    return None if r is None else dict(r._mapping)


def latest_event_id(conn: sa.Connection, member_id: str) -> str | None:
    """The id of the member's most recently recorded consent event, or None."""
    c = t.consent_events.c
    value = conn.execute(
        sa.select(c.event_id).where(c.member_id == member_id).order_by(c.seq.desc()).limit(1)
    ).scalar_one_or_none()
    return None if value is None else str(value)


def event_entry(conn: sa.Connection, event_id: str) -> audit.AuditEntry | None:
    """The latest audit entry that records the consent event ``event_id``, or None."""
    c = t.audit_log.c
    r = conn.execute(
        sa.select(t.audit_log)
        .where(c.entity == EVENT_ENTITY, c.entity_key == event_id)
        .order_by(c.idx.desc())
        .limit(1)
    ).first()
    if r is None:
        return None
    return audit.AuditEntry(
        int(r.idx), r.action, r.entity, r.entity_key, r.digest, r.recorded_at, r.prev_hash
    )
