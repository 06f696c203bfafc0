"""The HTTP service's routes, limits, errors and operations (in process)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from service_world import settings_for, start

from consentgate import workspace
from consentgate.service.observability import JsonFormatter
from consentgate.service.routes.ops import VERIFIER_FILE

E1 = "/api/v1/members/e1"


@pytest.mark.postgres
def test_member_reads_their_settings_status_and_history(service: Any) -> None:
    c, me = service.client, service.auth("member", "e1")
    settings = c.get(f"{E1}/settings", headers=me).json()
    states = {s["setting"]: (s["state"], s["default"]) for s in settings["settings"]}
    assert states["ai_training_posts"] == ("granted", False)
    assert settings["policy_version"] == "v2" and settings["jurisdiction"] == "EU"
    before = c.get(f"{E1}/status", params={"setting": "ai_training_posts"}, headers=me).json()
    assert before["state"] == "granted"
    # as it stood before the grant took effect (2024-09-20)
    r = c.get(
        f"{E1}/status",
        params={"setting": "ai_training_posts", "at": "2024-09-01T00:00:00Z"},
        headers=me,
    )
    assert r.json()["state"] != "granted"
    r = c.get(
        f"{E1}/status",
        params={"setting": "ai_training_posts", "known_at": "2020-01-01T00:00:00Z"},
        headers=me,
    )
    assert r.json()["state"] != "granted"  # not known yet in 2020
    history = c.get(f"{E1}/history", headers=me).json()
    assert history["total"] == 2 and [e["type"] for e in history["items"]] == ["grant", "grant"]


@pytest.mark.postgres
def test_withdraw_is_recorded_once_and_shows_everywhere(service: Any) -> None:
    c, me = service.client, service.auth("member", "e1")
    body = {"type": "withdraw", "setting": "ai_training_posts", "event_id": "ev-api-1"}
    first = c.post(f"{E1}/consent", json=body, headers=me)
    assert first.status_code == 201 and first.json()["created"] is True
    again = c.post(f"{E1}/consent", json=body, headers=me)
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["event"]["seq"] == first.json()["event"]["seq"]
    status = c.get(f"{E1}/status", params={"setting": "ai_training_posts"}, headers=me).json()
    assert status["state"] == "withdrawn" and status["event_id"] == "ev-api-1"
    assert c.get(f"{E1}/history", headers=me).json()["total"] == 3
    changed = dict(body, type="grant", policy_version="v2")
    r = c.post(f"{E1}/consent", json=changed, headers=me)
    # 409 without echoing the event id (errors name the field, never the value)
    assert r.status_code == 409 and "already recorded" in r.json()["error"]
    assert "ev-api-1" not in r.json()["error"]


@pytest.mark.postgres
def test_receipt_verifies_offline(service: Any, cli: Any, tmp_path: Path) -> None:
    c, me = service.client, service.auth("member", "e1")
    c.post(f"{E1}/consent", json={"type": "withdraw", "setting": "ai_training_posts"}, headers=me)
    r = c.post(f"{E1}/receipts", json={}, headers=me)
    assert r.status_code == 200, r.text
    out = tmp_path / "receipt.tlog-proof"
    out.write_text(r.json()["receipt"])
    public = tmp_path / "log.pub"
    public.write_text(cli("audit", "public-key").stdout)
    res = cli("verify-receipt", str(out), "--public-key", str(public), "--json")
    assert res.exit_code == 0 and res.json()["valid"], res.stdout
    text = r.json()["receipt"]
    at = text.index("\nextra ") + 20  # one character of the signed statement, changed
    out.write_text(text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :])
    assert cli("verify-receipt", str(out), "--public-key", str(public)).exit_code == 1
    r = c.post(f"{E1}/receipts", json={"event_id": "ev-nope"}, headers=me)
    assert r.status_code == 404


@pytest.mark.postgres
def test_bad_bodies_get_422_naming_the_field_not_the_value(service: Any) -> None:
    c, me = service.client, service.auth("member", "e1")
    cases = [
        ({"type": "erase", "setting": "ai_training_posts"}, "body.type"),
        ({"setting": "ai_training_posts"}, "body.type: Field required"),
        ({"type": "withdraw"}, "body.setting: Field required"),
        ({"type": "withdraw", "setting": "s", "secret_field": "PRIVATE"}, "body.secret_field"),
        ({"type": "withdraw", "setting": "x" * 300}, "body.setting"),
        ({"type": "grant", "setting": "ai_training_posts", "policy_version": "v2",
          "covers_from": "PRIVATE-not-a-time"}, "covers_from"),
    ]  # fmt: skip
    for body, where in cases:
        r = c.post(f"{E1}/consent", json=body, headers=me)
        assert r.status_code == 422, body
        problems = r.json()["problems"]
        assert any(where in p for p in problems), problems
        assert "PRIVATE" not in r.text
    r = c.post(
        f"{E1}/consent", content=b"{not json", headers={**me, "content-type": "application/json"}
    )
    assert r.status_code == 422
    r = c.get(
        f"{E1}/status", params={"setting": "ai_training_posts", "at": "yesterday"}, headers=me
    )
    assert r.status_code == 422 and r.json()["problems"][0].startswith("at:")
    r = c.get(f"{E1}/status", headers=me)
    assert r.status_code == 422 and r.json()["problems"] == ["query.setting: Field required"]
    r = c.get(f"{E1}/status", params={"setting": "no_such_setting"}, headers=me)
    assert r.status_code == 404 and r.json()["error"] == "setting not found"


@pytest.mark.postgres
def test_pagination(service: Any) -> None:
    c, officer = service.client, service.auth("officer")
    full = c.get("/api/v1/policies/diff", params={"from": "v1", "to": "v2"}, headers=officer)
    items = full.json()["items"]
    assert len(items) > 3
    got, offset = [], 0
    for _ in range(len(items) + 1):  # bounded walk over pages of two
        page = c.get(
            "/api/v1/policies/diff",
            params={"from": "v1", "to": "v2", "limit": 2, "offset": offset},
            headers=officer,
        ).json()
        got.extend(page["items"])
        assert page["total"] == len(items) and len(page["items"]) <= 2
        if page["next_offset"] is None:
            break
        offset = page["next_offset"]
    assert got == items
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "x"}):
        assert c.get("/api/v1/policies", params=bad, headers=officer).status_code == 422
    beyond = c.get("/api/v1/policies", params={"offset": 50}, headers=officer).json()
    assert beyond["items"] == [] and beyond["next_offset"] is None


def test_request_size_limit(world: Path, db_url: str, tmp_path: Path) -> None:
    for svc in start(settings_for(db_url, tmp_path, service_max_body_bytes=1024)):
        me = svc.auth("member", "e1")
        big = {"type": "withdraw", "setting": "ai_training_posts", "event_id": "e" * 2000}
        r = svc.client.post(f"{E1}/consent", json=big, headers=me)
        assert r.status_code == 413 and r.json()["type"] == "TooLarge"

        def chunks() -> Any:  # no Content-Length: counted as it streams
            yield b'{"type": "withdraw", "setting": "'
            for _ in range(10):
                yield b"x" * 200
            yield b'"}'

        r = svc.client.post(f"{E1}/consent", content=chunks(), headers=me)
        assert r.status_code == 413
        assert svc.client.get(f"{E1}/history", headers=me).json()["total"] == 2  # nothing stored


def test_write_rate_limit_per_caller(world: Path, db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url, tmp_path, service_write_rate=0.01, service_write_burst=3)
    for svc in start(settings):
        e1, e2 = svc.auth("member", "e1"), svc.auth("member", "e2")
        body = {"type": "withdraw", "setting": "ai_training_posts"}
        codes = [
            svc.client.post(f"{E1}/consent", json=body, headers=e1).status_code for _ in range(4)
        ]
        assert codes == [201, 201, 201, 429]
        r = svc.client.post(f"{E1}/consent", json=body, headers=e1)
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 100
        # reads are not limited, and another caller has their own bucket
        assert svc.client.get(f"{E1}/history", headers=e1).status_code == 200
        r = svc.client.post("/api/v1/members/e2/consent", json=body, headers=e2)
        assert r.status_code == 201


def test_write_limiter_refills_at_its_rate() -> None:
    from consentgate.service.limits import WriteLimiter

    now = [0.0]
    lim = WriteLimiter(rate=2.0, burst=2, clock=lambda: now[0])
    assert [lim.take("a"), lim.take("a"), lim.take("a")] == [0, 0, 1]
    now[0] = 0.5  # one token back
    assert lim.take("a") == 0 and lim.take("a") == 1
    assert lim.take("b") == 0


@pytest.mark.postgres
def test_unexpected_errors_reveal_nothing(service: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("SELECT * FROM members WHERE member_id = 'e1' -- secret")

    monkeypatch.setattr(workspace, "list_policies", boom)
    r = service.client.get("/api/v1/policies", headers=service.auth("officer"))
    assert r.status_code == 500
    assert r.json() == {"ok": False, "type": "InternalError", "error": "internal error"}
    assert "SELECT" not in r.text and "Traceback" not in r.text


@pytest.mark.postgres
def test_openapi_health_readiness_metrics(service: Any) -> None:
    c = service.client
    spec = c.get("/openapi.json").json()
    assert spec["info"]["title"] == "consentgate"
    assert "/api/v1/members/{member_id}/consent" in spec["paths"]
    assert c.get("/healthz").json() == {"status": "ok"}
    assert c.get("/readyz").json() == {"status": "ready"}
    c.get("/api/v1/policies", headers=service.auth("officer"))
    metrics = c.get("/metrics").text
    assert (
        'consentgate_http_requests_total{method="GET",route="list_policies",status="200"} 1.0'
        in metrics
    )
    assert "consentgate_http_request_duration_seconds_bucket" in metrics
    r = c.get("/api/v1/members/e1/settings", headers=service.auth("officer"))
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert c.get("/nowhere").json()["error"] == "no such route"


def test_readyz_is_unavailable_on_a_database_behind_the_migrations(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from consentgate.service import create_app

    settings = settings_for(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path)
    with TestClient(create_app(settings)) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json() == {"status": "unavailable"}


def test_verifier_page_is_served_as_shipped(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from consentgate.service import create_app

    settings = settings_for(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
    with TestClient(create_app(settings)) as c:
        r = c.get("/verify")
    assert r.status_code == 200 and r.content == VERIFIER_FILE.read_bytes()
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and csp in r.text  # the page's own policy, as a header


@pytest.mark.postgres
def test_logs_are_json_and_hold_no_member_ids(
    service: Any, caplog: pytest.LogCaptureFixture
) -> None:
    c, me = service.client, service.auth("member", "e1")
    with caplog.at_level(logging.INFO):
        c.get(f"{E1}/settings", headers=me)
        c.post(
            f"{E1}/consent", json={"type": "withdraw", "setting": "ai_training_posts"}, headers=me
        )
        c.get("/api/v1/members/e2/history", headers=me)
    # the server's records (the test client's own httpx log prints its URLs)
    server = [r for r in caplog.records if not r.name.startswith("httpx")]
    lines = [JsonFormatter().format(r) for r in server]
    access = [json.loads(x) for x in lines if '"logger":"consentgate.service.access"' in x]
    assert [(a["route"], a["status"], a["role"]) for a in access] == [
        ("member_settings", 200, "member"),
        ("record_consent", 201, "member"),
        ("member_history", 404, "member"),
    ]
    text = "\n".join(lines)
    assert '"e1"' not in text and "/e1/" not in text and "e2" not in text
