"""Member tokens (JWT, verified with PyJWT) and the session cookie that follows them.

A member token is accepted only with the one configured algorithm and key: ``alg`` in the
header must equal it (so ``none``, and an HMAC token made with an RSA or Ed25519 public key
as its secret, are refused), ``exp`` and ``sub`` are required, ``sub`` must be a valid member
id, and ``aud``/``iss`` are checked when configured.

The session cookie is written by hand (no extra dependency): ``<payload>.<mac>``, where the
payload is base64url JSON ``{"sub", "exp", "sid"[, "role"]}`` (``role`` is ``member`` when
absent; an officer session, issued only by the ``serve --demo`` login, has ``role:
officer`` and a ``sub`` that names no member) and ``mac`` is HMAC-SHA256 under the
session key; verification compares in constant time and checks ``exp``. The CSRF token of a
session is HMAC-SHA256(session key, "csrf" + sid): bound to the session, not stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from consentgate import ids
from consentgate.errors import UsageError

MIN_HMAC_KEY = 32


@dataclass(frozen=True, slots=True)
class TokenRules:
    algorithm: str
    key: Any  # bytes (HS256) or a PEM public key's text
    audience: str | None = None
    issuer: str | None = None


def load_token_rules(
    algorithm: str, key_file: Path | None, *, audience: str | None, issuer: str | None
) -> TokenRules | None:
    """The member-token rules from settings; None when no key is configured."""
    if key_file is None:
        return None
    try:
        raw = key_file.read_bytes()
    except OSError as exc:
        raise UsageError(f"service_jwt_key: cannot read {key_file}: {exc.strerror}") from exc
    if algorithm == "HS256":
        key: Any = raw.strip()
        if len(key) < MIN_HMAC_KEY:
            raise UsageError(
                f"service_jwt_key: an HS256 secret needs at least {MIN_HMAC_KEY} bytes"
            )
    else:
        if b"PUBLIC KEY" not in raw:
            raise UsageError(f"service_jwt_key: {algorithm} needs a PEM public key")
        key = raw.decode("ascii", errors="replace")
    return TokenRules(algorithm, key, audience, issuer)


class BadToken(Exception):
    """A token or cookie that does not authenticate anyone (the reason is for logs only)."""


def member_from_token(token: str, rules: TokenRules) -> str:
    """The member id (``sub``) of a valid token; ``BadToken`` otherwise."""
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != rules.algorithm:
            raise BadToken("algorithm")
        claims = jwt.decode(
            token,
            rules.key,
            algorithms=[rules.algorithm],
            audience=rules.audience,
            issuer=rules.issuer,
            options={"require": ["exp", "sub"], "verify_aud": rules.audience is not None},
        )
    except jwt.PyJWTError as exc:
        raise BadToken(type(exc).__name__) from exc
    sub = claims.get("sub")
    if not isinstance(sub, str) or ids.member_id_problem(sub) is not None:
        raise BadToken("sub")
    return sub


# --------------------------------------------------------------------------- sessions


def load_or_create_session_key(path: Path) -> bytes:
    """The session key at ``path``; created (32 random bytes, hex, mode 0600) when missing."""
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        raise UsageError(f"service_session_key: cannot read {path}") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.hex() + "\n")
    return key


SESSION_ROLES = frozenset({"member", "officer"})


@dataclass(frozen=True, slots=True)
class Session:
    member_id: str  # for an officer session, a label (never a member id)
    expires: int  # unix seconds
    sid: str
    role: str = "member"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, b"session." + payload.encode("ascii"), hashlib.sha256).digest())


def issue_session(
    key: bytes, member_id: str, *, now: datetime, lifetime: timedelta, role: str = "member"
) -> str:
    if role not in SESSION_ROLES:
        raise ValueError(f"role: expected one of {sorted(SESSION_ROLES)}")
    body = {
        "sub": member_id,
        "exp": int((now + lifetime).timestamp()),
        "sid": secrets.token_hex(16),
    }
    if role != "member":
        body["role"] = role
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_mac(key, payload)}"


def read_session(key: bytes, cookie: str, *, now: datetime) -> Session:
    payload, sep, mac = cookie.partition(".")
    if not sep or not hmac.compare_digest(mac, _mac(key, payload)):
        raise BadToken("session mac")
    try:
        body = json.loads(_unb64(payload))
        session = Session(
            str(body["sub"]), int(body["exp"]), str(body["sid"]), str(body.get("role", "member"))
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise BadToken("session payload") from exc
    if session.role not in SESSION_ROLES:
        raise BadToken("session role")
    if session.expires <= now.timestamp():
        raise BadToken("session expired")
    return session


def csrf_token(key: bytes, session: Session) -> str:
    return _b64(hmac.new(key, b"csrf." + session.sid.encode(), hashlib.sha256).digest())


def csrf_ok(key: bytes, session: Session, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(presented, csrf_token(key, session))
