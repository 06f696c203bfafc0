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
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from consentgate.errors import AuditChainBroken, InvalidInput
from consentgate.store import audit as store_audit
from consentgate.store import tables as t
from consentgate.tlog import audit, subtree
from consentgate.tlog.checkpoint import Signer, Verifier, sign_checkpoint
from consentgate.tlog.merkle import MerkleTree, root_from_leaf_hashes
from consentgate.tlog.note import verify_checkpoint, with_signatures
from consentgate.tlog.receipts import (
    LoggedCheckpoint,
    SignedHead,
    blocked_inclusion_proof,
    log_origin,
    units_root,
)

logger = logging.getLogger(__name__)
WORKSPACE_ID_KEY = "workspace_id"
LOG_KEY = "log_key"
EVENT_ENTITY = "consent_events"
ROTATION_ENTITY = "log_key_rotations"
KEY_ROTATED = "log.key_rotated"


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


def sign_head(
    conn: sa.Connection,
    signer: Signer,
    *,
    origin: str,
    at: datetime,
    verifiers: Sequence[Verifier] = (),
    cosigners: Sequence[Signer] = (),
) -> SignedHead:
    """Sign and store the head of the log (the caller holds ``store.audit.lock``).

    First checks the latest checkpoint: its signature by this key (or one of ``verifiers``,
    the keys the log had before a rotation), and that the log
    still has its root at its size (from the cached block roots, which must reproduce
    it), so a log rewritten or rolled back behind it is never signed (``AuditChainBroken``).
    Then reads only the entries after the last block the latest checkpoint covers
    (checked against the hash chain). When the log has not grown since, returns that
    checkpoint unchanged. ``cosigners`` add their signatures to a new checkpoint (the old key,
    right after a rotation).

    The entries from the start of the block holding the latest checkpoint's size to the
    head are read once, for both roots (the latest checkpoint's, to check it, and the new
    one): this is the whole cost of an automatic checkpoint (docs/benchmarks.md).
    """
    latest = latest_checkpoint(conn)
    size = store_audit.head(conn)[0]
    first = 0  # the first entry read: blocks before it are vouched for by ``latest``
    units: list[bytes] = []
    leaves: list[bytes] | None = None
    if latest is not None:
        keys = [signer.verifier, *verifiers]
        _check_signed(latest, keys, origin=origin, size=size)
        first = latest.size - latest.size % BLOCK_LEAVES
        units = _ensure_blocks(conn, first)
        leaves = store_audit.range_leaves(conn, first, size)
        partial = leaves[: latest.size - first]
        at_latest = [*units, root_from_leaf_hashes(partial)] if partial else units
        if not hmac.compare_digest(units_root(at_latest), latest.root):
            # the cache or the log differs from what was signed: the full check rebuilds
            # the cache from the entries (raising when the log itself differs)
            check_log_prefix(conn, latest, keys, origin=origin, size=size)
            units = _ensure_blocks(conn, first)
        if latest.size == size:
            return SignedHead(latest, False)
    # Cached roots are trusted only as far as a signed root vouches for them.
    conn.execute(t.log_blocks.delete().where(t.log_blocks.c.block >= first // BLOCK_LEAVES))
    if leaves is None:
        leaves = store_audit.range_leaves(conn, first, size)
    complete = len(leaves) - len(leaves) % BLOCK_LEAVES
    new = [
        root_from_leaf_hashes(leaves[o : o + BLOCK_LEAVES])
        for o in range(0, complete, BLOCK_LEAVES)
    ]
    if new:
        conn.execute(
            t.log_blocks.insert(),
            [{"block": len(units) + k, "hash": h.hex()} for k, h in enumerate(new)],
        )
    tail = leaves[complete:]
    root = units_root([*units, *new, root_from_leaf_hashes(tail)] if tail else [*units, *new])
    note = sign_checkpoint(signer, origin=origin, size=size, root=root)
    if cosigners:
        body = note[: note.index("\n\n") + 1]
        note = with_signatures(
            note,
            [
                sign_checkpoint(c, origin=origin, size=size, root=root)[len(body) + 1 : -1]
                for c in cosigners
            ],
        )
    return SignedHead(insert_checkpoint(conn, size=size, root=root, note=note, at=at), True, latest)


def _check_signed(
    cp: LoggedCheckpoint, keys: Sequence[Verifier], *, origin: str, size: int
) -> None:
    """A stored checkpoint's signature and size against a log of ``size`` entries (the
    first half of ``check_log_prefix``, which reads no entry)."""
    try:
        signed, _ = verify_checkpoint(cp.note, list(keys), origin=origin)
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


def check_log_prefix(
    conn: sa.Connection,
    cp: LoggedCheckpoint,
    verifier: Verifier | Sequence[Verifier],
    *,
    origin: str,
    size: int,
) -> None:
    """Check one stored checkpoint against the log of ``size`` entries without reading
    it all: signed by ``verifier`` (or one of several) for ``origin``, and the log's root at its size is its
    root. Raises ``AuditChainBroken``. A wrong block cache is rebuilt from the entries
    (a full read, only then), so only a changed log fails."""
    keys = [verifier] if isinstance(verifier, Verifier) else list(verifier)
    _check_signed(cp, keys, origin=origin, size=size)
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
    return latest_entry(conn, EVENT_ENTITY, event_id)


def dataset_row(conn: sa.Connection, dataset_id: str) -> dict[str, Any]:
    """A registered dataset's row as stored (every column, in table order)."""
    r = conn.execute(sa.select(t.datasets).where(t.datasets.c.dataset_id == dataset_id)).one()
    return dict(r._mapping)


def latest_entry(conn: sa.Connection, entity: str, key: str) -> audit.AuditEntry | None:
    """The latest audit entry that records the row ``key`` of ``entity``, or None."""
    c = t.audit_log.c
    r = conn.execute(
        sa.select(t.audit_log)
        .where(c.entity == entity, c.entity_key == key)
        .order_by(c.idx.desc())
        .limit(1)
    ).first()
    if r is None:
        return None
    return audit.AuditEntry(
        int(r.idx), r.action, r.entity, r.entity_key, r.digest, r.recorded_at, r.prev_hash
    )


# -- the log key (issue 14) -------------------------------------------------------------------


def registered_key(conn: sa.Connection) -> str | None:
    """The verifier key the ledger recorded first (``meta`` ``log_key``), if any."""
    value = conn.execute(
        sa.select(t.meta.c.value).where(t.meta.c.key == LOG_KEY)
    ).scalar_one_or_none()
    return None if value is None else str(value)


def register_key(conn: sa.Connection, verifier_key: str) -> None:
    """Record the ledger's first log key."""
    conn.execute(t.meta.insert().values(key=LOG_KEY, value=verifier_key))


def key_rotations(conn: sa.Connection) -> list[str]:
    """The rotation statements, oldest first."""
    c = t.log_key_rotations.c
    return [str(s) for s in conn.execute(sa.select(c.statement).order_by(c.seq)).scalars()]


def insert_rotation(
    conn: sa.Connection, *, old_key: str, new_key: str, statement: str, at: datetime
) -> int:
    """Record a rotation, with its audit entry; return its number (1, 2, ...). The caller
    holds the log lock."""
    c = t.log_key_rotations.c
    seq = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(c.seq), 0))).scalar_one()) + 1
    values = {
        "seq": seq,
        "old_key": old_key,
        "new_key": new_key,
        "statement": statement,
        "rotated_at": at,
    }
    conn.execute(t.log_key_rotations.insert().values(**values))
    secret = store_audit.workspace_secret(conn)
    store_audit.append(
        conn, [store_audit.audit_item(secret, KEY_ROTATED, ROTATION_ENTITY, values)], at=at
    )
    return seq


