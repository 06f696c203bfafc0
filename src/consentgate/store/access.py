"""SQL for the service's API keys (``api_keys``): one function per query. Creating and
revoking a key append its audit entry (``api_key.created``, ``api_key.revoked``) in the
same transaction, as every audited write does."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from consentgate.store import audit as store_audit
from consentgate.store import tables as t
from consentgate.tlog import audit


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
    """Store a key and its ``api_key.created`` audit entry (key id and role)."""
    values = {
        "key_id": key_id,
        "role": role,
        "label": label,
        "secret_hash": secret_hash,
        "created_at": at,
        "revoked_at": None,
    }
    conn.execute(sa.insert(t.api_keys).values(**values))
    _audit(conn, audit.API_KEY_CREATED, values, at=at)


def _audit(conn: sa.Connection, action: str, values: dict[str, object], *, at: datetime) -> None:
    secret = store_audit.workspace_secret(conn)
    store_audit.append(conn, [store_audit.audit_item(secret, action, "api_keys", values)], at=at)


def get_key(conn: sa.Connection, key_id: str) -> KeyRow | None:
    row = conn.execute(sa.select(t.api_keys).where(t.api_keys.c.key_id == key_id)).first()
    return None if row is None else KeyRow(**row._mapping)


def list_keys(conn: sa.Connection, *, limit: int | None = None, offset: int = 0) -> list[KeyRow]:
    """Keys, oldest first; a window of them when ``limit`` is given."""
    query = sa.select(t.api_keys).order_by(t.api_keys.c.created_at, t.api_keys.c.key_id)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return [KeyRow(**r._mapping) for r in conn.execute(query)]


def count_keys(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(t.api_keys)).scalar_one())


def revoke_key(conn: sa.Connection, key_id: str, *, at: datetime) -> bool:
    """Mark the key revoked (once); False when there is no such key or it was revoked."""
    c = t.api_keys.c
    done = conn.execute(
        sa.update(t.api_keys)
        .where(c.key_id == key_id, c.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    if not done.rowcount:
        return False
    row = get_key(conn, key_id)
    assert row is not None
    _audit(conn, audit.API_KEY_REVOKED, dataclasses.asdict(row), at=at)
    return True
