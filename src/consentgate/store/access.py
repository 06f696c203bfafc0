"""SQL for the service's API keys (``api_keys``): one function per query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from consentgate.store import tables as t


@dataclass(frozen=True, slots=True)
class KeyRow:
    key_id: str
    role: str
    label: str
    secret_hash: str
    created_at: datetime
    revoked_at: datetime | None


def insert_key(
    conn: sa.Connection, *, key_id: str, role: str, label: str, secret_hash: str, at: datetime
) -> None:
    conn.execute(
        sa.insert(t.api_keys).values(
            key_id=key_id, role=role, label=label, secret_hash=secret_hash, created_at=at
        )
    )


def get_key(conn: sa.Connection, key_id: str) -> KeyRow | None:
    row = conn.execute(sa.select(t.api_keys).where(t.api_keys.c.key_id == key_id)).first()
    return None if row is None else KeyRow(**row._mapping)


def list_keys(conn: sa.Connection) -> list[KeyRow]:
    rows = conn.execute(
        sa.select(t.api_keys).order_by(t.api_keys.c.created_at, t.api_keys.c.key_id)
    )
    return [KeyRow(**r._mapping) for r in rows]


def revoke_key(conn: sa.Connection, key_id: str, *, at: datetime) -> bool:
    """Mark the key revoked (once); False when there is no such key or it was revoked."""
    c = t.api_keys.c
    done = conn.execute(
        sa.update(t.api_keys)
        .where(c.key_id == key_id, c.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return bool(done.rowcount)
