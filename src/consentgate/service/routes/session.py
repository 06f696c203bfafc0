"""Sessions: a member trades their token for a session cookie (and its CSRF token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from consentgate import access
from consentgate.service import tokens
from consentgate.service.deps import (
    SESSION_COOKIE,
    ContextDep,
    Principal,
    authorize,
    officer_key_id,
    set_session,
)
from consentgate.service.errors import Refused
from consentgate.service.schemas import ClosedOut, SessionOut, WhoamiOut
from consentgate.timestamps import utcnow

router = APIRouter(tags=["session"])


@router.post("/session", name="open_session", response_model=SessionOut)
async def open_session(request: Request, response: Response, ctx: ContextDep) -> dict[str, Any]:
    """Exchange a member token (``Authorization: Bearer <JWT>``), or an officer's API key
    (an officer session, for the console), for a session cookie: Secure, HttpOnly,
    SameSite=Strict. Returns the CSRF token that requests changing
    something with the cookie must send in ``X-CSRF-Token``."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        raise Refused(401, "authentication required")
    token = token.strip()
    if token.startswith(access.PREFIX):  # an officer's key: an officer session (the console)
        key_id = await officer_key_id(ctx, token)
        if key_id is None:
            raise Refused(401, "authentication required")
        cookie = set_session(response, ctx, f"key:{key_id}", "officer")
    else:
        if ctx.token_rules is None:
            raise Refused(401, "authentication required")
        try:
            member = tokens.member_from_token(token, ctx.token_rules)
        except tokens.BadToken:
            raise Refused(401, "authentication required") from None
        cookie = set_session(response, ctx, member, "member")
    session = tokens.read_session(ctx.session_key, cookie, now=utcnow())
    return {"csrf_token": tokens.csrf_token(ctx.session_key, session), "expires": session.expires}


@router.delete("/session", name="close_session", response_model=ClosedOut)
def close_session(response: Response, ctx: ContextDep) -> dict[str, Any]:
    """Forget the session cookie (it stays valid until it expires if a copy was kept)."""
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=ctx.settings.service_cookie_secure,
        httponly=True,
        samesite="strict",
    )
    return {"ok": True}


@router.get("/whoami", name="whoami", response_model=WhoamiOut)
def whoami(who: Annotated[Principal, Depends(authorize("whoami"))]) -> dict[str, Any]:
    """The caller's role, and for a member their id."""
    return {"role": who.role, "member_id": who.caller.member_id}
