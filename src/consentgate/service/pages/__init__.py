"""The service's server-rendered pages: Jinja2 templates, one stylesheet, no JavaScript.

Templates live in ``consentgate/web/templates`` (``base.html`` gives every page its skip
link, ``<main>``, ``lang``, the navigation of the caller's role and, under ``serve --demo``,
the DEMO banner); the stylesheet is ``consentgate/web/static/consentgate.css``, served at
``/static/consentgate.css``. Each page group is a module with a ``router`` (``member``,
``demo``; the officer console adds its own) and renders with ``render()``.

A page's caller comes from the session cookie only (``page_caller(name)``), authorized
with the API's table (``authz.RULES``, where page routes are named ``page_*``). A form that
changes something carries the session's CSRF token in a hidden ``csrf_token`` field
(``check_csrf``); the cookie is SameSite=Strict as well. Errors on pages are HTML
(``error.html``, the same wording as the API's JSON); a page asked for without a session
answers 401, or under ``serve --demo`` redirects to the demo login. Pages send a
Content-Security-Policy that allows no script at all.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from consentgate.service import tokens
from consentgate.service.authz import Outcome, decide
from consentgate.service.deps import (
    SAFE_METHODS,
    SESSION_COOKIE,
    ContextDep,
    Principal,
    ServiceContext,
    session_principal,
)
from consentgate.service.errors import PAGE_TAG, Refused
from consentgate.timestamps import utcnow

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
STYLESHEET = "/static/consentgate.css"


@dataclass(frozen=True, slots=True)
class NavItem:
    href: str
    label: str


NAV: dict[str, list[NavItem]] = {
    "member": [
        NavItem("/me", "My privacy settings"),
        NavItem("/me/history", "History"),
        NavItem("/me/data", "Where my data went"),
        NavItem("/me/download", "Download my data"),
        NavItem("/me/verify", "Verify it yourself"),
    ],
    "officer": [],  # the officer console's pages add theirs (add_nav)
}
HOME = {"member": "/me", "officer": "/console"}


def add_nav(role: str, href: str, label: str) -> None:
    """Add a page to the navigation of ``role`` (once)."""
    items = NAV.setdefault(role, [])
    if all(i.href != href for i in items):
        items.append(NavItem(href, label))


def _when(value: datetime | str | None) -> str:
    """A timestamp for people: ``2026-03-01 14:05 UTC``."""
    if value is None:
        return "—"
    if isinstance(value, str):
        try:
            return _when(datetime.fromisoformat(value))
        except ValueError:
            return value
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@cache
def templates() -> Jinja2Templates:
    env = Environment(
        loader=PackageLoader("consentgate", "web/templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    return Jinja2Templates(env=env)


# --------------------------------------------------------------------------- callers


@dataclass(frozen=True, slots=True)
class PageCaller:
    principal: Principal
    session: tokens.Session
    csrf_token: str

    @property
    def role(self) -> str:
        return self.principal.role

    @property
    def member_id(self) -> str:
        """The member a member's page is about (only ever the caller)."""
        member = self.principal.caller.member_id
        if member is None:
            raise Refused(403, "not allowed for this role")
        return member


def session_of(request: Request, ctx: ServiceContext) -> tokens.Session | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:
        return None
    try:
        return tokens.read_session(ctx.session_key, cookie, now=utcnow())
    except tokens.BadToken:
        return None


def page_caller(route: str) -> Callable[..., PageCaller]:
    """The dependency that lets the session's caller see page ``route`` (``authz.RULES``)
    and applies the write rate limit to forms."""

    def check(request: Request, ctx: ContextDep) -> PageCaller:
        session = session_of(request, ctx)
        if session is None:
            raise Refused(401, "please sign in")
        who = session_principal(session)
        request.state.role = who.role
        if decide(route, who.caller, who.caller.member_id) is not Outcome.ALLOW:
            raise Refused(403, "not allowed for this role")
        if request.method not in SAFE_METHODS:
            wait = ctx.limiter.take(who.identity)
            if wait:
                raise Refused(429, "too many writes", retry_after=wait)
        return PageCaller(who, session, tokens.csrf_token(ctx.session_key, session))

    check.__name__ = f"page_{route}"
    return check


