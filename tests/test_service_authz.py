"""The authorization matrix: every /api/v1 route × every role × own or other member.

The expected statuses are written out here, cell by cell, independently of
``consentgate.service.authz.RULES``; a test also checks that every route of the app is in
this table, so a new route cannot go untested.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from consentgate import access

OWN, OTHER, NOBODY = "e1", "e2", "zz-no-such-member"
POLICY_V2 = (Path(__file__).resolve().parent.parent / "examples" / "policy-v2.yaml").read_text()
ROLES = ["anonymous", "member", "pipeline", "officer", "admin"]

# route name -> (method, path with {m} for the member, json body or None)
CALLS: dict[str, tuple[str, str, Any]] = {
    "member_settings": ("GET", "/api/v1/members/{m}/settings", None),
    "member_status": ("GET", "/api/v1/members/{m}/status?setting=ai_training_posts", None),
    "member_history": ("GET", "/api/v1/members/{m}/history", None),
    "record_consent": (
        "POST",
        "/api/v1/members/{m}/consent",
        {"type": "withdraw", "setting": "ai_training_posts"},
    ),
    "member_receipt": ("POST", "/api/v1/members/{m}/receipts", {}),
    "list_policies": ("GET", "/api/v1/policies", None),
    "diff_policies": ("GET", "/api/v1/policies/diff?from=v1&to=v2", None),
    "list_datasets": ("GET", "/api/v1/datasets", None),
    "list_keys": ("GET", "/api/v1/keys", None),
    "create_key": ("POST", "/api/v1/keys", {"role": "pipeline", "label": "matrix"}),
    "revoke_key": ("DELETE", "/api/v1/keys/{key}", None),
    "whoami": ("GET", "/api/v1/whoami", None),
    "publish_policy": ("POST", "/api/v1/policies", {"text": POLICY_V2}),
    "start_build": (
        "POST",
        "/api/v1/builds",
        {
            "source": "records.jsonl",
            "out": "x",
            "use": "train_ai_system",
            "recipient": "first_party",
        },
    ),
    "list_builds": ("GET", "/api/v1/builds", None),
    "get_build": ("GET", "/api/v1/builds/b-00000000000000000000", None),
    "dataset_members": ("GET", "/api/v1/datasets/{d}/members", None),
    "dataset_disclosures": ("GET", "/api/v1/datasets/{d}/disclosures", None),
    "list_disclosures": ("GET", "/api/v1/disclosures", None),
    "list_recipients": ("GET", "/api/v1/recipients", None),
    "member_impact": ("GET", "/api/v1/members/{m}/impact", None),
    "list_orders": ("GET", "/api/v1/remediation/orders", None),
    "list_notices": ("GET", "/api/v1/remediation/notices", None),
    "verify_audit": ("GET", "/api/v1/audit/verify", None),
    "latest_checkpoint": ("GET", "/api/v1/audit/checkpoints/latest", None),
    "create_checkpoint": ("POST", "/api/v1/audit/checkpoints", None),
    "report_dataset_members": ("GET", "/api/v1/reports/dataset-members?dataset={d}", None),
    "report_disclosures": ("GET", "/api/v1/reports/disclosures", None),
    "report_consent_events": ("GET", "/api/v1/reports/consent-events", None),
    "report_exposure": ("GET", "/api/v1/reports/exposure", None),
    # last: it erases e1 and e2
    "erase_member": ("POST", "/api/v1/members/{m}/erasure", {"confirm": "{m}"}),
}

# Routes that do not name a member answer the same for "own" and "other".
# (route, role) -> (status about the caller's own member, status about another member)
M = {"own": OWN, "other": OTHER}
EXPECTED: dict[str, dict[str, tuple[int, int]]] = {
    "member_settings": {"member": (200, 404), "pipeline": (403, 403), "officer": (200, 200), "admin": (403, 403)},
    "member_status": {"member": (200, 404), "pipeline": (403, 403), "officer": (200, 200), "admin": (403, 403)},
    "member_history": {"member": (200, 404), "pipeline": (403, 403), "officer": (200, 200), "admin": (403, 403)},
    "record_consent": {"member": (201, 404), "pipeline": (403, 403), "officer": (403, 403), "admin": (403, 403)},
    "member_receipt": {"member": (200, 404), "pipeline": (403, 403), "officer": (200, 200), "admin": (403, 403)},
    "list_policies": {"member": (200, 200), "pipeline": (200, 200), "officer": (200, 200), "admin": (200, 200)},
    "diff_policies": {"member": (200, 200), "pipeline": (200, 200), "officer": (200, 200), "admin": (200, 200)},
    "list_datasets": {"member": (403, 403), "pipeline": (200, 200), "officer": (200, 200), "admin": (403, 403)},
    "list_keys": {"member": (403, 403), "pipeline": (403, 403), "officer": (403, 403), "admin": (200, 200)},
    "create_key": {"member": (403, 403), "pipeline": (403, 403), "officer": (403, 403), "admin": (201, 201)},
    "revoke_key": {"member": (403, 403), "pipeline": (403, 403), "officer": (403, 403), "admin": (200, 200)},
    "whoami": {"member": (200, 200), "pipeline": (200, 200), "officer": (200, 200), "admin": (200, 200)},
    # publishing v2 again is a no-op (200)
    "publish_policy": {"member": (403, 403), "pipeline": (403, 403), "officer": (403, 403), "admin": (200, 200)},
    # this service has no service_build_root: allowed, then refused as not configured (409)
    "start_build": {"member": (403, 403), "pipeline": (409, 409), "officer": (403, 403), "admin": (403, 403)},
    "list_builds": {"member": (403, 403), "pipeline": (200, 200), "officer": (200, 200), "admin": (403, 403)},
    "get_build": {"member": (403, 403), "pipeline": (404, 404), "officer": (404, 404), "admin": (403, 403)},
    "dataset_members": {"member": (403, 403), "pipeline": (403, 403), "officer": (200, 200), "admin": (403, 403)},
    "dataset_disclosures": {"member": (403, 403), "pipeline": (403, 403), "officer": (200, 200), "admin": (403, 403)},
    "list_disclosures": {"member": (403, 403), "pipeline": (403, 403), "officer": (200, 200), "admin": (403, 403)},
    "list_recipients": {"member": (403, 403), "pipeline": (403, 403), "officer": (200, 200), "admin": (403, 403)},
    "member_impact": {"member": (200, 404), "pipeline": (403, 403), "officer": (200, 200), "admin": (403, 403)},
    "list_orders": {"member": (403, 403), "pipeline": (403, 403), "officer": (200, 200), "admin": (403, 403)},
    "list_notices": {"member": (403, 403), "pipeline": (403, 403), "officer": (200, 200), "admin": (403, 403)},
    "verify_audit": {"member": (403, 403), "pipeline": (403, 403), "officer": (200, 200), "admin": (200, 200)},
    "latest_checkpoint": {"member": (200, 200), "pipeline": (200, 200), "officer": (200, 200), "admin": (200, 200)},
    # receipts (member_receipt, above) signed the log's head already: not grown, 200
    "create_checkpoint": {"member": (403, 403), "pipeline": (403, 403), "officer": (200, 200), "admin": (200, 200)},
    "report_dataset_members": {"member": (403, 403), "pipeline": (403, 403), "officer": (200, 200), "admin": (403, 403)},
    "report_disclosures": {"member": (403, 403), "pipeline": (403, 403), "officer": (200, 200), "admin": (403, 403)},
    "report_consent_events": {"member": (403, 403), "pipeline": (403, 403), "officer": (200, 200), "admin": (403, 403)},
    "report_exposure": {"member": (403, 403), "pipeline": (403, 403), "officer": (200, 200), "admin": (403, 403)},
    # the officer erases e1 and e2; the administrator, allowed too, finds them erased (409)
    "erase_member": {"member": (403, 403), "pipeline": (403, 403), "officer": (201, 201), "admin": (409, 409)},
}  # fmt: skip


def _call(
    service: Any, route: str, role: str, target: str, throwaway: str, dataset: str = "0" * 64
) -> Any:
    method, path, body = CALLS[route]
    url = path.format(m=target, key=throwaway, d=dataset)
    if isinstance(body, dict):
        body = {k: v.format(m=target) if k == "confirm" else v for k, v in body.items()}
    # a member is always themselves (OWN); "target" is whom the request is about
    headers = service.auth(role, OWN)
    return service.client.request(method, url, json=body, headers=headers)


def test_every_route_is_in_the_matrix(service: Any) -> None:
    paths = service.client.get("/openapi.json").json()["paths"]
    named = {
        op["operationId"]
        for path, ops in paths.items()
        if path.startswith("/api/v1")
        for op in ops.values()
    }
    sessions = {"open_session", "close_session"}  # authenticate by themselves (test_service_auth)
    assert named - sessions == set(CALLS) == set(EXPECTED)


@pytest.mark.postgres
def test_matrix(service: Any, cli: Any, world: Path, tmp_path: Path) -> None:
    from conftest import build_args

    engine = service.client.app.state.service.engine
    throwaway = access.create_key(engine, role="pipeline").key.key_id
    built = cli(*build_args(world, tmp_path / "ds", "--no-ner", "--json"))
    assert built.exit_code == 0, built.stderr
    dataset = built.json()["dataset_id"]
    seen: dict[tuple[str, str, str], int] = {}
    for route in CALLS:
        if route == "create_checkpoint":
            # earlier cells wrote to the log (keys created and revoked): cover it first, so
            # every cell of this route is the same "nothing new to sign" 200
            from consentgate import workspace

            workspace.create_checkpoint(engine, service.settings.signing_key_path)
        for role in ROLES:
            for reach, target in M.items():
                r = _call(service, route, role, target, throwaway, dataset)
                seen[(route, role, reach)] = r.status_code
                if role == "anonymous":
                    want = 401
                else:
                    want = EXPECTED[route][role][0 if reach == "own" else 1]
                assert r.status_code == want, (route, role, reach, r.text)
                if role == "member":
                    # no response to a member ever carries another member's id
                    assert f'"{OTHER}"' not in r.text, (route, reach)
    assert len(seen) == len(CALLS) * len(ROLES) * 2


@pytest.mark.postgres
@pytest.mark.parametrize(
    "route", [r for r in CALLS if "{m}" in CALLS[r][1] and EXPECTED[r]["member"][0] != 403]
)
def test_other_members_are_indistinguishable_from_unknown_ids(service: Any, route: str) -> None:
    """A member asking about another member, an unknown id or a malformed one gets the
    same 404 and the same body: nothing tells which ids exist."""
    answers = []
    for target in (OTHER, NOBODY, "u1", "x" * 300):
        r = _call(service, route, "member", target, "")
        answers.append((r.status_code, r.content))
    assert {a[0] for a in answers} == {404}
    assert len({a[1] for a in answers}) == 1
    assert json.loads(answers[0][1]) == {
        "ok": False,
        "type": "NotFound",
        "error": "member not found",
    }


@pytest.mark.postgres
def test_officer_gets_the_same_404_for_an_unknown_member_without_its_id(service: Any) -> None:
    r = service.client.get(f"/api/v1/members/{NOBODY}/settings", headers=service.auth("officer"))
    assert r.status_code == 404
    assert NOBODY not in r.text


@pytest.mark.postgres
def test_revoked_key_is_refused(service: Any) -> None:
    engine = service.client.app.state.service.engine
    created = access.create_key(engine, role="officer")
    h = {"Authorization": f"Bearer {created.secret}"}
    assert service.client.get("/api/v1/policies", headers=h).status_code == 200
    r = service.client.delete(f"/api/v1/keys/{created.key.key_id}", headers=service.auth("admin"))
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert service.client.get("/api/v1/policies", headers=h).status_code == 401


# --------------------------------------------------------------------------- pages

# The pages (service.pages) authenticate with the browser session cookie only: a member's
# session, or an officer's (issued by the --demo login). API keys and member tokens open no
# page. Member pages name no member in their paths: "other" asks for another member's
# event (its receipt), which must answer exactly as an unknown event does.
PAGE_ROLES = [
    "anonymous",
    "member",
    "officer-session",
    "member-token",
    "pipeline",
    "officer",
    "admin",
]
PAGE_CALLS: dict[str, tuple[str, str, dict[str, str] | None]] = {
    "page_privacy_center": ("GET", "/me", None),
    "page_record_choice": (
        "POST",
        "/me/choices",
        {"setting": "personalize_feed", "choice": "deny", "csrf_token": "{csrf}"},
    ),
    "page_receipt": ("GET", "/me/receipt?event_id={event}", None),
    "page_receipt_download": ("GET", "/me/receipt/download?event_id={event}", None),
    "page_history": ("GET", "/me/history", None),
    "page_data": ("GET", "/me/data", None),
    # no dataset in this world: a member gets the "dataset not found" any unknown id gets
    "page_dataset_proof": ("GET", "/me/data/proof?dataset_id=no-such-dataset", None),
    "page_dataset_proof_download": (
        "GET",
        "/me/data/proof/download?dataset_id=no-such-dataset",
        None,
    ),
    "page_download": ("GET", "/me/download", None),
    "page_report": ("GET", "/me/download/report.json", None),
    "page_verify": ("GET", "/me/verify", None),
    "page_log_key": ("GET", "/me/verify/log-public-key.txt", None),
    # the officer console (service/pages/console.py)
    "page_console": ("GET", "/console", None),
    "page_console_policies": ("GET", "/console/policies", None),
    "page_console_consent": ("GET", "/console/consent", None),
    "page_console_builds": ("GET", "/console/builds", None),
    "page_console_recipients": ("GET", "/console/recipients", None),
    "page_console_remediation": ("GET", "/console/remediation", None),
    "page_console_audit": ("GET", "/console/audit", None),
}
# Routes any browser may open (they show nothing about anyone): not in the matrix.
PUBLIC_PAGES = {
    "stylesheet",
    "page_home",
    "page_logout",
    "page_demo_login",
    "page_demo_login_submit",
    "page_officer_sign_in",
    "page_officer_sign_in_submit",
}
MEMBER_PAGE = {"member": (200, 404), "officer-session": (403, 403)}
CONSOLE_PAGE = {"member": (403, 403), "officer-session": (200, 200)}
PAGE_EXPECTED: dict[str, dict[str, tuple[int, int]]] = {
    "page_privacy_center": {"member": (200, 200), "officer-session": (403, 403)},
    "page_record_choice": {"member": (303, 303), "officer-session": (403, 403)},
    "page_receipt": MEMBER_PAGE,
    "page_receipt_download": MEMBER_PAGE,
    "page_history": {"member": (200, 200), "officer-session": (403, 403)},
    "page_data": {"member": (200, 200), "officer-session": (403, 403)},
    "page_dataset_proof": {"member": (404, 404), "officer-session": (403, 403)},
    "page_dataset_proof_download": {"member": (404, 404), "officer-session": (403, 403)},
    "page_download": {"member": (200, 200), "officer-session": (403, 403)},
    "page_report": {"member": (200, 200), "officer-session": (403, 403)},
    "page_verify": {"member": (200, 200), "officer-session": (403, 403)},
    "page_log_key": {"member": (200, 200), "officer-session": (403, 403)},
    **dict.fromkeys(
        (
            "page_console",
            "page_console_policies",
            "page_console_consent",
            "page_console_builds",
            "page_console_recipients",
            "page_console_remediation",
            "page_console_audit",
        ),
        CONSOLE_PAGE,
    ),
}


def test_every_page_is_in_the_matrix_and_the_rules() -> None:
    from fastapi.routing import APIRoute

    from consentgate.service.authz import RULES
    from consentgate.service.errors import PAGE_TAG
    from consentgate.service.pages import page_routers

    routes = [r for pages in page_routers(demo=True) for r in pages.routes]
    assert all(isinstance(r, APIRoute) and PAGE_TAG in r.tags for r in routes)
    names = {r.name for r in routes if isinstance(r, APIRoute)}
    assert names >= PUBLIC_PAGES
    assert names - PUBLIC_PAGES == set(PAGE_CALLS) == set(PAGE_EXPECTED)
    assert set(PAGE_CALLS) <= set(RULES)


def _session_cookie(service: Any, role: str) -> str:
    from consentgate.service import tokens
    from consentgate.timestamps import utcnow

    ctx = service.client.app.state.service
    subject = OWN if role == "member" else "demo-officer"
    return tokens.issue_session(
        ctx.session_key, subject, now=utcnow(), lifetime=ctx.session_lifetime, role=role
    )


@pytest.mark.postgres
def test_page_matrix(service: Any) -> None:
    from consentgate import workspace
    from consentgate.service import tokens
    from consentgate.timestamps import utcnow

    engine = service.client.app.state.service.engine
    ctx = service.client.app.state.service
    events = {
        "own": workspace.member_history(engine, OWN)[0].event_id,
        "other": workspace.member_history(engine, OTHER)[0].event_id,
    }
    seen = 0
    for route, (method, path, form) in PAGE_CALLS.items():
        for role in PAGE_ROLES:
            for reach, event in events.items():
                client = service.client
                client.cookies.clear()
                headers: dict[str, str] = {}
                csrf = "none"
                if role in ("member", "officer-session"):
                    cookie = _session_cookie(service, role.removesuffix("-session"))
                    headers = {"cookie": f"cg_session={cookie}"}
                    csrf = tokens.csrf_token(
                        ctx.session_key, tokens.read_session(ctx.session_key, cookie, now=utcnow())
                    )
                elif role == "member-token":
                    headers = service.auth("member", OWN)
                elif role != "anonymous":
                    headers = service.auth(role)
                data = {k: v.format(csrf=csrf) for k, v in form.items()} if form else None
                r = client.request(
                    method,
                    path.format(event=event),
                    data=data,
                    headers=headers,
                    follow_redirects=False,
                )
                if role in PAGE_EXPECTED[route]:
                    want = PAGE_EXPECTED[route][role][0 if reach == "own" else 1]
                else:
                    want = 401  # no session: API keys and member tokens open no page
                assert r.status_code == want, (route, role, reach, r.text[:300])
                if role == "member":
                    assert f">{OTHER}<" not in r.text and f'"{OTHER}"' not in r.text, (route, reach)
                seen += 1
    client.cookies.clear()
    assert seen == len(PAGE_CALLS) * len(PAGE_ROLES) * 2
