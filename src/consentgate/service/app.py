"""``create_app(settings)``: the FastAPI application, built at the edge.

Routes live under ``/api/v1`` (one router per concept); the server-rendered pages (the
member privacy center, the officer console, the ``--demo`` login) at the root, from
``service.pages``; operations at the root
(``/healthz``, ``/readyz``, ``/metrics``, the verifier page at ``/verify``); OpenAPI at
``/openapi.json``. Every response carries ``Cache-Control: no-store`` and
``X-Content-Type-Options: nosniff``: responses hold personal data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentgate.config import Settings
from consentgate.service import errors, pages, tokens
from consentgate.service.builds import BuildQueue
from consentgate.service.deps import ServiceContext
from consentgate.service.limits import BodyLimit, WriteLimiter
from consentgate.service.observability import AccessLog, Metrics
from consentgate.service.routes import (
    builds,
    catalog,
    keys,
    members,
    officer,
    ops,
    reports,
    session,
)
from consentgate.service.schemas import ErrorBody
from consentgate.store.engine import make_engine
from consentgate.workspace.consent_writer import ConsentWriter
from consentgate.workspace.context import rules_from

API_PREFIX = "/api/v1"


class _Headers:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                headers.append((b"x-content-type-options", b"nosniff"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": what}
    for status, what in (
        (400, "Bad usage of the route."),
        (401, "Authentication required."),
        (403, "Not allowed for this role, or a wrong CSRF token."),
        (404, "Not found (another member's data answers as an unknown one)."),
        (409, "Conflicts with what is recorded."),
        (413, "Request body too large."),
        (422, "Invalid request: the fields that failed, never their values."),
        (429, "Too many writes (Retry-After says when to retry)."),
    )
}


def api_router() -> APIRouter:
    api = APIRouter(prefix=API_PREFIX, responses=ERRORS)
    for module in (members, catalog, keys, session, builds, officer, reports):
        api.include_router(module.router)
    return api


def create_app(
    settings: Settings | None = None, *, engine: sa.Engine | None = None, demo: bool = False
) -> FastAPI:
    """The application; ``demo`` (``serve --demo``) adds the demo login and its banner."""
    settings = settings or Settings()
    engine = engine or make_engine(settings.db_url)
    ctx = ServiceContext(
        settings=settings,
        engine=engine,
        token_rules=tokens.load_token_rules(
            settings.service_jwt_algorithm,
            settings.service_jwt_key,
            audience=settings.service_jwt_audience,
            issuer=settings.service_jwt_issuer,
        ),
        session_key=tokens.load_or_create_session_key(settings.session_key_path),
        limiter=WriteLimiter(rate=settings.service_write_rate, burst=settings.service_write_burst),
        writer=ConsentWriter(engine, rules=rules_from(settings)),
        metrics_token=tokens.load_metrics_token(settings.service_metrics_token),
        demo=demo,
    )

    queue = BuildQueue(engine, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        ctx.writer.close()  # records what is queued (uvicorn has let requests in flight end)
        queue.shutdown()
        engine.dispose()

    app = FastAPI(
        title="consentgate",
        version="1",
        description="Decide, enforce and prove which user data may be used to train AI models.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=lambda route: route.name,  # operationId = route name
    )
    app.state.service = ctx
    app.state.builds = queue
    app.state.metrics = Metrics()
    errors.install(app)
    app.include_router(api_router())
    app.include_router(ops.router)
    pages.install(app, ctx)
    app.add_middleware(errors.Contain)
    app.add_middleware(_Headers)
    app.add_middleware(BodyLimit, max_bytes=settings.service_max_body_bytes)
    app.add_middleware(AccessLog, metrics=app.state.metrics)
    return app
