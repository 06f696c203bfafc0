"""The privacy officer's console: server-rendered pages over the same use cases as the API.

``/console`` (overview), ``/console/policies`` (versions and what changed), ``/console/consent``
(consent rates per setting and jurisdiction over time), ``/console/builds`` (datasets and
their exclusions by reason), ``/console/recipients`` (what each third party received),
``/console/remediation`` (open and overdue orders, notices) and ``/console/audit`` (the log's
status and latest checkpoint). Officers only (``authz.RULES``, ``page_console_*``); charts
are inline SVG (``charts``) with their numbers in a table beside them; no JavaScript.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from consentgate import workspace
from consentgate.encoding import jsonable
from consentgate.errors import ConsentgateError
from consentgate.service.deps import ContextDep
from consentgate.service.errors import PAGE_TAG
from consentgate.service.pages import PageCaller, add_nav, page_caller, render
from consentgate.service.pages.charts import Bar, Series, bar_chart, line_chart
from consentgate.workspace import bulk_reports, console, log_status

router = APIRouter(prefix="/console", tags=[PAGE_TAG], include_in_schema=False)

for _href, _label in (
    ("/console", "Overview"),
    ("/console/policies", "Policies"),
    ("/console/consent", "Consent rates"),
    ("/console/builds", "Builds"),
    ("/console/recipients", "Recipients"),
    ("/console/remediation", "Remediation"),
    ("/console/audit", "Audit log"),
):
    add_nav("officer", _href, _label)


def _audit(ctx: ContextDep) -> log_status.AuditStatus:
    return log_status.audit_status(
        ctx.engine, key_file=ctx.settings.signing_key_path, key_dir=ctx.settings.key_dir
    )


@router.get("", name="page_console")
def overview(
    request: Request,
    ctx: ContextDep,
    caller: Annotated[PageCaller, Depends(page_caller("page_console"))],
) -> Response:
    """The console's first page: what needs attention."""
    orders = workspace.list_orders(ctx.engine)
    return render(
        request,
        "console/overview.html",
        title="Privacy officer console",
        caller=caller,
        audit=_audit(ctx),
        open_orders=len(orders),
        overdue_orders=sum(1 for o in orders if o.overdue),
        overdue_notices=sum(1 for n in workspace.list_notices(ctx.engine) if n.status == "overdue"),
        datasets=len(workspace.list_datasets(ctx.engine)),
        recipients=bulk_reports.recipients_summary(ctx.engine),
        policies=workspace.list_policies(ctx.engine),
    )


@router.get("/policies", name="page_console_policies")
def policies(
    request: Request,
    ctx: ContextDep,
    caller: Annotated[PageCaller, Depends(page_caller("page_console_policies"))],
) -> Response:
    """Every published version, each with what changed from the one before."""
    versions = workspace.list_policies(ctx.engine)
    shown: list[dict[str, Any]] = []
    previous: str | None = None
    for v in versions:
        changes = (
            [c.as_dict() for c in workspace.diff_policies(ctx.engine, previous, v.version)]
            if previous
            else []
        )
        shown.append({**jsonable(v), "previous": previous, "changes": changes})
        previous = v.version
    return render(
        request,
        "console/policies.html",
        title="Policy versions",
        caller=caller,
        versions=list(reversed(shown)),
    )


@router.get("/consent", name="page_console_consent")
def consent(
    request: Request,
    ctx: ContextDep,
    caller: Annotated[PageCaller, Depends(page_caller("page_console_consent"))],
) -> Response:
    """Consent rates per setting and jurisdiction over time, as a chart and a table."""
    rates = console.consent_rates(ctx.engine)
    charts = []
    for i, sid in enumerate(rates.settings):
        series = []
        rows = []
        for where in rates.jurisdictions:
            points = rates.series(sid, where)
            if not points:
                continue
            at = {p.at: p for p in points}
            values = [at[t].rate if t in at else None for t in rates.times]
            series.append(Series(where, values))
            rows.append({"jurisdiction": where, "points": [at.get(t) for t in rates.times]})
        if not series:
            continue
        charts.append(
            {
                "setting": sid,
                "label": rates.labels.get(sid, sid),
                "svg": line_chart(
                    f"rate-{i}",
                    f"Share of members sharing: {rates.labels.get(sid, sid)}",
                    rates.times,
                    series,
                ),
                "rows": rows,
            }
        )
    return render(
        request,
        "console/consent.html",
        title="Consent rates",
        caller=caller,
        rates=rates,
        charts=charts,
    )


@router.get("/builds", name="page_console_builds")
def builds(
    request: Request,
    ctx: ContextDep,
    caller: Annotated[PageCaller, Depends(page_caller("page_console_builds"))],
) -> Response:
    """Every registered dataset, newest first, with its records excluded by reason."""
    found = list(reversed(console.build_exclusions(ctx.engine)))
    shown = [
        {
            "build": b,
            "svg": bar_chart(
                f"excl-{i}",
                f"Records excluded by reason from dataset {b.dataset_id[:12]}",
                [Bar(reason, n) for reason, n in b.excluded.items()],
            )
            if b.excluded
            else None,
        }
        for i, b in enumerate(found)
    ]
    running = request.app.state.builds.list()
    return render(
        request,
        "console/builds.html",
        title="Builds",
        caller=caller,
        datasets=shown,
        running=[j.view() for j in running],
    )


@router.get("/recipients", name="page_console_recipients")
def recipients(
    request: Request,
    ctx: ContextDep,
    caller: Annotated[PageCaller, Depends(page_caller("page_console_recipients"))],
) -> Response:
    """Third parties and what each received: members, records, dates, policy versions."""
    rows = bulk_reports.recipients_summary(ctx.engine)
    exposure = bulk_reports.exposure_report(
        ctx.engine, schedule=bulk_reports.schedule_from_file(ctx.settings.exposure_statutes)
    )
    svg = (
        bar_chart(
            "recipients",
            "Members whose data each third party received",
            [Bar(r.recipient, r.members) for r in rows],
        )
        if rows
        else None
    )
    return render(
        request,
        "console/recipients.html",
        title="Third-party recipients",
        caller=caller,
        recipients=rows,
        disclosures=workspace.list_disclosures(ctx.engine),
        exposure=exposure,
        svg=svg,
    )


@router.get("/remediation", name="page_console_remediation")
def remediation(
    request: Request,
    ctx: ContextDep,
    caller: Annotated[PageCaller, Depends(page_caller("page_console_remediation"))],
) -> Response:
    """Open and overdue remediation orders, and deletion notices."""
    orders = workspace.list_orders(ctx.engine)
    return render(
        request,
        "console/remediation.html",
        title="Remediation",
        caller=caller,
        overdue=[o for o in orders if o.overdue],
        pending=[o for o in orders if not o.overdue],
        notices=workspace.list_notices(ctx.engine),
    )


@router.get("/audit", name="page_console_audit")
def audit(
    request: Request,
    ctx: ContextDep,
    caller: Annotated[PageCaller, Depends(page_caller("page_console_audit"))],
) -> Response:
    """The audit log verified now, and its latest signed checkpoint."""
    try:
        public_key: str | None = workspace.log_public_key(ctx.engine, ctx.settings.signing_key_path)
    except (ConsentgateError, OSError):
        public_key = None
    return render(
        request,
        "console/audit.html",
        title="Audit log",
        caller=caller,
        audit=_audit(ctx),
        public_key=public_key,
    )
