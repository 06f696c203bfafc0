"""What each request needs: the service's context, the authenticated caller, the route's
authorization (``authorize(name)``), the write rate limit and pagination.

A caller authenticates with ``Authorization: Bearer <token>``: an API key (``cgk_...``)
gives the key's role; any other bearer token must be a valid member token (JWT). Without
a header, a valid session cookie (``cg_session``) speaks for its member; a request that
changes something with only the cookie must also carry the session's CSRF token in the
``X-CSRF-Token`` header.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
from fastapi import Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from consentgate import access, ids
from consentgate.config import Settings
from consentgate.errors import InvalidInput, NotFound
from consentgate.paging import Page
from consentgate.service import tokens
from consentgate.service.authz import Caller, Outcome, decide
from consentgate.service.errors import Refused
from consentgate.service.limits import WriteLimiter
from consentgate.timestamps import parse_timestamp, utcnow
from consentgate.workspace.consent_writer import ConsentWriter

SESSION_COOKIE = "cg_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
T = TypeVar("T")


@dataclass(frozen=True)
class ServiceContext:
    settings: Settings
    engine: sa.Engine
    token_rules: tokens.TokenRules | None
    session_key: bytes
    limiter: WriteLimiter
    writer: ConsentWriter  # consent events, group-committed (workspace.consent_writer)
    metrics_token: bytes | None = None  # GET /metrics needs it as a bearer token when set
    demo: bool = False  # ``serve --demo``: the demo login page, and "DEMO" on every page

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(minutes=self.settings.service_session_minutes)


# The dependencies below are ``async def`` although they do no I/O (or, for an API key,
# hand the one lookup to a worker thread): FastAPI runs every plain ``def`` dependency in
# the thread pool, one hop per dependency and per request, which under load cost more than
# the route's own work. The routes stay ``def`` (they call the blocking use cases).


async def context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.service
    return ctx


ContextDep = Annotated[ServiceContext, Depends(context)]


@dataclass(frozen=True, slots=True)
class Principal:
    caller: Caller
    identity: str  # "key:<key_id>" or "member:<id>": the rate-limit bucket (never logged)
    via_cookie: bool = False

    @property
    def role(self) -> str:
        return self.caller.role


UNAUTHENTICATED = "authentication required"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(401, UNAUTHENTICATED)
    return token.strip()


async def principal(request: Request, ctx: ContextDep) -> Principal:
    token = _bearer(request)
    if token is not None:
        if token.startswith(access.PREFIX):
            key = await run_in_threadpool(access.authenticate_key, ctx.engine, token)
            if key is None:
                raise Refused(401, UNAUTHENTICATED)
            found = Principal(Caller(key.role), f"key:{key.key_id}")
        else:
            found = _member_token(ctx, token)
    else:
        found = _session(request, ctx)
    request.state.role = found.role
    return found


def _member_token(ctx: ServiceContext, token: str) -> Principal:
    if ctx.token_rules is None:
        raise Refused(401, UNAUTHENTICATED)
    try:
        member = tokens.member_from_token(token, ctx.token_rules)
    except tokens.BadToken:
        raise Refused(401, UNAUTHENTICATED) from None
    return Principal(Caller("member", member), f"member:{member}")


def _session(request: Request, ctx: ServiceContext) -> Principal:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:
        raise Refused(401, UNAUTHENTICATED)
    try:
        session = tokens.read_session(ctx.session_key, cookie, now=utcnow())
    except tokens.BadToken:
        raise Refused(401, UNAUTHENTICATED) from None
    if request.method not in SAFE_METHODS and not tokens.csrf_ok(
        ctx.session_key, session, request.headers.get(CSRF_HEADER)
    ):
        raise Refused(403, "missing or wrong CSRF token")
    return session_principal(session)


def session_principal(session: tokens.Session) -> Principal:
    """Who a valid session speaks for: its member, or (``serve --demo`` only) an officer."""
    if session.role == "officer":
        return Principal(Caller("officer"), f"session:{session.sid}", via_cookie=True)
    return Principal(
        Caller("member", session.member_id), f"member:{session.member_id}", via_cookie=True
    )


async def officer_key_id(ctx: ServiceContext, secret: str) -> str | None:
    """The id of the officer API key ``secret`` is, or None (any other key or none)."""
    secret = secret.strip()
    if not secret.startswith(access.PREFIX):
        return None
    key = await run_in_threadpool(access.authenticate_key, ctx.engine, secret)
    if key is None or key.role != "officer":
        return None
    return str(key.key_id)


def set_session(response: Response, ctx: ServiceContext, subject: str, role: str) -> str:
    """Issue a session for ``subject`` in ``role`` and set it as the session cookie."""
    cookie = tokens.issue_session(
        ctx.session_key, subject, now=utcnow(), lifetime=ctx.session_lifetime, role=role
    )
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(ctx.session_lifetime.total_seconds()),
        path="/",
        secure=ctx.settings.service_cookie_secure,
        httponly=True,
        samesite="strict",
    )
    return cookie


PrincipalDep = Annotated[Principal, Depends(principal)]


def authorize(route: str) -> Callable[..., Awaitable[Principal]]:
    """The dependency that lets a caller through ``route`` per ``authz.RULES``, and applies
    the write rate limit to requests that change something."""

    async def check(request: Request, who: PrincipalDep, ctx: ContextDep) -> Principal:
        member_id = request.path_params.get("member_id")
        outcome = decide(route, who.caller, member_id)
        if outcome is Outcome.FORBIDDEN:
            raise Refused(403, "not allowed for this role")
        if outcome is Outcome.HIDDEN or (
            member_id is not None and ids.member_id_problem(member_id) is not None
        ):
            raise NotFound("member", "")
        if request.method not in SAFE_METHODS:
            wait = ctx.limiter.take(who.identity)
            if wait:
                raise Refused(429, "too many writes", retry_after=wait)
        return who

    check.__name__ = f"authorize_{route}"
    return check


def when(value: str | None, field: str) -> datetime | None:
    """A timestamp parameter, or a 422 naming ``field`` (never repeating the value)."""
    if value is None:
        return None
    try:
        return parse_timestamp(value, field=field)
    except ValueError:
        problem = f"{field}: expected an RFC 3339 timestamp with a time zone"
        raise InvalidInput("invalid request", [problem]) from None


# --------------------------------------------------------------------------- pagination

MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    offset: int


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31, description="Items to skip.")] = 0,
) -> PageParams:
    return PageParams(limit, offset)


PageDep = Annotated[PageParams, Depends(page_params)]


def paged(found: Page[T], render: Callable[[T], Any]) -> dict[str, Any]:
    """A page cut in SQL by a use case (``consentgate.paging.Page``), as ``page`` renders it."""
    return {
        "items": [render(i) for i in found.items],
        "total": found.total,
        "limit": found.limit,
        "offset": found.offset,
        "next_offset": found.next_offset,
    }


def page(items: Sequence[T], params: PageParams, render: Callable[[T], Any]) -> dict[str, Any]:
    """One page of ``items``: ``{"items", "total", "limit", "offset", "next_offset"}``
    (for lists a use case computes whole and that stay short: policies, a diff)."""
    chunk = items[params.offset : params.offset + params.limit]
    end = params.offset + len(chunk)
    return {
        "items": [render(i) for i in chunk],
        "total": len(items),
        "limit": params.limit,
        "offset": params.offset,
        "next_offset": end if end < len(items) else None,
    }
