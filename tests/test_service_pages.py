"""The member privacy center pages and the ``serve --demo`` login, through the app
(TestClient): what each page shows, the CSRF-protected toggle and its signed receipt, the
policy notice, GPC, the downloads, and that a page only ever shows the session's member.
The browser (Playwright) half is tests/browser/test_privacy_center.py; who may open which
page is in the matrix of tests/test_service_authz.py."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from service_world import csrf_of, sign_in

from consentgate import workspace
from consentgate.consent import ConsentEvent, EventType, gpc_denials
from consentgate.policy import Change, parse_policy, settings_to_decide, shares_with_third_parties
from consentgate.service import tokens
from consentgate.timestamps import format_timestamp, utcnow
from consentgate.tlog.checkpoint import parse_verifier_key
from consentgate.tlog.statements import verify_receipt_proof

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _engine(svc: Any) -> Any:
    return svc.client.app.state.service.engine


def _history(svc: Any, member: str) -> list[ConsentEvent]:
    return workspace.member_history(_engine(svc), member)


# --------------------------------------------------------------------------- sessions


@pytest.mark.postgres
def test_pages_without_a_session_answer_401_as_a_page(service: Any) -> None:
    service.client.cookies.clear()
    for path in ("/", "/me", "/me/history"):
        r = service.client.get(path, follow_redirects=False)
        assert r.status_code == 401, path
        assert r.headers["content-type"].startswith("text/html")
        assert "please sign in" in r.text
    assert service.client.get("/login").status_code == 404  # only with --demo


@pytest.mark.postgres
def test_an_api_token_is_not_a_page_session(service: Any) -> None:
    """Pages take the session cookie only: a bearer token (member JWT or API key) is not
    enough, so a page never answers for a member without their browser session."""
    service.client.cookies.clear()
    for role in ("member", "officer"):
        r = service.client.get("/me", headers=service.auth(role, "e1"))
        assert r.status_code == 401, role


@pytest.mark.postgres
def test_demo_login_issues_member_and_officer_sessions(demo_service: Any) -> None:
    c = demo_service.client
    r = c.get("/me", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    page = c.get("/login")
    assert page.status_code == 200 and "DEMO" in page.text and "e1" in page.text
    r = c.post("/login", data={"role": "member", "member_id": "e1"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/me"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
    me = c.get("/me")
    assert me.status_code == 200 and "DEMO" in me.text
    assert c.get("/api/v1/whoami").json() == {"role": "member", "member_id": "e1"}

    c.cookies.clear()
    r = c.post("/login", data={"role": "officer"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console"
    assert c.get("/api/v1/whoami").json() == {"role": "officer", "member_id": None}
    # the officer session reads members through the API, as officer keys do ...
    assert c.get("/api/v1/members/e1/settings").status_code == 200
    # ... but cannot use the member pages, nor record consent for anyone
    assert c.get("/me").status_code == 403
    r = c.post("/api/v1/members/e1/consent", json={"type": "withdraw", "setting": "x"})
    assert r.status_code == 403


@pytest.mark.postgres
def test_demo_login_refuses_an_unknown_member_without_a_session(demo_service: Any) -> None:
    c = demo_service.client
    r = c.post(
        "/login", data={"role": "member", "member_id": "nobody-here"}, follow_redirects=False
    )
    assert r.status_code == 422
    assert "no member with that id" in r.text
    assert "cg_session" not in r.headers.get("set-cookie", "")


def test_session_roles_round_trip_and_unknown_roles_are_refused() -> None:
    key = b"k" * 32
    now = utcnow()
    cookie = tokens.issue_session(
        key, "demo-officer", now=now, lifetime=timedelta(minutes=5), role="officer"
    )
    assert tokens.read_session(key, cookie, now=now).role == "officer"
    member = tokens.issue_session(key, "e1", now=now, lifetime=timedelta(minutes=5))
    assert tokens.read_session(key, member, now=now).role == "member"
    with pytest.raises(ValueError, match="role"):
        tokens.issue_session(key, "x", now=now, lifetime=timedelta(minutes=5), role="admin")


# --------------------------------------------------------------------------- the settings page


@pytest.mark.postgres
def test_privacy_center_shows_each_setting_with_state_default_and_version(service: Any) -> None:
    sign_in(service, "e1")
    r = service.client.get("/me")
    assert r.status_code == 200
    html = r.text
    assert '<html lang="en">' in html and 'href="#main"' in html and '<main id="main"' in html
    assert "DEMO" not in html  # not under --demo
    assert "<script" not in html.lower()
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert "Policy in force: <strong>v2</strong>" in html
    # e1 (EU) granted posts and partner messages; the feed follows its default (on)
    assert "Use my posts to train AI models" in html
    assert 'id="state-ai_training_posts">You allowed this' in html
    assert 'id="state-personalize_feed">Allowed by default' in html
    assert "Turn off: Use my posts to train AI models" in html
    # nothing about the other members
    for other in ("e2", "u1", "u2"):
        assert f">{other}<" not in html and f" {other}<" not in html


@pytest.mark.postgres
def test_toggle_records_the_choice_and_shows_a_receipt_that_verifies(service: Any) -> None:
    sign_in(service, "e1")
    csrf = csrf_of(service.client.get("/me").text)
    before = len(_history(service, "e1"))
    r = service.client.post(
        "/me/choices",
        data={"csrf_token": csrf, "setting": "ai_training_posts", "choice": "withdraw"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    events = _history(service, "e1")
    assert len(events) == before + 1
    new = events[-1]
    assert (new.type, new.setting, new.source) == (EventType.WITHDRAW, "ai_training_posts", "web")
    assert r.headers["location"] == f"/me/receipt?event_id={new.event_id}&recorded=1"

    page = service.client.get(r.headers["location"])
    assert page.status_code == 200
    assert "Recorded: you withdrew consent for “Use my posts to train AI models”" in page.text
    assert new.event_id in page.text
    download = service.client.get(f"/me/receipt/download?event_id={new.event_id}")
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    key = service.client.get("/me/verify/log-public-key.txt")
    assert key.status_code == 200
    checked = verify_receipt_proof(
        download.content, log_keys=[parse_verifier_key(key.text.strip())]
    )
    assert checked.event["event_id"] == new.event_id
    assert (checked.event["type"], checked.event["setting"]) == ("withdraw", "ai_training_posts")
    # the settings page now shows the withdrawal, and history lists it with its source
    assert 'id="state-ai_training_posts">You withdrew' in service.client.get("/me").text
    hist = service.client.get("/me/history").text
    assert "withdrawn" in hist and "this privacy center" in hist


@pytest.mark.postgres
@pytest.mark.parametrize("token", [None, "", "wrong"])
def test_toggle_without_the_sessions_csrf_token_changes_nothing(
    service: Any, token: str | None
) -> None:
    sign_in(service, "e1")
    before = len(_history(service, "e1"))
    data = {"setting": "ai_training_posts", "choice": "withdraw"}
    if token is not None:
        data["csrf_token"] = token
    r = service.client.post("/me/choices", data=data, follow_redirects=False)
    assert r.status_code in (403, 422)
    assert r.headers["content-type"].startswith("text/html")
    assert len(_history(service, "e1")) == before


@pytest.mark.postgres
def test_a_bad_choice_is_a_clear_error_page_and_records_nothing(service: Any) -> None:
    csrf = sign_in(service, "e1")
    before = len(_history(service, "e1"))
    r = service.client.post(
        "/me/choices",
        data={"csrf_token": csrf, "setting": "no_such_setting", "choice": "withdraw"},
    )
    assert r.status_code == 422 and "setting" in r.text  # named, not echoed (may be content)
    r = service.client.post(
        "/me/choices", data={"csrf_token": csrf, "setting": "ai_training_posts", "choice": "erase"}
    )
    assert r.status_code == 422 and "choice" in r.text
    assert len(_history(service, "e1")) == before


@pytest.mark.postgres
def test_a_receipt_of_another_members_event_is_not_found(service: Any) -> None:
    theirs = _history(service, "e2")[0].event_id
    sign_in(service, "e1")
    for path in ("/me/receipt", "/me/receipt/download"):
        mine = service.client.get(f"{path}?event_id={theirs}")
        unknown = service.client.get(f"{path}?event_id=no-such-event")
        assert mine.status_code == unknown.status_code == 404
        assert mine.text == unknown.text
        assert "e2" not in mine.text


# --------------------------------------------------------------------------- policy notice


def _v3(effective_in: timedelta) -> str:
    now = utcnow()
    text = (EXAMPLES / "policy-v2.yaml").read_text()
    text = text.replace("version: v2", "version: v3")
    text = text.replace(
        "published_at: 2024-08-14T00:00:00Z",
        f"published_at: {format_timestamp(now - timedelta(minutes=1))}",
    )
    text = text.replace(
        "effective_from: 2024-09-18T00:00:00Z",
        f"effective_from: {format_timestamp(now + effective_in)}",
    )
    return text + (
        "  - id: ai_training_posts_partners\n"
        "    label: Share my public posts with partners to train AI models\n"
        "    use: train_ai_system\n"
        "    categories: [user.content.public]\n"
        "    recipients: [acme-ai]\n"
        '    defaults: {"*": "off"}\n'
    )


@pytest.mark.postgres
def test_a_new_policy_version_is_announced_with_its_changes_before_it_takes_effect(
    service: Any,
) -> None:
    workspace.publish_policy(
        _engine(service), _v3(timedelta(days=40)), name="v3.yaml", notice_days=30
    )
    csrf = sign_in(service, "e1")
    html = service.client.get("/me").text
    assert "A new privacy policy (v3) takes effect on" in html
    assert "A new setting: “Share my public posts with partners to train AI models”." in html
    assert "(important change)" in html
    assert "You already chose" not in html
    # the member decides now, citing v3, before it takes effect
    r = service.client.post(
        "/me/choices",
        data={
            "csrf_token": csrf,
            "setting": "ai_training_posts_partners",
            "choice": "deny",
            "policy_version": "v3",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    last = _history(service, "e1")[-1]
    assert (last.type, last.setting, last.policy_version) == (
        EventType.DENY,
        "ai_training_posts_partners",
        "v3",
    )
    assert "You already chose: refused under v3" in service.client.get("/me").text


def test_settings_to_decide_are_those_a_material_change_concerns() -> None:
    v2 = parse_policy((EXAMPLES / "policy-v2.yaml").read_text())
    new = parse_policy(_v3(timedelta(days=40)))
    changes = [
        Change("setting_added", "ai_training_posts_partners", "new setting", True),
        Change("label_changed", "personalize_feed", "a -> b", False),
        Change("contract_extended", "acme-ai", "later", True),
    ]
    # the added setting, and every setting naming the recipient whose terms widened
    assert settings_to_decide(changes, new) == (
        "ai_training_messages_partners",
        "ai_training_posts_partners",
    )
    assert settings_to_decide([changes[1]], new) == ()
    assert [s.id for s in v2.settings if shares_with_third_parties(s)] == [
        "ai_training_messages_partners"
    ]


# --------------------------------------------------------------------------- GPC


@pytest.mark.postgres
def test_gpc_records_a_deny_of_third_party_sharing_once_and_shows_it(service: Any) -> None:
    sign_in(service, "e2")  # e2 granted partner messages (acme-ai, a third party)
    before = len(_history(service, "e2"))
    r = service.client.get("/me", headers={"Sec-GPC": "1"})
    assert r.status_code == 200
    assert "Global Privacy Control is on in your browser" in r.text
    assert "we just recorded that for: Share my private messages with partners" in r.text
    events = _history(service, "e2")
    assert len(events) == before + 1
    gpc = events[-1]
    assert (gpc.type, gpc.setting, gpc.source) == (
        EventType.DENY,
        "ai_training_messages_partners",
        "gpc",
    )
    assert 'id="state-ai_training_messages_partners">You refused this' in r.text
    assert "Refused by your browser's Global Privacy Control" in r.text
    # idempotent: the signal again records nothing
    again = service.client.get("/me", headers={"Sec-GPC": "1"})
    assert "we just recorded" not in again.text
    assert len(_history(service, "e2")) == before + 1
    # first-party settings are untouched
    status = workspace.consent_status(_engine(service), "e2", "personalize_feed")
    assert status.state != "denied"
    # without the header, nothing is said about GPC (but the history shows its source)
    assert "Global Privacy Control is on" not in service.client.get("/me").text
    assert "Global Privacy Control signal" in service.client.get("/me/history").text


@pytest.mark.postgres
def test_a_grant_after_gpc_stands(service: Any) -> None:
    csrf = sign_in(service, "e2")
    service.client.get("/me", headers={"Sec-GPC": "1"})
    r = service.client.post(
        "/me/choices",
        data={
            "csrf_token": csrf,
            "setting": "ai_training_messages_partners",
            "choice": "grant",
            "policy_version": "v2",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    n = len(_history(service, "e2"))
    service.client.get("/me", headers={"Sec-GPC": "1"})
    assert len(_history(service, "e2")) == n
    assert (
        workspace.consent_status(_engine(service), "e2", "ai_training_messages_partners").state
        == "granted"
    )
    page = service.client.get("/me").text
    assert 'id="state-ai_training_messages_partners">You allowed this' in page
    assert "Refused by your browser" not in page  # the member's own grant is what shows


def _event(setting: str, source: str, kind: EventType = EventType.DENY) -> ConsentEvent:
    now = utcnow()
    return ConsentEvent(
        event_id="x", member_id="m", type=kind, setting=setting, policy_version="v2",
        effective_at=now, recorded_at=now, source=source,
    )  # fmt: skip


def test_gpc_denials_skip_refused_and_already_signalled_settings() -> None:
    sharing = ["a", "b", "c", "d"]
    states = {"a": "granted", "b": "withdrawn", "c": "default_off", "d": "default_on"}
    assert gpc_denials(sharing, [], states) == ("a", "c", "d")
    assert gpc_denials(sharing, [_event("c", "gpc")], states) == ("a", "d")
    assert gpc_denials(sharing, [_event("a", "web")], states) == ("a", "c", "d")


# --------------------------------------------------------------------------- where it went, downloads


@pytest.mark.postgres
def test_downloads_hold_the_members_report_and_nothing_about_others(service: Any) -> None:
    sign_in(service, "e1")
    page = service.client.get("/me/download")
    assert page.status_code == 200 and "/me/download/report.json" in page.text
    r = service.client.get("/me/download/report.json")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    doc = r.json()
    assert doc["member_id"] == "e1"
    assert {c["setting"] for c in doc["consents"]} >= {"ai_training_posts"}
    assert '"e2"' not in r.text and '"u1"' not in r.text
    html = service.client.get("/me/download/report.html")
    assert html.status_code == 200 and "<html" in html.text and "e1" in html.text
    assert service.client.get("/me/download/report.xml").status_code == 422


@pytest.mark.postgres
def test_where_my_data_went_lists_datasets_recipients_models_and_remediation(service: Any) -> None:
    sign_in(service, "e1")
    r = service.client.get("/me/data")
    assert r.status_code == 200
    for heading in (
        "Datasets",
        "Companies that received your data",
        "AI models trained on it",
        "Remediation",
    ):
        assert heading in r.text
    report = workspace.dsar(_engine(service), "e1")
    for d in report.datasets:
        assert d.dataset_id in r.text


@pytest.mark.postgres
def test_verify_page_offers_the_offline_verifier_and_the_log_key(service: Any) -> None:
    sign_in(service, "e1")
    r = service.client.get("/me/verify")
    assert r.status_code == 200
    assert 'href="/verify" download="consentgate-verifier.html"' in r.text
    key = workspace.log_public_key(_engine(service), service.settings.signing_key_path)
    assert key in r.text
    first = _history(service, "e1")[0].event_id
    assert f"/me/receipt/download?event_id={first}" in r.text
    assert json.loads(json.dumps(key))  # one line of text


@pytest.mark.postgres
def test_logout_needs_the_csrf_token_and_clears_the_session(service: Any) -> None:
    csrf = sign_in(service, "e1")
    assert service.client.post("/logout", data={"csrf_token": "nope"}).status_code == 403
    assert service.client.get("/me").status_code == 200
    r = service.client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert service.client.get("/me").status_code == 401


@pytest.mark.postgres
def test_dataset_proofs_say_in_or_not_in_and_verify_offline(
    service: Any, world: Path, cli: Any, tmp_path: Path
) -> None:
    from conftest import build_args

    from consentgate.tlog.statements import verify_membership_proof

    built = cli(*build_args(world, tmp_path / "ds", "--json"))
    assert built.exit_code == 0, built.stderr
    dataset_id = built.json()["dataset_id"]
    held = set(workspace.dataset_member_ids(_engine(service), dataset_id))
    assert "e1" in held and "u2" not in held  # e1 granted posts; u2 denied
    key = parse_verifier_key(
        workspace.log_public_key(_engine(service), service.settings.signing_key_path)
    )
    for member, present in (("e1", True), ("u2", False)):
        sign_in(service, member)
        if present:
            assert f"/me/data/proof?dataset_id={dataset_id}" in service.client.get("/me/data").text
        page = service.client.get(f"/me/data/proof?dataset_id={dataset_id}")
        assert page.status_code == 200
        assert ("is IN" if present else "is NOT IN") in page.text
        secret = page.text.split('Your member secret</dt><dd><code class="key">')[1].split("<")[0]
        proof = service.client.get(f"/me/data/proof/download?dataset_id={dataset_id}")
        assert proof.status_code == 200 and "attachment" in proof.headers["content-disposition"]
        checked = verify_membership_proof(
            proof.content, log_keys=[key], secret=bytes.fromhex(secret), member_id=member
        )
        assert (checked.dataset_id, checked.present) == (dataset_id, present)


@pytest.mark.postgres
def test_history_is_paged_newest_first(service: Any) -> None:
    from consentgate.service.pages.member import HISTORY_PAGE

    engine = _engine(service)
    for i in range(HISTORY_PAGE + 3):
        workspace.record_event(
            engine,
            {
                "member_id": "u1",
                "type": "deny" if i % 2 else "withdraw",
                "setting": "personalize_feed",
                "effective_at": format_timestamp(utcnow()),
                "source": "api",
                "event_id": f"ev-page-{i:03d}",
            },
        )
    total = len(_history(service, "u1"))
    sign_in(service, "u1")
    first = service.client.get("/me/history").text
    assert f"1 to {HISTORY_PAGE} of {total}, newest first" in first
    assert first.index("ev-page-052") < first.index("ev-page-051")  # newest first
    assert f'href="/me/history?offset={HISTORY_PAGE}">Older' in first and "Newer" not in first
    second = service.client.get(f"/me/history?offset={HISTORY_PAGE}").text
    assert f"{HISTORY_PAGE + 1} to {total} of {total}" in second
    assert 'href="/me/history?offset=0">Newer' in second and "Older" not in second
    assert "ev-page-000" in second and "ev-page-000" not in first
