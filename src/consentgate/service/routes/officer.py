"""What officers read and do: datasets' members and disclosures, a member's impact,
recipients, remediation orders and notices, the audit log's status and checkpoints, and
erasure. Each route authorizes, calls one use case and renders it."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from consentgate import workspace
from consentgate.encoding import jsonable
from consentgate.errors import InvalidInput, NotFound
from consentgate.service.deps import ContextDep, PageDep, Principal, authorize, page, when
from consentgate.service.schemas import (
    AuditStatus,
    CheckpointOut,
    DatasetMember,
    DisclosureOut,
    ErasureOut,
    ImpactOut,
    NoticeOut,
    OrderOut,
    Page,
    RecipientOut,
)
from consentgate.timestamps import format_timestamp, utcnow
from consentgate.tlog.receipts import LoggedCheckpoint
from consentgate.workspace import bulk_reports, log_status
from consentgate.workspace.context import rules_from

router = APIRouter(tags=["officer"])

DatasetId = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="The full dataset id.")]
Since = Annotated[str | None, Query(max_length=64, description="From this time (RFC 3339).")]
Until = Annotated[str | None, Query(max_length=64, description="Up to this time (exclusive).")]
Recipient = Annotated[str | None, Query(min_length=1, max_length=255)]


def _ts(value: Any) -> str | None:
    return None if value is None else format_timestamp(value)


@router.get(
    "/datasets/{dataset_id}/members", name="dataset_members", response_model=Page[DatasetMember]
)
def dataset_members(
    dataset_id: DatasetId,
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("dataset_members"))],
    params: PageDep,
) -> dict[str, Any]:
    """The members a dataset holds, by member id, with their jurisdiction at its cutoff
    (the whole list: ``GET /reports/dataset-members``)."""
    table = bulk_reports.dataset_members_report(ctx.engine, dataset_id)
    rows = []
    for row in table.rows:  # read up to the page's end only
        rows.append(row)
        if len(rows) > params.offset + params.limit:
            break
    total = next(
        (d.members for d in workspace.list_datasets(ctx.engine) if d.dataset_id == dataset_id),
        len(rows),
    )
    chunk = rows[params.offset : params.offset + params.limit]
    end = params.offset + len(chunk)
    cols = table.columns[1:]
    return {
        "items": [dict(zip(cols, r[1:], strict=True)) for r in chunk],
        "total": total,
        "limit": params.limit,
        "offset": params.offset,
        "next_offset": end if end < total else None,
    }


def _disclosure(d: workspace.Disclosure) -> dict[str, Any]:
    return {
        "disclosure_id": d.disclosure_id,
        "dataset_id": d.dataset_id,
        "recipient": d.recipient,
        "disclosed_at": format_timestamp(d.disclosed_at),
        "records": d.records,
        "members": d.members,
        "source": d.source,
    }


@router.get(
    "/datasets/{dataset_id}/disclosures",
    name="dataset_disclosures",
    response_model=Page[DisclosureOut],
)
def dataset_disclosures(
    dataset_id: DatasetId,
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("dataset_disclosures"))],
    params: PageDep,
) -> dict[str, Any]:
    """Deliveries of one dataset to third parties."""
    if not any(d.dataset_id == dataset_id for d in workspace.list_datasets(ctx.engine)):
        raise NotFound("dataset", "")
    found = [d for d in workspace.list_disclosures(ctx.engine) if d.dataset_id == dataset_id]
    return page(found, params, _disclosure)


@router.get("/disclosures", name="list_disclosures", response_model=Page[DisclosureOut])
def list_disclosures(
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("list_disclosures"))],
    params: PageDep,
) -> dict[str, Any]:
    """Every delivery of a dataset to a third party, by time."""
    return page(workspace.list_disclosures(ctx.engine), params, _disclosure)


@router.get("/recipients", name="list_recipients", response_model=Page[RecipientOut])
def list_recipients(
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("list_recipients"))],
    params: PageDep,
    since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    """What each third party received: members, records, dates, policy versions."""
    rows = bulk_reports.recipients_summary(
        ctx.engine, since=when(since, "since"), until=when(until, "until")
    )
    return page(rows, params, lambda r: r.as_dict())


@router.get("/members/{member_id}/impact", name="member_impact", response_model=Page[ImpactOut])
def member_impact(
    member_id: str,
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("member_impact"))],
    params: PageDep,
) -> dict[str, Any]:
    """Every registered dataset holding the member's records, as author or participant."""
    rows = workspace.impact(ctx.engine, member_id)
    return page(
        rows,
        params,
        lambda r: {
            "dataset_id": r.dataset_id,
            "use": r.use,
            "recipient": r.recipient,
            "as_of": format_timestamp(r.as_of),
            "status": r.status,
            "as_author": r.as_author,
            "as_participant": r.as_participant,
            "shards": list(r.shards) if r.shards is not None else None,
        },
    )


def _order(o: workspace.Order) -> dict[str, Any]:
    return {
        "order_id": o.order_id,
        "kind": o.kind,
        "action": o.action,
        "target": o.target,
        "shard": o.shard,
        "status": o.status,
        "overdue": bool(o.overdue),
        "members": o.members,
        "deadline": format_timestamp(o.deadline),
        "opened_at": format_timestamp(o.opened_at),
        "closed_at": _ts(o.closed_at),
        "triggers": jsonable(list(o.triggers or [])),
        "legal_basis": jsonable(o.legal_basis),
        "datasets": list(o.datasets or []),
        "notice_id": o.notice_id,
    }


