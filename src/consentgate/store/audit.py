"""Audit log storage: append entries in the caller's transaction; verify the whole trail.

The entries are also the leaves of the transparency log (``consentgate.transparency``):
``verify`` rebuilds the Merkle tree in the same pass as the hash chain.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from consentgate import audit
from consentgate.errors import AuditChainBroken
from consentgate.merkle import MerkleTree, leaf_hash
from consentgate.store import bulk
from consentgate.store import tables as t
from consentgate.transparency import LogCheck

SECRET_KEY = "workspace_secret"


def ensure_secret(conn: sa.Connection) -> None:
    if conn.execute(sa.select(t.meta.c.value).where(t.meta.c.key == SECRET_KEY)).first() is None:
        conn.execute(t.meta.insert().values(key=SECRET_KEY, value=secrets.token_hex(32)))


def workspace_secret(conn: sa.Connection) -> bytes:
    value = conn.execute(sa.select(t.meta.c.value).where(t.meta.c.key == SECRET_KEY)).scalar_one()
    return bytes.fromhex(value)


@dataclass(frozen=True, slots=True)
class Audited:
    """How one audited table is keyed and digested (write and verify use the same code)."""

    table: sa.Table
    key: Callable[[bytes, Mapping[str, Any]], str]

    def row(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {c.name: values.get(c.name) for c in self.table.columns}


AUDITED: dict[str, Audited] = {
    "taxonomy_keys": Audited(t.taxonomy_keys, lambda _s, r: f"{r['kind']}:{r['key']}"),
    "policy_versions": Audited(t.policy_versions, lambda _s, r: str(r["version"])),
    "members": Audited(t.members, lambda s, r: audit.member_ref(s, str(r["member_id"]))),
    "member_jurisdictions": Audited(
        t.member_jurisdictions,
        lambda s, r: f"{audit.member_ref(s, str(r['member_id']))}:{r['seq']}",
    ),
    "consent_events": Audited(t.consent_events, lambda _s, r: str(r["event_id"])),
    "snapshots": Audited(t.snapshots, lambda _s, r: str(r["sha256"])),
    "datasets": Audited(t.datasets, lambda _s, r: str(r["dataset_id"])),
    # remediation (issue 5)
    "models": Audited(t.models, lambda _s, r: str(r["model_id"])),
    "model_datasets": Audited(t.model_datasets, lambda _s, r: f"{r['model_id']}:{r['dataset_id']}"),
    "disclosures": Audited(t.disclosures, lambda _s, r: str(r["disclosure_id"])),
    "remediation_orders": Audited(t.remediation_orders, lambda _s, r: str(r["order_id"])),
    "remediation_order_members": Audited(
        t.remediation_order_members,
        lambda s, r: f"{r['order_id']}:{audit.member_ref(s, str(r['member_id']))}",
    ),
    "notices": Audited(t.notices, lambda _s, r: str(r["notice_id"])),
}


def audit_item(
    secret: bytes, action: str, entity: str, values: Mapping[str, Any]
) -> tuple[str, str, str, str | None]:
    spec = AUDITED[entity]
    row = spec.row(values)
    return (action, entity, spec.key(secret, row), audit.row_digest(secret, entity, row))


def head(conn: sa.Connection) -> tuple[int, str]:
    """(next index, hash of the last entry)."""
    last = conn.execute(
        sa.select(t.audit_log.c.idx, t.audit_log.c.entry_hash)
        .order_by(t.audit_log.c.idx.desc())
        .limit(1)
    ).first()
    return (0, audit.GENESIS) if last is None else (int(last.idx) + 1, str(last.entry_hash))


def lock(conn: sa.Connection) -> None:
    """Serialise writers of the log (PostgreSQL; SQLite serialises writes itself)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("LOCK TABLE audit_log IN EXCLUSIVE MODE"))


_LOG_COLUMNS = (
    "idx",
    "action",
    "entity",
    "entity_key",
    "digest",
    "recorded_at",
    "prev_hash",
    "entry_hash",
)


def append(
    conn: sa.Connection,
    items: Sequence[tuple[str, str, str, str | None]],
    *,
    at: datetime,
) -> int:
    """Append entries for (action, entity, key, digest) items; returns the first index."""
    lock(conn)
    start, prev = head(conn)
    stamp = bulk.micros(at)
    rows = (  # streamed: on PostgreSQL the COPY runs while the chain is hashed
        (idx, action, entity, key, digest, stamp, prev_hash, entry_hash)
        for idx, action, entity, key, digest, prev_hash, entry_hash in audit.link(
            start, prev, items, at=at
        )
    )
    bulk.insert_values(conn, t.audit_log, _LOG_COLUMNS, rows)
    return start