# -- witnessing and publishing (issue 14) ---------------------------------------------------


def update_checkpoint_note(conn: sa.Connection, number: int, note: str) -> None:
    """Replace a stored checkpoint's note by the same checkpoint with more signatures
    (witness cosignatures); the caller has checked that it states the same size and root."""
    c = t.log_checkpoints.c
    conn.execute(t.log_checkpoints.update().where(c.number == number).values(note=note))


def subtree_source(conn: sa.Connection, size: int) -> subtree.Perfect:
    """``perfect(start, width)`` for the tree of the first ``size`` entries: complete
    subtrees of a block or more from the cached block roots, smaller ones from the
    entries of their block (read once, chain-checked). Roots and proofs built from it
    are as trustworthy as the block cache: check them against a signed root."""
    b = BLOCK_LEAVES
    blocks = MerkleTree(_ensure_blocks(conn, size))
    inner: dict[int, MerkleTree] = {}

    def perfect(start: int, width: int) -> bytes:
        if width >= b:
            return blocks.subtree_hash(start // b, width // b)
        j = start // b
        if j not in inner:
            inner[j] = MerkleTree(store_audit.range_leaves(conn, j * b, min(j * b + b, size)))
        return inner[j].subtree_hash(start - j * b, width)

    return perfect


def consistency_proof(conn: sa.Connection, old_size: int, new_size: int) -> list[bytes]:
    """The RFC 9162 consistency proof from ``old_size`` to ``new_size`` (empty for equal
    sizes or ``old_size`` 0), reading block roots and at most a few blocks of entries."""
    if not 0 <= old_size <= new_size:
        raise InvalidInput(f"no consistency proof from size {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    return subtree.consistency_proof(subtree_source(conn, new_size), old_size, new_size)
