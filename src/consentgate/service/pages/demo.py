"""The ``serve --demo`` login: pick a demo member or the privacy officer and get a session.

Only mounted when the app is created with ``demo=True``; every page then carries the DEMO
banner. It authenticates nobody: it exists so that the privacy center and the officer
console can be tried in a browser on the demo workspace (``consentgate demo``). The login
form carries no CSRF token (there is no session yet to bind one to); the session it sets is
the same signed, HttpOnly, SameSite=Strict cookie as ``POST /api/v1/session``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from consentgate import ids, workspace
from consentgate.errors import NotFound
from consentgate.service.deps import ContextDep, ServiceContext, set_session
from consentgate.service.errors import PAGE_TAG
from consentgate.service.pages import HOME, render

router = APIRouter(tags=[PAGE_TAG], include_in_schema=False)
OFFERED = 8  # member ids offered on the login page
OFFICER_LABEL = "demo-officer"


@router.get("/login", name="page_demo_login")
def login_page(request: Request, ctx: ContextDep) -> Response:
    """The demo sign-in: a few demo members to choose from, any member id, or the officer."""
    return render(
        request,
        "demo_login.html",
        title="Sign in to the demo",
        members=workspace.first_member_ids(ctx.engine, limit=OFFERED),
        problem=None,
    )


@router.post("/login", name="page_demo_login_submit")
def login(
    request: Request,
    ctx: ContextDep,
    role: Annotated[Literal["member", "officer"], Form()],
    member_id: Annotated[str, Form(max_length=255)] = "",
) -> Response:
    """Issue a member session (for an existing member) or an officer session, then go home."""
    if role == "member":
        member_id = member_id.strip()
        try:
            if ids.member_id_problem(member_id) is not None:
                raise NotFound("member", "")
            workspace.member_history(ctx.engine, member_id)  # NotFound for an unknown member
        except NotFound:
            return render(
                request,
                "demo_login.html",
                title="Sign in to the demo",
                status=422,
                members=workspace.first_member_ids(ctx.engine, limit=OFFERED),
                problem="There is no member with that id in the demo workspace.",
            )
        return _signed_in(ctx, member_id, "member")
    return _signed_in(ctx, OFFICER_LABEL, "officer")


def _signed_in(ctx: ServiceContext, subject: str, role: str) -> Response:
    response = RedirectResponse(HOME[role], status_code=303)
    set_session(response, ctx, subject, role)
    return response
