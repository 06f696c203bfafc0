"""Errors to responses, mapped once: ``{"ok": false, "type": ..., "error": ...}``.

Messages name the field or the kind of thing, never a value: ``NotFound`` answers
"member not found" without the id, a 422 lists the fields that failed (``body.setting:
Field required``) without the input, and anything unexpected is a bare 500 (its class name
goes to the log, its message and stack trace do not leave the process).
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentgate.errors import (
    AuditChainBroken,
    Conflict,
    ConsentgateError,
    InvalidInput,
    NotFound,
    RecipientRefused,
    UsageError,
)

logger = logging.getLogger(__name__)

STATUS: list[tuple[type[ConsentgateError], int]] = [
    (NotFound, 404),
    (Conflict, 409),
    (RecipientRefused, 409),
    (InvalidInput, 422),
    (UsageError, 400),
    (AuditChainBroken, 500),
]


class Refused(Exception):
    """Authentication or authorization refused: 401, 403 or 429 (``retry_after`` seconds)."""

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def error_body(kind: str, message: str, problems: list[str] | None = None) -> dict[str, object]:
    body: dict[str, object] = {"ok": False, "type": kind, "error": message}
    if problems:
        body["problems"] = problems
    return body


def status_of(exc: ConsentgateError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def not_found(kind: str) -> JSONResponse:
    return JSONResponse(error_body("NotFound", f"{kind} not found"), status_code=404)


PAGE_TAG = "pages"


def _answer(
    request: Request, status: int, body: dict[str, object], headers: dict[str, str] | None = None
) -> Response:
    """JSON, or for a route tagged ``pages`` the page the app installed for errors (the
    same type and message, as HTML)."""
    route = request.scope.get("route")
    page_errors = getattr(request.app.state, "page_errors", None)
    if page_errors is not None and PAGE_TAG in (getattr(route, "tags", None) or []):
        message = str(body["error"])
        problems = body.get("problems")
        if isinstance(problems, list):
            message = "; ".join([message, *map(str, problems)])
        page: Response = page_errors(request, status, str(body["type"]), message, headers or {})
        return page
    return JSONResponse(body, status_code=status, headers=headers)


async def _consentgate(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConsentgateError)
    if isinstance(exc, NotFound):
        return _answer(request, 404, error_body("NotFound", f"{exc.kind} not found"))
    if isinstance(exc, InvalidInput) and exc.problems:
        first = str(exc).split("\n", 1)[0]
        return _answer(request, status_of(exc), error_body(type(exc).__name__, first, exc.problems))
    return _answer(request, status_of(exc), error_body(type(exc).__name__, str(exc)))


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    headers = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    kind = {401: "Unauthenticated", 403: "Forbidden", 429: "TooManyRequests"}[exc.status]
    return _answer(request, exc.status, error_body(kind, str(exc)), headers)


def _where(loc: tuple[object, ...]) -> str:
    return ".".join(str(p) for p in loc)


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        f"{_where(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}" for e in exc.errors()
    ]
    return _answer(request, 422, error_body("InvalidInput", "invalid request", problems))


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind, message = {
        404: ("HTTPError", "no such route"),
        405: ("HTTPError", "method not allowed"),
        413: ("TooLarge", "request body too large"),
    }.get(exc.status_code, ("HTTPError", "refused"))
    return JSONResponse(error_body(kind, message), status_code=exc.status_code, headers=exc.headers)


INTERNAL = json.dumps(error_body("InternalError", "internal error")).encode()


class Contain:
    """Turn any exception a route lets escape into a bare 500: the class name is logged,
    the message (which may hold SQL parameters) and the stack trace are not."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            logger.error("unexpected %s", type(exc).__name__)
            if started:
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": INTERNAL})


def install(app: FastAPI) -> None:
    app.add_exception_handler(ConsentgateError, _consentgate)
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
