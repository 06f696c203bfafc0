"""Operations: liveness, readiness, Prometheus metrics and the offline verifier page."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from consentgate.errors import ConsentgateError
from consentgate.service import tokens
from consentgate.service.deps import ContextDep
from consentgate.service.errors import Refused
from consentgate.service.schemas import Health
from consentgate.store.engine import check_current

router = APIRouter(tags=["operations"])


@router.get("/healthz", name="healthz", response_model=Health)
def healthz() -> dict[str, str]:
    """The process is up (nothing else is checked)."""
    return {"status": "ok"}


@router.get("/readyz", name="readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(ctx: ContextDep) -> JSONResponse:
    """Ready to serve: the database answers and its schema is at the newest migration."""
    try:
        check_current(ctx.engine)
    except (ConsentgateError, sa.exc.SQLAlchemyError):
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics", name="metrics", include_in_schema=False)
def metrics(request: Request, ctx: ContextDep) -> Response:
    """Prometheus text; with ``service_metrics_token`` set, only for that bearer token."""
    if ctx.metrics_token is not None and not tokens.bearer_matches(
        ctx.metrics_token, request.headers.get("authorization")
    ):
        raise Refused(401, "authentication required")
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )


VERIFIER_FILE = Path(__file__).resolve().parents[2] / "web" / "static" / "verifier.html"


@cache
def _verifier() -> tuple[bytes, str]:
    page = VERIFIER_FILE.read_bytes()
    m = re.search(rb'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    if m is None:
        raise RuntimeError("verifier.html has no Content-Security-Policy")
    return page, m.group(1).decode("ascii")


VERIFIER_PATH = "/verify"


@router.get(VERIFIER_PATH, name="verifier", include_in_schema=False)
def verifier() -> Response:
    """The offline verifier page, byte for byte as shipped: save it and open it offline."""
    page, csp = _verifier()
    return Response(
        page,
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": csp,
            "Referrer-Policy": "no-referrer",
            "Content-Disposition": 'inline; filename="consentgate-verifier.html"',
        },
    )