@router.get("/remediation/orders", name="list_orders", response_model=Page[OrderOut])
def list_orders(
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("list_orders"))],
    params: PageDep,
    overdue: Annotated[bool, Query(description="Only pending orders past their deadline.")] = False,
    include_done: Annotated[bool, Query(alias="all", description="Include done orders.")] = False,
) -> dict[str, Any]:
    """Remediation orders by deadline: pending ones (``all`` for every one)."""
    rows = workspace.list_orders(ctx.engine, overdue=overdue, include_done=include_done)
    return page(rows, params, _order)


def _notice(n: workspace.Notice) -> dict[str, Any]:
    return {
        "notice_id": n.notice_id,
        "recipient": n.recipient,
        "status": n.status,
        "issued_at": format_timestamp(n.issued_at),
        "deadline": format_timestamp(n.deadline),
        "acknowledged_at": _ts(n.acknowledged_at),
        "records": n.records,
        "datasets": list(n.datasets or []),
        "sha256": n.sha256,
    }


@router.get("/remediation/notices", name="list_notices", response_model=Page[NoticeOut])
def list_notices(
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("list_notices"))],
    params: PageDep,
) -> dict[str, Any]:
    """Deletion notices sent to third parties: sent, overdue or acknowledged."""
    return page(workspace.list_notices(ctx.engine), params, _notice)


def _checkpoint(cp: LoggedCheckpoint) -> dict[str, Any]:
    return {"number": cp.number, "size": cp.size, "root": cp.root.hex(), "note": cp.note}


@router.get("/audit/verify", name="verify_audit", response_model=AuditStatus)
def verify_audit(
    ctx: ContextDep, _: Annotated[Principal, Depends(authorize("verify_audit"))]
) -> dict[str, Any]:
    """Verify the audit log as ``audit verify`` does: ``ok`` false names the problem."""
    s = log_status.audit_status(
        ctx.engine, key_file=ctx.settings.signing_key_path, key_dir=ctx.settings.key_dir
    )
    return {
        "ok": s.ok,
        "entries": s.entries,
        "rows": s.rows,
        "head": s.head,
        "root": s.root,
        "checkpoints": s.checkpoints,
        "uncovered": s.uncovered,
        "latest_checkpoint": _checkpoint(s.latest) if s.latest else None,
        "outside_checkpoint_size": s.outside_checkpoint_size,
        "problem": s.problem,
    }


@router.get("/audit/checkpoints/latest", name="latest_checkpoint", response_model=CheckpointOut)
def latest_checkpoint(
    ctx: ContextDep, _: Annotated[Principal, Depends(authorize("latest_checkpoint"))]
) -> dict[str, Any]:
    """The checkpoint signed last (404 when none is)."""
    cp = log_status.latest_checkpoint(ctx.engine)
    if cp is None:
        raise NotFound("checkpoint", "")
    return _checkpoint(cp)


@router.post(
    "/audit/checkpoints", name="create_checkpoint", status_code=201, response_model=CheckpointOut
)
def create_checkpoint(
    response: Response,
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("create_checkpoint"))],
) -> dict[str, Any]:
    """Sign the log's head (201), or answer the latest checkpoint when the log has not grown
    since (200, ``created`` false)."""
    from consentgate.workspace.autocheckpoint import write_latest

    head = workspace.create_checkpoint(ctx.engine, ctx.settings.signing_key_path)
    cp = head.checkpoint
    write_latest(ctx.settings.key_dir, cp.note)
    if not head.created:
        response.status_code = 200
    return {
        "number": cp.number,
        "size": cp.size,
        "root": cp.root.hex(),
        "note": cp.note,
        "created": head.created,
    }


class ErasureRequest(BaseModel):
    """An erasure request, recorded for the member (DESIGN.md: nothing of theirs is used
    again). ``confirm`` must repeat the member id: erasure cannot be undone."""

    model_config = ConfigDict(extra="forbid")

    confirm: str = Field(min_length=1, max_length=255, description="The member id, again.")
    event_id: str | None = Field(
        None, min_length=1, max_length=128, description="Idempotency key (generated when absent)."
    )


@router.post(
    "/members/{member_id}/erasure", name="erase_member", status_code=201, response_model=ErasureOut
)
def erase_member(
    member_id: str,
    body: ErasureRequest,
    response: Response,
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("erase_member"))],
) -> dict[str, Any]:
    """Record the member's erasure request, effective now (201; 200 for a retry with the
    same ``event_id``): their name, email and phone are removed, their data excluded from
    every build from now on, and remediation opened for what holds it (docs/remediation.md)."""
    if body.confirm != member_id:
        raise InvalidInput("invalid request", ["body.confirm: must repeat the member id"])
    if body.event_id is not None:
        for e in workspace.member_history(ctx.engine, member_id):
            if e.event_id == body.event_id and e.type.value == "erase":
                response.status_code = 200
                return {
                    "created": False,
                    "event_id": e.event_id,
                    "effective_at": format_timestamp(e.effective_at),
                    "recorded_at": format_timestamp(e.recorded_at),
                }
    record = {
        "event_id": body.event_id or f"ev-{uuid.uuid4().hex}",
        "member_id": member_id,
        "type": "erase",
        "effective_at": format_timestamp(utcnow()),
        "source": "api",
    }
    event, created = workspace.record_event(ctx.engine, record, rules=rules_from(ctx.settings))
    if not created:
        response.status_code = 200
    return {
        "created": created,
        "event_id": event.event_id,
        "effective_at": format_timestamp(event.effective_at),
        "recorded_at": format_timestamp(event.recorded_at),
    }
