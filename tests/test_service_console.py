"""The officer console's pages over a world with a third-party dataset: every page renders
for an officer session (and only for it), shows what the use cases say, and a member's
change shows up in the console."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from remediation_world import EU, World, make_world
from service_world import Service, settings_for, start

from consentgate.service import tokens
from consentgate.service.deps import SESSION_COOKIE
from consentgate.timestamps import utcnow
from consentgate.workspace import console

PAGES = [
    "/console",
    "/console/policies",
    "/console/consent",
    "/console/builds",
    "/console/recipients",
    "/console/remediation",
    "/console/audit",
]


@pytest.fixture
def world(cli: Any, examples: Path, tmp_path: Path) -> World:
    return make_world(cli, examples, tmp_path)


@pytest.fixture
def svc(world: World, db_url: str, tmp_path: Path) -> Iterator[Service]:
    yield from start(settings_for(db_url, tmp_path))


def officer_session(svc: Service) -> None:
    ctx = svc.client.app.state.service  # type: ignore[attr-defined]
    cookie = tokens.issue_session(
        ctx.session_key, "test-officer", now=utcnow(), lifetime=ctx.session_lifetime, role="officer"
    )
    svc.client.cookies.clear()
    svc.client.cookies.set(SESSION_COOKIE, cookie)


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_for_officer_sessions_only(svc: Service, path: str) -> None:
    svc.client.cookies.clear()
    assert svc.client.get(path).status_code == 401
    # an API key is not a browser session
    assert svc.client.get(path, headers=svc.auth("officer")).status_code == 401
    r = svc.client.post("/api/v1/session", headers=svc.auth("member", "e0"))
    assert r.status_code == 200
    assert svc.client.get(path).status_code == 403
    officer_session(svc)
    page = svc.client.get(path)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "<script" not in page.text
    assert "script-src" not in page.headers["content-security-policy"]  # none allowed
    assert 'aria-current="page"' in page.text  # the page is marked in the navigation


def test_recipients_page_shows_what_each_received(svc: Service, world: World) -> None:
    officer_session(svc)
    page = svc.client.get("/console/recipients").text
    members = svc.client.get("/api/v1/recipients", headers=svc.auth("officer")).json()["items"][0][
        "members"
    ]
    row = re.search(r'<th scope="row">acme-ai</th><td>(\d+)</td>', page)
    assert row is not None and int(row.group(1)) == members
    assert '<svg xmlns="http://www.w3.org/2000/svg" role="img"' in page
    assert "Stored Communications Act" in page or "none known" in page or "no statute" in page


def test_builds_page_shows_exclusions_by_reason(svc: Service, world: World) -> None:
    officer_session(svc)
    page = svc.client.get("/console/builds").text
    found = {b.dataset_id: b for b in console.build_exclusions(svc.client.app.state.service.engine)}  # type: ignore[attr-defined]
    assert set(found) == {world.posts, world.acme}
    for b in found.values():
        assert f"{b.included} included of {b.input}" in page
        for reason, n in b.excluded.items():
            assert f"<tr><td>{reason}</td><td>{n}</td></tr>" in page


def test_policies_page_shows_the_diff(svc: Service) -> None:
    officer_session(svc)
    page = svc.client.get("/console/policies").text
    assert "Changes from v1 to v2" in page
    diff = svc.client.get("/api/v1/policies/diff?from=v1&to=v2", headers=svc.auth("officer")).json()
    for c in diff["items"]:
        assert c["subject"] in page


def _eu_posts_cell(page: str) -> tuple[int, int]:
    section = page.split("(ai_training_posts)", 1)[1].split("</section>", 1)[0]
    row = re.search(r'<th scope="row">EU</th>(.*?)</tr>', section, re.S)
    assert row is not None
    last = re.findall(r"\((\d+)/(\d+)\)", row.group(1))[-1]
    return int(last[0]), int(last[1])


def test_the_officer_sees_a_members_withdrawal(svc: Service) -> None:
    officer_session(svc)
    on, of = _eu_posts_cell(svc.client.get("/console/consent").text)
    assert of == len(EU) and on == len(EU)  # every EU member granted posts
    svc.client.cookies.clear()
    r = svc.client.post(
        f"/api/v1/members/{EU[0]}/consent",
        json={"type": "withdraw", "setting": "ai_training_posts"},
        headers=svc.auth("member", EU[0]),
    )
    assert r.status_code == 201, r.text
    officer_session(svc)
    assert _eu_posts_cell(svc.client.get("/console/consent").text) == (len(EU) - 1, len(EU))
    # and remediation opened for the datasets holding their posts
    page = svc.client.get("/console/remediation").text
    assert (
        "Pending orders within their deadline" in page
        and "None." not in page.split("<h2>Open</h2>")[1].split("<h2>")[0]
    )


def test_audit_page(svc: Service) -> None:
    officer_session(svc)
    page = svc.client.get("/console/audit").text
    assert "The audit log verifies" in page
    latest = svc.client.get("/api/v1/audit/checkpoints/latest", headers=svc.auth("officer")).json()
    assert f"Checkpoint #{latest['number']}" in page


def test_an_officer_key_signs_in_to_the_console_and_no_other_key_does(
    svc: Service, db_url: str
) -> None:
    """Outside the demo, the officer trades an officer API key for a console session: on the
    sign-in page or at POST /api/v1/session. Other roles' keys, a revoked key, a member
    token or garbage get the same refusal and no cookie."""
    from consentgate import access

    svc.client.cookies.clear()
    form = svc.client.get("/console/sign-in")
    assert form.status_code == 200 and 'type="password"' in form.text
    secret = svc.keys["officer"]
    key_id = secret.split("_")[1]
    for bad in (svc.keys["pipeline"], svc.keys["admin"], "cgk_0000_nope", "not-a-key"):
        r = svc.client.post("/console/sign-in", data={"key": bad}, follow_redirects=False)
        assert r.status_code == 401 and "not a valid officer key" in r.text
        assert SESSION_COOKIE not in r.cookies
        assert svc.client.get("/console").status_code == 401
        assert bad not in r.text  # the key is never echoed
    r = svc.client.post("/console/sign-in", data={"key": secret}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console"
    assert secret not in r.headers["set-cookie"]  # the session holds the key's id, not the key
    assert svc.client.get("/console").status_code == 200
    assert svc.client.get("/me").status_code == 403  # an officer session is not a member's

    # the same through the API, for a sign-on proxy
    svc.client.cookies.clear()
    for bad in (svc.keys["pipeline"], "cgk_0000_nope"):
        r = svc.client.post("/api/v1/session", headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401 and SESSION_COOKIE not in r.cookies
    r = svc.client.post("/api/v1/session", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 200 and r.json()["csrf_token"]
    assert svc.client.get("/console/audit").status_code == 200

    # a revoked key signs in no more
    svc.client.cookies.clear()
    from consentgate.store.engine import make_engine

    engine = make_engine(db_url)
    try:
        access.revoke_key(engine, key_id)
    finally:
        engine.dispose()
    r = svc.client.post("/console/sign-in", data={"key": secret}, follow_redirects=False)
    assert r.status_code == 401
