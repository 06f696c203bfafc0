"""A member's settings, effective status, history, consent choices and receipts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from consentgate import workspace
from consentgate.consent import ConsentEvent
from consentgate.encoding import jsonable
from consentgate.errors import InvalidInput
from consentgate.service.deps import ContextDep, PageDep, Principal, authorize, page
from consentgate.timestamps import format_timestamp, parse_timestamp, utcnow
from consentgate.workspace.context import rules_from

router = APIRouter(prefix="/members/{member_id}", tags=["members"])

At = Annotated[
    str | None,
    Query(max_length=64, description="Point in time, RFC 3339 (default now)."),
]
KnownAt = Annotated[
    str | None,
    Query(max_length=64, description="As the system knew it at this time (default now)."),
]


def _when(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value, field=field)
    except ValueError:  # its message repeats the value: name the field only
        problem = f"{field}: expected an RFC 3339 timestamp with a time zone"
        raise InvalidInput("invalid request", [problem]) from None


@router.get("/settings", name="member_settings")
def member_settings(
    member_id: str,
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("member_settings"))],
    at: At = None,
    known_at: KnownAt = None,
) -> dict[str, Any]:
    """Every setting of the policy in force, with the member's state and its default."""
    settings = workspace.member_settings(
        ctx.engine, member_id, at=_when(at, "at"), known_at=_when(known_at, "known_at")
    )
    return dict(jsonable(settings))


@router.get("/status", name="member_status")
def member_status(
    member_id: str,
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("member_status"))],
    setting: Annotated[str, Query(min_length=1, max_length=255)],
    at: At = None,
    known_at: KnownAt = None,
) -> dict[str, Any]:
    """The member's effective state for one setting at ``at`` as known at ``known_at``."""
    status = workspace.consent_status(
        ctx.engine, member_id, setting, at=_when(at, "at"), known_at=_when(known_at, "known_at")
    )
    return dict(jsonable(status))


def _event(e: ConsentEvent) -> dict[str, Any]:
    return {
        "event_id": e.event_id,
        "seq": e.seq,
        "type": e.type.value,
        "setting": e.setting,
        "policy_version": e.policy_version,
        "effective_at": format_timestamp(e.effective_at),
        "recorded_at": format_timestamp(e.recorded_at),
        "covers_from": format_timestamp(e.covers_from) if e.covers_from else None,
        "source": e.source,
    }


@router.get("/history", name="member_history")
def member_history(
    member_id: str,
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("member_history"))],
    params: PageDep,
) -> dict[str, Any]:
    """The member's consent events, oldest first."""
    return page(workspace.member_history(ctx.engine, member_id), params, _event)


class ConsentChoice(BaseModel):
    """A member's choice for one setting (taking effect now)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["grant", "deny", "withdraw"]
    setting: str = Field(min_length=1, max_length=255)
    policy_version: str | None = Field(
        None, min_length=1, max_length=64, description="The version the member saw (grant)."
    )
    covers_from: str | None = Field(
        None, max_length=64, description="Grant only: earliest creation time of data it covers."
    )
    event_id: str | None = Field(
        None, min_length=1, max_length=255, description="Idempotency key (generated when absent)."
    )


@router.post("/consent", name="record_consent", status_code=201)
def record_consent(
    member_id: str,
    choice: ConsentChoice,
    response: Response,
    ctx: ContextDep,
    who: Annotated[Principal, Depends(authorize("record_consent"))],
) -> dict[str, Any]:
    """Record a grant, denial or withdrawal taking effect now (201). A retry with the same
    ``event_id`` and the same choice answers 200 with the event first recorded; the same id
    with another choice is a 409."""
    if choice.event_id is not None:
        retried = _retry(ctx, member_id, choice)
        if retried is not None:
            response.status_code = 200
            return {"created": False, "event": _event(retried)}
    covers_from = _when(choice.covers_from, "body.covers_from")
    record = {
        "event_id": choice.event_id or f"ev-{uuid.uuid4().hex}",
        "member_id": member_id,
        "type": choice.type,
        "setting": choice.setting,
        "policy_version": choice.policy_version,
        "effective_at": format_timestamp(utcnow()),
        "covers_from": format_timestamp(covers_from) if covers_from else None,
        "source": "web" if who.via_cookie else "api",
    }
    record = {k: v for k, v in record.items() if v is not None}
    event, created = workspace.record_event(ctx.engine, record, rules=rules_from(ctx.settings))
    if not created:
        response.status_code = 200
    return {"created": created, "event": _event(event)}


def _retry(ctx: ContextDep, member_id: str, choice: ConsentChoice) -> ConsentEvent | None:
    """The member's event recorded with ``choice.event_id``, when it records this choice.

    The server stamps ``effective_at``, so a retry cannot repeat it; the other fields must
    match (a covers_from given as text is compared once parsed)."""
    for e in workspace.member_history(ctx.engine, member_id):
        if e.event_id != choice.event_id:
            continue
        covers = _when(choice.covers_from, "body.covers_from")
        same = (e.type.value, e.setting, e.policy_version, e.covers_from) == (
            choice.type,
            choice.setting,
            choice.policy_version,
            covers,
        )
        return e if same else None
    return None


class ReceiptRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str | None = Field(
        None, min_length=1, max_length=255, description="The event (default: the latest)."
    )


@router.post("/receipts", name="member_receipt")
def member_receipt(
    member_id: str,
    body: ReceiptRequest,
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("member_receipt"))],
) -> dict[str, Any]:
    """A signed receipt (c2sp.org/tlog-proof) for one of the member's consent events,
    checkable offline with the verifier page or ``consentgate verify-receipt``."""
    issued = workspace.issue_receipt_proof(
        ctx.engine, ctx.settings.signing_key_path, member_id, event_id=body.event_id
    )
    return {
        "event_id": issued.event_id,
        "leaf_index": issued.leaf_index,
        "tree_size": issued.checkpoint.size,
        "receipt": issued.text,
    }
