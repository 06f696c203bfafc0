"""Authentication: member tokens (JWT), session cookies with CSRF, API keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from fastapi.testclient import TestClient
from service_world import HS_SECRET, member_token, settings_for, start

from consentgate.service import tokens
from consentgate.service.deps import SESSION_COOKIE
from consentgate.store import tables as t
from consentgate.timestamps import utcnow

SETTINGS = "/api/v1/members/e1/settings"
CONSENT = "/api/v1/members/e1/consent"
WITHDRAW = {"type": "withdraw", "setting": "ai_training_posts"}


def _get(service: Any, token: str, url: str = SETTINGS) -> int:
    r = service.client.get(url, headers={"Authorization": f"Bearer {token}"})
    return r.status_code


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


# --------------------------------------------------------------------------- HS256


@pytest.mark.postgres
def test_member_token_hs256(service: Any) -> None:
    assert _get(service, member_token("e1")) == 200
    future = int(time.time()) + 600
    refused = {
        "alg none": _unsigned({"sub": "e1", "exp": future}),
        "alg None": _unsigned({"sub": "e1", "exp": future}, alg="None"),
        "no exp": jwt.encode({"sub": "e1"}, HS_SECRET, algorithm="HS256"),
        "expired": member_token("e1", exp=int(time.time()) - 5),
        "no sub": jwt.encode({"exp": future}, HS_SECRET, algorithm="HS256"),
        "bad sub": member_token("e1\n"),
        "sub not a string": jwt.encode({"sub": 5, "exp": future}, HS_SECRET, algorithm="HS256"),
        "wrong secret": member_token("e1", secret=HS_SECRET + b"x"),
        "HS512": jwt.encode({"sub": "e1", "exp": future}, HS_SECRET, algorithm="HS512"),
        "tampered": member_token("e1")[:-3] + "AAA",
        "garbage": "not.a.token",
    }
    for why, token in refused.items():
        r = service.client.get(SETTINGS, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, why
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json() == {
            "ok": False,
            "type": "Unauthenticated",
            "error": "authentication required",
        }


def test_audience_and_issuer_are_checked_when_configured(
    world: Path, db_url: str, tmp_path: Path
) -> None:
    settings = settings_for(db_url, tmp_path, service_jwt_audience="cg", service_jwt_issuer="host")
    for svc in start(settings):
        assert _get(svc, member_token("e1", aud="cg", iss="host")) == 200
        assert _get(svc, member_token("e1", aud="other", iss="host")) == 401
        assert _get(svc, member_token("e1", aud="cg", iss="other")) == 401
        assert _get(svc, member_token("e1")) == 401


def test_no_jwt_key_configured_refuses_member_tokens(
    world: Path, db_url: str, tmp_path: Path
) -> None:
    for svc in start(settings_for(db_url, tmp_path, service_jwt_key=None)):
        assert _get(svc, member_token("e1")) == 401
        assert svc.client.get("/api/v1/policies", headers=svc.auth("officer")).status_code == 200


def test_short_hs256_secret_is_refused_at_start(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_bytes(b"too short")
    with pytest.raises(Exception, match="at least 32 bytes"):
        tokens.load_token_rules("HS256", short, audience=None, issuer=None)


# --------------------------------------------------------------------------- RS256 and EdDSA


def _pem_public(private: Any) -> bytes:
    return bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


@pytest.fixture(params=["RS256", "EdDSA"])
def asymmetric(
    request: pytest.FixtureRequest, world: Path, db_url: str, tmp_path: Path
) -> Iterator[tuple[Any, Any, bytes]]:
    if request.param == "RS256":
        private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    public = _pem_public(private)
    (tmp_path / "jwt.pub").write_bytes(public)
    settings = settings_for(
        db_url,
        tmp_path,
        service_jwt_algorithm=request.param,
        service_jwt_key=tmp_path / "jwt.pub",
    )
    for svc in start(settings):
        yield svc, private, public


def test_asymmetric_tokens_and_key_confusion(asymmetric: tuple[Any, Any, bytes]) -> None:
    svc, private, public = asymmetric
    alg = svc.settings.service_jwt_algorithm
    future = int(time.time()) + 600
    good = jwt.encode({"sub": "e1", "exp": future}, private, algorithm=alg)
    assert _get(svc, good) == 200
    # Key confusion: an HMAC token whose secret is the server's public key (PyJWT refuses to
    # make one, so it is made by hand), and alg none: both refused.
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps({"sub": "e1", "exp": future}).encode())
    mac = hmac.new(public, f"{header}.{body}".encode(), hashlib.sha256).digest()
    assert _get(svc, f"{header}.{body}.{_b64(mac)}") == 401
    assert _get(svc, _unsigned({"sub": "e1", "exp": future})) == 401
    other: Any = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if alg == "RS256"
        else ed25519.Ed25519PrivateKey.generate()
    )
    assert _get(svc, jwt.encode({"sub": "e1", "exp": future}, other, algorithm=alg)) == 401
    assert _get(svc, jwt.encode({"sub": "e1"}, private, algorithm=alg)) == 401  # no exp


# --------------------------------------------------------------------------- sessions and CSRF


def _open(service: Any) -> str:
    r = service.client.post("/api/v1/session", headers=service.auth("member", "e1"))
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=strict" in cookie
    assert "Max-Age=3600" in cookie
    return str(r.json()["csrf_token"])


@pytest.mark.postgres
def test_session_cookie_and_csrf(service: Any) -> None:
    c = service.client
    assert c.post("/api/v1/session").status_code == 401
    csrf = _open(service)
    assert c.get(SETTINGS).status_code == 200  # the cookie alone reads
    assert c.get("/api/v1/members/e2/settings").status_code == 404  # still only their own
    assert c.post(CONSENT, json=WITHDRAW).status_code == 403  # a write needs the CSRF token
    assert c.post(CONSENT, json=WITHDRAW, headers={"X-CSRF-Token": "x" * 43}).status_code == 403
    r = c.post(CONSENT, json=WITHDRAW, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201 and r.json()["event"]["source"] == "web"
    assert c.delete("/api/v1/session").status_code == 200
    assert c.get(SETTINGS).status_code == 401


@pytest.mark.postgres
def test_forged_or_expired_session_cookies_are_refused(service: Any) -> None:
    ctx = service.client.app.state.service
    c = service.client
    now = utcnow()
    expired = tokens.issue_session(
        ctx.session_key, "e1", now=now - timedelta(hours=2), lifetime=timedelta(hours=1)
    )
    forged = tokens.issue_session(b"k" * 32, "e1", now=now, lifetime=timedelta(hours=1))
    good = tokens.issue_session(ctx.session_key, "e1", now=now, lifetime=timedelta(hours=1))
    payload, mac = good.split(".")
    other = _b64(json.dumps({"sub": "e2", "exp": 2**40, "sid": "a"}).encode())
    for cookie in (expired, forged, f"{other}.{mac}", "garbage", f"{payload}."):
        c.cookies.clear()
        r = c.get(SETTINGS, headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
        assert r.status_code == 401, cookie
    c.cookies.clear()
    assert c.get(SETTINGS, headers={"Cookie": f"{SESSION_COOKIE}={good}"}).status_code == 200


def test_session_cookie_not_secure_only_when_configured(
    world: Path, db_url: str, tmp_path: Path
) -> None:
    settings = settings_for(db_url, tmp_path, service_cookie_secure=False)
    for svc in start(settings):
        r = svc.client.post("/api/v1/session", headers=svc.auth("member", "e1"))
        assert "Secure" not in r.headers["set-cookie"]


def test_session_key_file_is_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "k" / "session.key"
    key = tokens.load_or_create_session_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert tokens.load_or_create_session_key(path) == key and len(key) == 32


# --------------------------------------------------------------------------- API keys


@pytest.mark.postgres
def test_api_keys_are_stored_as_keyed_hashes(service: Any) -> None:
    engine = service.client.app.state.service.engine
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.api_keys)).all()
    assert len(rows) == 3
    stored = " ".join(str(v) for r in rows for v in r)
    for key in service.keys.values():
        secret = key.split("_", 2)[2]
        assert secret not in stored
        assert hashlib.sha256(secret.encode()).hexdigest() not in stored  # keyed, not plain
    admin = service.keys["admin"]
    wrong = admin[:-1] + ("A" if admin[-1] != "A" else "B")
    for bad in (wrong, admin + "x", "cgk_", "cgk_0123456789abcdef_" + "A" * 43):
        r = service.client.get("/api/v1/keys", headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401


@pytest.mark.postgres
def test_keys_via_the_api(service: Any) -> None:
    c, admin = service.client, service.auth("admin")
    r = c.post("/api/v1/keys", json={"role": "officer", "label": "audit team"}, headers=admin)
    assert r.status_code == 201
    created = r.json()
    assert created["key"].startswith("cgk_" + created["key_id"] + "_")
    listed = c.get("/api/v1/keys", headers=admin).json()["items"]
    assert {k["key_id"] for k in listed} >= {created["key_id"]}
    assert all("key" not in k for k in listed) and created["key"] not in json.dumps(listed)
    officer = {"Authorization": f"Bearer {created['key']}"}
    assert c.get("/api/v1/whoami", headers=officer).json() == {"role": "officer", "member_id": None}
    assert c.post("/api/v1/keys", json={"role": "member"}, headers=admin).status_code == 422
    assert c.delete("/api/v1/keys/0123456789abcdef", headers=admin).status_code == 404
    assert c.delete("/api/v1/keys/not-hex", headers=admin).status_code == 422


def test_keys_cli(cli: Any, world: Path) -> None:
    res = cli("keys", "create", "--role", "pipeline", "--label", "nightly build", "--json")
    assert res.exit_code == 0, res.stderr
    created = res.json()
    assert created["role"] == "pipeline" and created["key"].startswith("cgk_")
    listed = cli("keys", "list", "--json").json()
    assert [k["key_id"] for k in listed] == [created["key_id"]]
    assert created["key"] not in cli("keys", "list", "--json").stdout
    res = cli("keys", "revoke", created["key_id"], "--json")
    assert res.exit_code == 0 and res.json()["revoked_at"]
    assert cli("keys", "revoke", "0123456789abcdef").exit_code == 1
    assert cli("keys", "create", "--role", "member").exit_code == 2
    text = cli("keys", "create", "--role", "admin")
    assert text.exit_code == 0 and "not shown again" in text.stdout


def test_client_without_any_credentials(service: Any) -> None:
    r = service.client.get(SETTINGS, headers={"Authorization": "Basic abc"})
    assert r.status_code == 401
    assert isinstance(service.client, TestClient)
