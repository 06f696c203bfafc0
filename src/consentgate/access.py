"""Use cases for the service's API keys: create (the key is returned once), list, revoke,
and authenticate a presented key.

A key reads ``cgk_<key_id>_<secret>``: ``key_id`` (16 hex digits) is public and finds the
row; ``secret`` (256 random bits) is never stored. The row keeps
HMAC-SHA256(k, secret) where ``k`` is derived from the workspace secret, so a stored hash
is useless in another workspace; a presented key is checked with ``hmac.compare_digest``
(constant time). No slow password hash is needed: the secret is random, not chosen by a
person, so it cannot be guessed from its hash.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from consentgate.errors import InvalidInput, NotFound
from consentgate.paging import Page, check_window
from consentgate.store import access as store_access
from consentgate.store import audit as store_audit
from consentgate.timestamps import utcnow

logger = logging.getLogger(__name__)
Clock = Callable[[], datetime]

ROLES = ("member", "pipeline", "officer", "admin")
KEY_ROLES = ("pipeline", "officer", "admin")  # members arrive with a signed token instead
PREFIX = "cgk_"
_KEY = re.compile(r"cgk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_LABEL_MAX = 200


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    role: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKey
    secret: str  # the whole key text: shown once, never stored


def _hash_key(workspace_secret: bytes) -> bytes:
    return hmac.new(workspace_secret, b"consentgate api key v1", hashlib.sha256).digest()


def _secret_hash(workspace_secret: bytes, secret: str) -> str:
    return hmac.new(_hash_key(workspace_secret), secret.encode(), hashlib.sha256).hexdigest()


def _public(row: store_access.KeyRow) -> ApiKey:
    return ApiKey(row.key_id, row.role, row.label, row.created_at, row.revoked_at)


def create_key(engine: sa.Engine, *, role: str, label: str = "", now: Clock = utcnow) -> CreatedKey:
    if role not in KEY_ROLES:
        raise InvalidInput(f"role: expected one of {', '.join(KEY_ROLES)}")
    if len(label) > _LABEL_MAX or any(not ch.isprintable() for ch in label):
        raise InvalidInput(f"label: at most {_LABEL_MAX} printable characters")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    at = now()
    with engine.begin() as conn:
        digest = _secret_hash(store_audit.workspace_secret(conn), secret)
        store_access.insert_key(
            conn, key_id=key_id, role=role, label=label, secret_hash=digest, at=at
        )
    logger.info("api key created (role %s)", role)
    return CreatedKey(ApiKey(key_id, role, label, at, None), f"{PREFIX}{key_id}_{secret}")


def list_keys(engine: sa.Engine) -> list[ApiKey]:
    with engine.connect() as conn:
        return [_public(r) for r in store_access.list_keys(conn)]


def list_keys_page(engine: sa.Engine, *, limit: int, offset: int = 0) -> Page[ApiKey]:
    """A page of ``list_keys``, cut in SQL, with the number of keys."""
    check_window(limit, offset)
    with engine.connect() as conn:
        total = store_access.count_keys(conn)
        rows = store_access.list_keys(conn, limit=limit, offset=offset) if total else []
    return Page(tuple(_public(r) for r in rows), total, limit, offset)


def revoke_key(engine: sa.Engine, key_id: str, *, now: Clock = utcnow) -> ApiKey:
    """Revoke a key; revoking a revoked key changes nothing. ``NotFound`` for no such key."""
    with engine.begin() as conn:
        store_access.revoke_key(conn, key_id, at=now())
        row = store_access.get_key(conn, key_id)
    if row is None:
        raise NotFound("api key", key_id)
    logger.info("api key revoked")
    return _public(row)


def authenticate_key(engine: sa.Engine, presented: str) -> ApiKey | None:
    """The live key ``presented`` is, or None (malformed, unknown, wrong secret, revoked)."""
    m = _KEY.fullmatch(presented)
    if m is None:
        return None
    key_id, secret = m.groups()
    with engine.connect() as conn:
        row = store_access.get_key(conn, key_id)
        if row is None:
            return None
        digest = _secret_hash(store_audit.workspace_secret(conn), secret)
    if not hmac.compare_digest(digest, row.secret_hash) or row.revoked_at is not None:
        return None
    return _public(row)
