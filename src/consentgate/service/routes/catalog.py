"""Policies (list, diff) and datasets (list)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from consentgate import workspace
from consentgate.encoding import jsonable
from consentgate.service.deps import ContextDep, PageDep, Principal, authorize, page

router = APIRouter(tags=["policies", "datasets"])


@router.get("/policies", name="list_policies")
def list_policies(
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("list_policies"))],
    params: PageDep,
) -> dict[str, Any]:
    """Published policy versions, oldest first."""
    return page(workspace.list_policies(ctx.engine), params, jsonable)


Version = Annotated[str, Query(min_length=1, max_length=64)]


@router.get("/policies/diff", name="diff_policies")
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


@router.get("/datasets", name="list_datasets")
def list_datasets(
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("list_datasets"))],
    params: PageDep,
) -> dict[str, Any]:
    """Registered datasets."""
    return page(workspace.list_datasets(ctx.engine), params, jsonable)