def iter_entries(
    conn: sa.Connection, *, start: int = 0, stop: int | None = None, batch: int = 50_000
) -> Iterator[tuple[audit.AuditEntry, str]]:
    """Entries with their stored hashes, in index order (``start`` <= idx < ``stop``),
    streamed as tuples, not row objects: this loop is most of a full verification."""
    c = t.audit_log.c
    columns = (c.idx, c.action, c.entity, c.entity_key, c.digest, c.recorded_at, c.prev_hash)
    query = sa.select(*columns, c.entry_hash).order_by(c.idx)
    if start:
        query = query.where(c.idx >= start)
    if stop is not None:
        query = query.where(c.idx < stop)
    entry = audit.AuditEntry
    for idx, action, entity, key, digest, at, prev, stored in conn.execute(
        query.execution_options(yield_per=batch)
    ):
        yield entry(int(idx), action, entity, key, digest, at, prev), stored


Latest = dict[tuple[str, str], tuple[int, str | None]]


def _checked(
    conn: sa.Connection, start: int, stop: int | None, prev: str, latest: Latest | None
) -> Iterator[tuple[bytes, str]]:
    """(leaf hash, stored hash) of entries ``start`` .. ``stop - 1`` (or to the end),
    checking on the way that each is intact and links to ``prev`` / the one before it.

    The checks and messages are those of ``audit.verify_chain``, done here so that each
    entry is encoded once for both hashes (a third of a full verification's time).
    """
    expected = start
    for entry, stored in iter_entries(conn, start=start, stop=stop):
        if entry.idx != expected:
            raise AuditChainBroken(
                f"audit entry {expected} is missing or out of order (found {entry.idx})", expected
            )
        if entry.prev_hash != prev:
            raise AuditChainBroken(
                f"audit entry {entry.idx} does not link to entry {entry.idx - 1}", entry.idx
            )
        data = entry.entry_bytes()
        if hashlib.sha256(data).hexdigest() != stored:
            raise AuditChainBroken(f"audit entry {entry.idx} was altered", entry.idx)
        if latest is not None:
            latest[(entry.entity, entry.key)] = (entry.idx, entry.digest)
        yield leaf_hash(data), stored
        prev, expected = stored, expected + 1
    if stop is not None and expected != stop:
        raise AuditChainBroken(f"audit entry {expected} is missing", expected)


def range_leaves(conn: sa.Connection, start: int, stop: int) -> list[bytes]:
    """Merkle leaf hashes of entries ``start`` .. ``stop - 1``, checking that each is
    intact and links to the one before it (the first to the stored hash of ``start - 1``)."""
    if start >= stop:
        return []
    prev = audit.GENESIS
    if start > 0:
        found = conn.execute(
            sa.select(t.audit_log.c.entry_hash).where(t.audit_log.c.idx == start - 1)
        ).scalar_one_or_none()
        if found is None:
            raise AuditChainBroken(f"audit entry {start - 1} is missing", start - 1)
        prev = str(found)
    return [leaf for leaf, _ in _checked(conn, start, stop, prev, None)]


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What ``verify`` checked: entries and rows, the chain head, the Merkle root over every
    entry (hex) and, when asked for, the check against the signed checkpoints."""

    entries: int
    head: str
    rows: int
    root: str = ""
    log: LogCheck | None = None


_TREE_BATCH = 65_536


def _walk(conn: sa.Connection, latest: Latest | None = None) -> tuple[int, str, MerkleTree]:
    """Stream the log once: check the hash chain, build the Merkle tree of the entries
    (leaf = ``H(0x00 || entry_bytes)``), and note the latest entry per key if asked.
    Returns (entries, head hash, tree)."""
    tree = MerkleTree()
    pending: list[bytes] = []
    head = audit.GENESIS
    for leaf, stored in _checked(conn, 0, None, audit.GENESIS, latest):
        pending.append(leaf)
        head = stored
        if len(pending) >= _TREE_BATCH:
            tree.extend(pending)
            pending.clear()
    tree.extend(pending)
    return len(tree), head, tree


def log_tree(conn: sa.Connection) -> MerkleTree:
    """The Merkle tree over every entry, after checking the hash chain (``AuditChainBroken``
    names the first broken entry): every root and proof of the log, at the cost of
    reading all of it (``store.transparency`` reads only what it needs)."""
    return _walk(conn)[2]


def verify(
    conn: sa.Connection, *, check_tree: Callable[[MerkleTree], LogCheck] | None = None
) -> VerifyReport:
    """Verify the chain, the Merkle tree (``check_tree``, e.g. against the signed
    checkpoints), then every audited row against its latest entry."""
    latest: Latest = {}
    count, head_hash, tree = _walk(conn, latest)
    log = check_tree(tree) if check_tree is not None else None
    secret = workspace_secret(conn)
    n_rows = 0

    def rows() -> Iterator[tuple[str, str, str]]:
        nonlocal n_rows
        for entity, spec in AUDITED.items():
            for r in conn.execute(sa.select(spec.table).execution_options(yield_per=50_000)):
                values = spec.row(dict(r._mapping))
                n_rows += 1
                yield entity, spec.key(secret, values), audit.row_digest(secret, entity, values)

    audit.verify_rows(latest, rows())
    return VerifyReport(entries=count, head=head_hash, rows=n_rows, root=tree.root().hex(), log=log)
