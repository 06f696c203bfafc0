"""Bulk report downloads (officers): CSV (streamed) or JSON, the same bytes as
``consentgate report ... --format``; see ``workspace.bulk_reports``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from consentgate.gate.statutes import Schedule
from consentgate.report_files import FORMATS, csv_text, json_text
from consentgate.service.deps import ContextDep, Principal, ServiceContext, authorize, when
from consentgate.service.schemas import ExposureOut, ReportOut
from consentgate.workspace import bulk_reports
from consentgate.workspace.bulk_reports import ReportTable

router = APIRouter(prefix="/reports", tags=["reports"])

Format = Annotated[Literal["csv", "json"], Query(description="csv (default) or json.")]
Since = Annotated[str | None, Query(max_length=64, description="From this time (RFC 3339).")]
Until = Annotated[str | None, Query(max_length=64, description="Up to this time (exclusive).")]
Recipient = Annotated[str | None, Query(min_length=1, max_length=255)]
DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report: CSV with a header row, or JSON.",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


def _download(table: ReportTable, fmt: str) -> StreamingResponse:
    pieces: Iterator[str] = (
        csv_text(table.columns, table.rows)
        if fmt == "csv"
        else json_text(table.name, table.columns, table.rows)
    )
    name = f"{table.name}.{fmt}"
    return StreamingResponse(
        (p.encode("utf-8") for p in pieces),
        media_type=FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def schedule(ctx: ServiceContext) -> Schedule:
    return bulk_reports.schedule_from_file(ctx.settings.exposure_statutes)


@router.get(
    "/dataset-members", name="report_dataset_members", response_model=ReportOut, responses=DOWNLOAD
)
def report_dataset_members(
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("report_dataset_members"))],
    dataset: Annotated[str, Query(pattern=r"^[0-9a-f]{64}$", description="The dataset id.")],
    format: Format = "csv",
) -> StreamingResponse:
    """Every member a dataset holds: jurisdiction at its cutoff, records as author and as
    participant, shards."""
    return _download(bulk_reports.dataset_members_report(ctx.engine, dataset), format)


@router.get("/disclosures", name="report_disclosures", response_model=ReportOut, responses=DOWNLOAD)
def report_disclosures(
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("report_disclosures"))],
    recipient: Recipient = None,
    since: Since = None,
    until: Until = None,
    format: Format = "csv",
) -> StreamingResponse:
    """One row per member per disclosure: recipient, when, dataset, policy versions, the
    member's jurisdiction then, records, statutes and exposure."""
    table = bulk_reports.disclosures_report(
        ctx.engine,
        recipient=recipient,
        since=when(since, "since"),
        until=when(until, "until"),
        schedule=schedule(ctx),
    )
    return _download(table, format)


@router.get(
    "/consent-events", name="report_consent_events", response_model=ReportOut, responses=DOWNLOAD
)
def report_consent_events(
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("report_consent_events"))],
    since: Since = None,
    until: Until = None,
    setting: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    format: Format = "csv",
) -> StreamingResponse:
    """Every consent event in the order recorded (``recorded_at`` in [since, until))."""
    table = bulk_reports.consent_events_report(
        ctx.engine, since=when(since, "since"), until=when(until, "until"), setting=setting
    )
    return _download(table, format)


EXPOSURE_COLUMNS = (
    "jurisdiction",
    "statute",
    "statute_name",
    "members",
    "per_member",
    "amount",
    "currency",
)


@router.get(
    "/exposure",
    name="report_exposure",
    response_model=ExposureOut,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def report_exposure(
    ctx: ContextDep,
    _: Annotated[Principal, Depends(authorize("report_exposure"))],
    recipient: Recipient = None,
    since: Since = None,
    until: Until = None,
    format: Annotated[Literal["csv", "json"], Query(description="json (default) or csv.")] = "json",
) -> Any:
    """Exposure by jurisdiction and statute for the members whose data went to third
    parties; amounts per member from the statute schedule (``exposure_statutes``)."""
    found = bulk_reports.exposure_report(
        ctx.engine,
        recipient=recipient,
        since=when(since, "since"),
        until=when(until, "until"),
        schedule=schedule(ctx),
    )
    if format == "json":
        return found.as_dict()
    rows = (tuple(r.as_dict()[c] for c in EXPOSURE_COLUMNS) for r in found.rows)
    return _download(ReportTable("exposure", EXPOSURE_COLUMNS, rows), "csv")
