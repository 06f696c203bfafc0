"""The officer's sign-in outside the demo: an officer API key (``consentgate keys create
--role officer``) traded once for the same signed, HttpOnly, SameSite=Strict session cookie
the member pages use, so that the console opens in a browser.

The key is checked as every API call checks it (``access.authenticate_key``: hashed,
constant-time, revocable); only the key's id goes into the session, never the key. Any
refusal (unknown, revoked, malformed, or not an officer key) is the same page, so keys
cannot be probed. ``POST /api/v1/session`` accepts the same key as a bearer token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from consentgate.service.deps import ContextDep, officer_key_id, set_session
from consentgate.service.errors import PAGE_TAG
from consentgate.service.pages import HOME, render

router = APIRouter(tags=[PAGE_TAG], include_in_schema=False)
REFUSED = "That is not a valid officer key."


@router.get("/console/sign-in", name="page_officer_sign_in")
def sign_in_page(request: Request) -> Response:
    """The form: an officer API key."""
    return render(request, "officer_sign_in.html", title="Privacy officer sign-in", problem=None)


@router.post("/console/sign-in", name="page_officer_sign_in_submit")
async def sign_in(
    request: Request, ctx: ContextDep, key: Annotated[str, Form(max_length=200)]
) -> Response:
    """An officer session for a valid officer key, then the console; else the form again."""
    key_id = await officer_key_id(ctx, key)
    if key_id is None:
        return render(
            request,
            "officer_sign_in.html",
            title="Privacy officer sign-in",
            status=401,
            problem=REFUSED,
        )
    response = RedirectResponse(HOME["officer"], status_code=303)
    set_session(response, ctx, f"key:{key_id}", "officer")
    return response
