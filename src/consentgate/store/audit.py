"""Audit log storage: append entries in the caller's transaction; verify the whole trail."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from consentgate import audit
from consentgate.store import tables as t

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
    "consent_events": Audited(t.consent_events, lambda _s, r: str(r["event_id"])),
    "snapshots": Audited(t.snapshots, lambda _s, r: str(r["sha256"])),
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


def append(
    conn: sa.Connection,
    items: Sequence[tuple[str, str, str, str | None]],
    *,
    at: datetime,
) -> int:
    """Append entries for (action, entity, key, digest) items; returns the first index."""
    lock(conn)
    start, prev = head(conn)
    rows = [
        {
            "idx": e.idx,
            "action": e.action,
            "entity": e.entity,
            "entity_key": e.key,
            "digest": e.digest,
            "recorded_at": e.recorded_at,
            "prev_hash": e.prev_hash,
            "entry_hash": h,
        }
        for e, h in audit.chain(start, prev, items, at=at)
    ]
    if rows:
        conn.execute(t.audit_log.insert(), rows)
    return start


def iter_entries(
    conn: sa.Connection, *, batch: int = 50_000
) -> Iterator[tuple[audit.AuditEntry, str]]:
    c = t.audit_log.c
    result = conn.execute(sa.select(t.audit_log).order_by(c.idx).execution_options(yield_per=batch))
    for r in result:
        yield (
            audit.AuditEntry(
                int(r.idx), r.action, r.entity, r.entity_key, r.digest, r.recorded_at, r.prev_hash
            ),
            r.entry_hash,
        )


@dataclass(frozen=True, slots=True)
class VerifyReport:
    entries: int
    head: str
    rows: int


def verify(conn: sa.Connection) -> VerifyReport:
    """Verify the chain, then every audited row against its latest entry."""
    latest: dict[tuple[str, str], tuple[int, str | None]] = {}

    def tracked() -> Iterator[tuple[audit.AuditEntry, str]]:
        for entry, stored in iter_entries(conn):
            latest[(entry.entity, entry.key)] = (entry.idx, entry.digest)
            yield entry, stored

    count, head_hash = audit.verify_chain(tracked())
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
    return VerifyReport(entries=count, head=head_hash, rows=n_rows)
