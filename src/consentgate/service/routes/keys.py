"""API keys (administrators): list, create (the key is shown once), revoke."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from consentgate import access
from consentgate.service.deps import ContextDep, PageDep, Principal, authorize, paged
from consentgate.service.schemas import KeyOut, NewKeyOut, Page
from consentgate.timestamps import format_timestamp

router = APIRouter(prefix="/keys", tags=["keys"])


def render_key(k: access.ApiKey) -> dict[str, Any]:
    return {
        "key_id": k.key_id,
        "role": k.role,
        "label": k.label,
        "created_at": format_timestamp(k.created_at),
        "revoked_at": format_timestamp(k.revoked_at) if k.revoked_at else None,
    }


@router.get("", name="list_keys", response_model=Page[KeyOut])
def list_keys(
    ctx: ContextDep, _: Annotated[Principal, Depends(authorize("list_keys"))], params: PageDep
) -> dict[str, Any]:
    found = access.list_keys_page(ctx.engine, limit=params.limit, offset=params.offset)
    return paged(found, render_key)


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["pipeline", "officer", "admin"]
    label: str = Field("", max_length=200)


@router.post("", name="create_key", status_code=201, response_model=NewKeyOut)
def create_key(
    body: NewKey, ctx: ContextDep, _: Annotated[Principal, Depends(authorize("create_key"))]
) -> dict[str, Any]:
    """Create a key; the response is the only place its secret ever appears."""
    created = access.create_key(ctx.engine, role=body.role, label=body.label)
    return {**render_key(created.key), "key": created.secret}


@router.delete("/{key_id}", name="revoke_key", response_model=KeyOut)
def revoke_key(
    key_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")],
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("revoke_key"))],
) -> dict[str, Any]:
    return render_key(access.revoke_key(ctx.engine, key_id))
