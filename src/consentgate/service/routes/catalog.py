"""Policies (list, diff) and datasets (list)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from consentgate import workspace
from consentgate.encoding import jsonable
from consentgate.service.deps import ContextDep, PageDep, Principal, authorize, page, paged
from consentgate.service.schemas import ChangeOut, DatasetOut, Page, PolicyOut, PublishedOut
from consentgate.workspace.context import rules_from

router = APIRouter(tags=["policies", "datasets"])


@router.get("/policies", name="list_policies", response_model=Page[PolicyOut])
def list_policies(
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("list_policies"))],
    params: PageDep,
) -> dict[str, Any]:
    """Published policy versions, oldest first."""
    return page(workspace.list_policies(ctx.engine), params, jsonable)


Version = Annotated[str, Query(min_length=1, max_length=64)]


@router.get("/policies/diff", name="diff_policies", response_model=Page[ChangeOut])
def diff_policies(
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("diff_policies"))],
    params: PageDep,
    old: Annotated[str, Query(alias="from", min_length=1, max_length=64)],
    new: Annotated[str, Query(alias="to", min_length=1, max_length=64)],
) -> dict[str, Any]:
    """What changed from one published version to another (material changes flagged)."""
    changes = workspace.diff_policies(ctx.engine, old, new)
    return page(changes, params, lambda c: c.as_dict())


@router.get("/datasets", name="list_datasets", response_model=Page[DatasetOut])
def list_datasets(
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("list_datasets"))],
    params: PageDep,
) -> dict[str, Any]:
    """Registered datasets."""
    found = workspace.list_datasets_page(ctx.engine, limit=params.limit, offset=params.offset)
    return paged(found, jsonable)


class PolicyText(BaseModel):
    """A policy version as YAML text (docs/formats.md), published as ``policy publish``."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=60_000, description="The policy YAML.")
    notice_days: int | None = Field(
        None, ge=0, le=3650, description="Notice period (default: the notice_days setting)."
    )


@router.post("/policies", name="publish_policy", status_code=201, response_model=PublishedOut)
def publish_policy(
    body: PolicyText,
    response: Response,
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("publish_policy"))],
) -> dict[str, Any]:
    """Validate and publish a policy version (201); the same version with the same text
    again is a no-op (200); errors name the line and field (422)."""
    published = workspace.publish_policy(
        ctx.engine,
        body.text,
        name="body.text",
        notice_days=ctx.settings.notice_days if body.notice_days is None else body.notice_days,
        rules=rules_from(ctx.settings),
    )
    if not published.created:
        response.status_code = 200
    return {
        "version": published.policy.version,
        "created": published.created,
        "changes": [c.as_dict() for c in published.changes],
    }