CsrfField = Annotated[str, Form(max_length=128, description="The session's CSRF token.")]


def check_csrf(caller: PageCaller, presented: str) -> None:
    """Refuse a form whose hidden ``csrf_token`` is not the session's (403)."""
    if not hmac.compare_digest(presented.encode(), caller.csrf_token.encode()):
        raise Refused(403, "missing or wrong CSRF token")


# --------------------------------------------------------------------------- rendering


def render(
    request: Request,
    template: str,
    *,
    title: str,
    caller: PageCaller | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **values: Any,
) -> Response:
    """``template`` with what ``base.html`` needs, and the pages' security headers."""
    ctx: ServiceContext = request.app.state.service
    context: dict[str, Any] = {
        "title": title,
        "demo": ctx.demo,
        "caller": caller,
        "nav": NAV.get(caller.role, []) if caller else [],
        "current": request.url.path,
        "csrf_token": caller.csrf_token if caller else "",
        "stylesheet": STYLESHEET,
        **values,
    }
    response = templates().TemplateResponse(
        request, template, context, status_code=status, headers=dict(headers or {})
    )
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def error_page(
    request: Request, status: int, kind: str, message: str, headers: Mapping[str, str]
) -> Response:
    """An error on a page, as a page; without a session under ``--demo``, the login."""
    ctx: ServiceContext = request.app.state.service
    if status == 401 and ctx.demo:
        return RedirectResponse("/login", status_code=303)
    caller = None
    session = session_of(request, ctx)
    if session is not None:
        who = session_principal(session)
        caller = PageCaller(who, session, tokens.csrf_token(ctx.session_key, session))
    return render(
        request,
        "error.html",
        title={401: "Please sign in", 403: "Not allowed", 404: "Not found"}.get(status, "Error"),
        caller=caller,
        status=status,
        headers=headers,
        kind=kind,
        message=message,
        status_code=status,
    )


# --------------------------------------------------------------------------- shared routes

router = APIRouter(tags=[PAGE_TAG], include_in_schema=False)


@cache
def _stylesheet() -> bytes:
    return (resources.files("consentgate") / "web" / "static" / "consentgate.css").read_bytes()


@router.get(STYLESHEET, name="stylesheet")
def stylesheet() -> Response:
    return Response(
        _stylesheet(),
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/", name="page_home")
def home(request: Request, ctx: ContextDep) -> Response:
    """Where a browser lands: its role's first page, or the sign-in."""
    session = session_of(request, ctx)
    if session is None:
        if ctx.demo:
            return RedirectResponse("/login", status_code=303)
        raise Refused(401, "please sign in")
    return RedirectResponse(HOME[session.role], status_code=303)


@router.post("/logout", name="page_logout")
def logout(request: Request, ctx: ContextDep, csrf_token: CsrfField) -> Response:
    """Forget the session cookie (a form with the session's CSRF token)."""
    session = session_of(request, ctx)
    if session is not None:
        who = session_principal(session)
        check_csrf(
            PageCaller(who, session, tokens.csrf_token(ctx.session_key, session)), csrf_token
        )
    response = RedirectResponse("/login" if ctx.demo else "/", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=ctx.settings.service_cookie_secure,
        httponly=True,
        samesite="strict",
    )
    return response


def page_routers(*, demo: bool) -> list[APIRouter]:
    """Every router of pages (a new page group adds its own here); the demo login only
    with ``demo``. tests/test_service_authz.py walks the routes of these."""
    from consentgate.service.pages import console, member, signin
    from consentgate.service.pages import demo as demo_pages

    return [
        router,
        member.router,
        console.router,
        signin.router,
        *([demo_pages.router] if demo else []),
    ]


def install(app: FastAPI, ctx: ServiceContext) -> None:
    """Add the pages to ``app``: every page group, and HTML errors on pages."""
    app.state.page_errors = error_page
    for pages in page_routers(demo=ctx.demo):
        app.include_router(pages)
