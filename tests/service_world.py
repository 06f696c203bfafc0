"""A running service (in process) over the small world of tests/conftest.py: members u1,
u2 (US), e1, e2 (EU/UK), policies v1 and v2, e1 and e2 with grants; tokens for members and
API keys for the other roles."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from fastapi.testclient import TestClient

from consentgate import access
from consentgate.config import Settings
from consentgate.service import create_app
from consentgate.store.engine import make_engine

HS_SECRET = b"a-shared-secret-for-the-tests-only-" * 2  # 70 bytes: HS512 needs 64 too


def member_token(member_id: str, *, secret: bytes = HS_SECRET, **claims: Any) -> str:
    body = {"sub": member_id, "exp": int(time.time()) + 600, **claims}
    return jwt.encode(body, secret, algorithm="HS256")


@dataclass
class Service:
    client: TestClient
    settings: Settings
    keys: dict[str, str] = field(default_factory=dict)  # role -> key text

    def auth(self, role: str, member_id: str | None = None) -> dict[str, str]:
        """Headers for a caller: a member token for "member", an API key for other roles."""
        if role == "member":
            assert member_id is not None
            return {"Authorization": f"Bearer {member_token(member_id)}"}
        if role == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.keys[role]}"}


def settings_for(db_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    secret = tmp_path / "jwt.secret"
    secret.write_bytes(HS_SECRET)
    values: dict[str, Any] = {
        "db_url": db_url,
        "key_dir": tmp_path / "keys",
        "service_jwt_key": secret,
        "service_write_rate": 1000.0,
        "service_write_burst": 1000,
    }
    values.update(overrides)
    return Settings(**values)


def start(settings: Settings, *, demo: bool = False) -> Iterator[Service]:
    engine = make_engine(settings.db_url)
    app = create_app(settings, engine=engine, demo=demo)
    with TestClient(app, base_url="https://testserver") as client:
        svc = Service(client, settings)
        for role in access.KEY_ROLES:
            svc.keys[role] = access.create_key(engine, role=role, label=f"test {role}").secret
        yield svc
    engine.dispose()


def csrf_of(html: str) -> str:
    """The CSRF token in a page's forms (the hidden ``csrf_token`` field)."""
    import re

    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m is not None, "no CSRF field on the page"
    return m.group(1)


def sign_in(svc: Service, member_id: str) -> str:
    """Open a browser session for ``member_id`` (``POST /api/v1/session`` with a member
    token: the cookie stays in the client) and return its CSRF token."""
    svc.client.cookies.clear()
    r = svc.client.post("/api/v1/session", headers=svc.auth("member", member_id))
    assert r.status_code == 200, r.text
    token: str = r.json()["csrf_token"]
    return token
