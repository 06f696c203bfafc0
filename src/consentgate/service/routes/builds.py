"""Builds (pipelines start them; pipelines and officers follow them): ``service/builds.py``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from consentgate.service.builds import BuildQueue, QueueFull
from consentgate.service.deps import PageDep, Principal, authorize, page, when
from consentgate.service.errors import Refused
from consentgate.service.schemas import Model, Page

router = APIRouter(prefix="/builds", tags=["builds"])


class BuildRequest(BaseModel):
    """A build through the gate, as ``consentgate build`` takes it; paths are relative to
    the server's ``service_build_root``."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=1024, description="Parquet file/dir or JSONL.")
    out: str = Field(min_length=1, max_length=1024, description="Dataset directory to create.")
    use: str = Field(min_length=1, max_length=255)
    recipient: str = Field(min_length=1, max_length=255)
    as_of: str | None = Field(None, max_length=64, description="Cutoff, RFC 3339 (default now).")
    shards: int | None = Field(None, ge=1, le=4096)
    shard_by: Literal["author", "conversation"] = "author"
    columns: dict[str, Annotated[str, Field(min_length=1, max_length=255)]] | None = Field(
        None, max_length=32, description="Read column NAME from the source as COLUMN."
    )
    profile: str | None = Field(None, min_length=1, max_length=1024)
    redact: bool = True
    ner: bool = False
    name: str | None = Field(None, min_length=1, max_length=200)


class Progress(Model):
    done: int
    total: int | None


class BuildError(Model):
    type: str
    error: str


class BuildOut(Model):
    build_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    request: dict[str, Any]
    created_at: str
    started_at: str | None
    finished_at: str | None
    progress: Progress
    result: dict[str, Any] | None
    error: BuildError | None


def queue(request: Request) -> BuildQueue:
    builds: BuildQueue = request.app.state.builds
    return builds


QueueDep = Annotated[BuildQueue, Depends(queue)]


@router.post("", name="start_build", status_code=202, response_model=BuildOut)
def start_build(
    body: BuildRequest,
    builds: QueueDep,
    _: Annotated[Principal, Depends(authorize("start_build"))],
) -> dict[str, Any]:
    """Queue a build (202); follow it at ``/builds/{build_id}``."""
    as_of = when(body.as_of, "body.as_of")
    try:
        job = builds.submit(body.model_dump(exclude_none=True), as_of=as_of)
    except QueueFull:
        raise Refused(429, "too many builds queued", retry_after=30) from None
    return job.view()


@router.get("", name="list_builds", response_model=Page[BuildOut])
def list_builds(
    builds: QueueDep,
    _: Annotated[Principal, Depends(authorize("list_builds"))],
    params: PageDep,
) -> dict[str, Any]:
    """Builds this server process ran or runs, newest first."""
    return page(builds.list(), params, lambda j: j.view())


@router.get("/{build_id}", name="get_build", response_model=BuildOut)
def get_build(
    build_id: Annotated[str, Path(pattern=r"^b-[0-9a-f]{20}$")],
    builds: QueueDep,
    _: Annotated[Principal, Depends(authorize("get_build"))],
) -> dict[str, Any]:
    """A build's status, progress (records gated of the total) and result or error."""
    from consentgate.errors import NotFound

    job = builds.get(build_id)
    if job is None:
        raise NotFound("build", "")
    return job.view()
