"""The member privacy center: the session's member's own settings (with a toggle that
records the choice and shows its signed receipt), a notice of policy changes that need a
decision, their history, where their data went, downloads of everything held about them,
and verifying it all themselves offline.

Every page is about the session's member only (no member id in any path) and calls
``consentgate.workspace`` use cases. A request carrying ``Sec-GPC: 1`` first has the Global
Privacy Control signal honoured (``workspace.honour_gpc``), which the settings page shows.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from consentgate import consent, workspace
from consentgate.consent import ConsentEvent
from consentgate.encoding import jsonable
from consentgate.policy import Change
from consentgate.remediation.dsar import render_html
from consentgate.service.deps import ContextDep, PageParams, ServiceContext, page
from consentgate.service.errors import PAGE_TAG
from consentgate.service.pages import CsrfField, PageCaller, check_csrf, page_caller, render
from consentgate.timestamps import format_timestamp, utcnow
from consentgate.workspace.context import rules_from

router = APIRouter(prefix="/me", tags=[PAGE_TAG], include_in_schema=False)

STATES = {
    "granted": "You allowed this",
    "denied": "You refused this",
    "withdrawn": "You withdrew your consent",
    "erased": "You asked for erasure: nothing of yours is used",
    "default_on": "Allowed by default (you have not chosen)",
    "default_off": "Not allowed by default (you have not chosen)",
    "not_offered": "Not offered under the policy in force",
}
CHOICES = {"grant": "allowed", "deny": "refused", "withdraw": "withdrawn", "erase": "erasure"}
DID = {
    "grant": "allowed",
    "deny": "refused",
    "withdraw": "withdrew consent for",
    "erase": "asked for erasure of",
}
SOURCES = {
    "web": "this privacy center",
    "api": "the platform, on your behalf",
    "import": "imported from the platform's records",
    "gpc": "your browser's Global Privacy Control signal",
    "cli": "an operator",
    "signal": "a machine-readable opt-out signal",
}


def plain_change(change: Change, labels: dict[str, str]) -> str:
    """A policy change in plain words (presentation only: the change is ``policy.diff``'s)."""
    what = labels.get(change.subject, change.subject)
    words = {
        "setting_added": f"A new setting: “{what}”.",
        "setting_removed": f"The setting “{what}” is removed.",
        "scope_added": f"“{what}” will cover more: {change.detail.removeprefix('new scope ')}.",
        "scope_removed": f"“{what}” will cover less: {change.detail.removeprefix('scope removed ')}.",
        "default_on": f"“{what}” will be ON unless you say no ({change.detail}).",
        "default_off": f"“{what}” will be off unless you say yes ({change.detail}).",
        "label_changed": f"A setting is renamed: {change.detail}.",
        "recipient_added": f"A new company may receive data: {change.detail.removeprefix('new recipient ')}.",
        "recipient_removed": f"{change.subject} will no longer receive data.",
    }
    return words.get(change.kind, f"{change.subject}: {change.detail}.")


def _caller(route: str) -> Any:
    return Depends(page_caller(route))


def _gpc(request: Request, ctx: ServiceContext, who: PageCaller) -> list[ConsentEvent]:
    if request.headers.get("sec-gpc", "").strip() != "1":
        return []
    return workspace.honour_gpc(ctx.engine, who.member_id, rules=rules_from(ctx.settings))


CenterCaller = Annotated[PageCaller, _caller("page_privacy_center")]


@router.get("", name="page_privacy_center")
def privacy_center(request: Request, ctx: ContextDep, who: CenterCaller) -> Response:
    """Each setting in plain language with its state, default and policy version, a toggle
    for each, and a notice of any published policy version not yet in force."""
    honoured = _gpc(request, ctx, who)
    mine = workspace.member_settings(ctx.engine, who.member_id)
    history = workspace.member_history(ctx.engine, who.member_id)
    gpc_events = {e.event_id for e in history if e.source == consent.GPC_SOURCE}
    upcoming = workspace.upcoming_policies(ctx.engine)
    labels = {s.setting: s.label for s in mine.settings}
    for u in upcoming:
        labels.update({s.id: s.label for s in u.policy.settings})
    # the member's latest choice citing each version, per setting (history is in order)
    decided = {
        (e.setting, e.policy_version): CHOICES.get(e.type.value, e.type.value) for e in history
    }
    # a new setting's scopes are part of "a new setting": not listed again one by one
    added = {
        u.policy.version: {c.subject for c in u.changes if c.kind == "setting_added"}
        for u in upcoming
    }
    notices = [
        {
            "version": u.policy.version,
            "effective_from": format_timestamp(u.policy.effective_from),
            "replaces": u.replaces.version if u.replaces else None,
            "changes": [
                {"text": plain_change(c, labels), "material": c.material}
                for c in u.changes
                if not (c.kind == "scope_added" and c.subject in added[u.policy.version])
            ],
            "to_decide": [
                {
                    "setting": sid,
                    "label": labels.get(sid, sid),
                    "decided": decided.get((sid, u.policy.version)),
                }
                for sid in u.to_decide
            ],
        }
        for u in upcoming
    ]
    return render(
        request,
        "member/settings.html",
        title="My privacy settings",
        caller=who,
        mine=mine,
        states=STATES,
        notices=notices,
        gpc_signal=request.headers.get("sec-gpc", "").strip() == "1",
        gpc_now=[labels.get(e.setting or "", e.setting) for e in honoured],
        gpc_events=gpc_events,
    )


ChoiceCaller = Annotated[PageCaller, _caller("page_record_choice")]


@router.post("/choices", name="page_record_choice")
def record_choice(
    request: Request,
    ctx: ContextDep,
    who: ChoiceCaller,
    csrf_token: CsrfField,
    setting: Annotated[str, Form(min_length=1, max_length=255)],
    choice: Annotated[Literal["grant", "deny", "withdraw"], Form()],
    policy_version: Annotated[str | None, Form(min_length=1, max_length=64)] = None,
) -> Response:
    """Record the member's choice (source ``web``), effective now, then show its receipt."""
    check_csrf(who, csrf_token)
    record = {
        "event_id": f"ev-{uuid.uuid4().hex}",
        "member_id": who.member_id,
        "type": choice,
        "setting": setting,
        "policy_version": policy_version,
        "effective_at": format_timestamp(utcnow()),
        "source": "web",
    }
    record = {k: v for k, v in record.items() if v is not None}
    event, _ = workspace.record_event(ctx.engine, record, rules=rules_from(ctx.settings))
    return RedirectResponse(f"/me/receipt?event_id={event.event_id}&recorded=1", status_code=303)


EventQuery = Annotated[str, Query(min_length=1, max_length=128)]
ReceiptCaller = Annotated[PageCaller, _caller("page_receipt")]


@router.get("/receipt", name="page_receipt")
def receipt(
    request: Request,
    ctx: ContextDep,
    who: ReceiptCaller,
    event_id: EventQuery,
    recorded: Annotated[int, Query(ge=0, le=1)] = 0,
) -> Response:
    """The signed receipt of one of the member's events, with how to check it."""
    issued = workspace.issue_receipt_proof(
        ctx.engine, ctx.settings.signing_key_path, who.member_id, event_id=event_id
    )
    event = next(
        e for e in workspace.member_history(ctx.engine, who.member_id) if e.event_id == event_id
    )
    labels = _labels(ctx)
    return render(
        request,
        "member/receipt.html",
        title="Your receipt",
        caller=who,
        recorded=bool(recorded),
        event=_event_view(event, labels),
        receipt=issued.text,
        leaf_index=issued.leaf_index,
        tree_size=issued.checkpoint.size,
    )


ReceiptFileCaller = Annotated[PageCaller, _caller("page_receipt_download")]


@router.get("/receipt/download", name="page_receipt_download")
def receipt_download(ctx: ContextDep, who: ReceiptFileCaller, event_id: EventQuery) -> Response:
    """The receipt as a file (c2sp.org/tlog-proof) to open in the offline verifier."""
    issued = workspace.issue_receipt_proof(
        ctx.engine, ctx.settings.signing_key_path, who.member_id, event_id=event_id
    )
    return _attachment(issued.text.encode(), "consentgate-receipt.tlog-proof", "text/plain")


HistoryCaller = Annotated[PageCaller, _caller("page_history")]


HISTORY_PAGE = 50  # events per page of the history


@router.get("/history", name="page_history")
def history(
    request: Request,
    ctx: ContextDep,
    who: HistoryCaller,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> Response:
    """Every choice recorded for the member, newest first, each with its receipt."""
    _gpc(request, ctx, who)
    labels = _labels(ctx)
    events = list(reversed(workspace.member_history(ctx.engine, who.member_id)))
    shown = page(events, PageParams(HISTORY_PAGE, offset), lambda e: _event_view(e, labels))
    return render(
        request,
        "member/history.html",
        title="History",
        caller=who,
        events=shown["items"],
        total=shown["total"],
        offset=offset,
        next_offset=shown["next_offset"],
        previous_offset=max(offset - HISTORY_PAGE, 0) if offset else None,
    )


DataCaller = Annotated[PageCaller, _caller("page_data")]


@router.get("/data", name="page_data")
def data(request: Request, ctx: ContextDep, who: DataCaller) -> Response:
    """Where my data went: datasets, recipients, models, and remediation with deadlines."""
    _gpc(request, ctx, who)
    report = workspace.dsar(ctx.engine, who.member_id)
    return render(request, "member/data.html", title="Where my data went", caller=who, r=report)


DatasetQuery = Annotated[str, Query(min_length=1, max_length=255)]
ProofCaller = Annotated[PageCaller, _caller("page_dataset_proof")]


@router.get("/data/proof", name="page_dataset_proof")
def dataset_proof(
    request: Request, ctx: ContextDep, who: ProofCaller, dataset_id: DatasetQuery
) -> Response:
    """Whether the member's data is in a dataset, with the signed proof of it to download
    and the member secret the offline verifier needs to tell the proof is about them."""
    issued = workspace.prove_member_tlog(
        ctx.engine, ctx.settings.signing_key_path, who.member_id, dataset_id
    )
    return render(
        request,
        "member/proof.html",
        title="Is my data in this dataset?",
        caller=who,
        dataset_id=dataset_id,
        present=issued.present,
        members_root=issued.members_root,
        member_secret=issued.member_secret_hex,
    )


ProofFileCaller = Annotated[PageCaller, _caller("page_dataset_proof_download")]


@router.get("/data/proof/download", name="page_dataset_proof_download")
def dataset_proof_download(
    ctx: ContextDep, who: ProofFileCaller, dataset_id: DatasetQuery
) -> Response:
    """The (non-)membership proof as a file (c2sp.org/tlog-proof) for the offline verifier."""
    issued = workspace.prove_member_tlog(
        ctx.engine, ctx.settings.signing_key_path, who.member_id, dataset_id
    )
    return _attachment(issued.text.encode(), "consentgate-dataset-proof.tlog-proof", "text/plain")


DownloadCaller = Annotated[PageCaller, _caller("page_download")]


@router.get("/download", name="page_download")
def download(request: Request, ctx: ContextDep, who: DownloadCaller) -> Response:
    """The downloads of everything held about the member."""
    _gpc(request, ctx, who)
    return render(request, "member/download.html", title="Download my data", caller=who)


ReportCaller = Annotated[PageCaller, _caller("page_report")]


@router.get("/download/report.{fmt}", name="page_report")
def report(ctx: ContextDep, who: ReportCaller, fmt: Literal["json", "html"]) -> Response:
    """The access report (``report dsar``) as JSON or as a self-contained HTML page."""
    doc = jsonable(workspace.dsar(ctx.engine, who.member_id))
    if fmt == "json":
        body = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
        return _attachment(body, "consentgate-my-data.json", "application/json")
    return _attachment(render_html(doc).encode(), "consentgate-my-data.html", "text/html")


VerifyCaller = Annotated[PageCaller, _caller("page_verify")]


@router.get("/verify", name="page_verify")
def verify(request: Request, ctx: ContextDep, who: VerifyCaller) -> Response:
    """How to check a receipt offline: the verifier file, the log's public key, receipts."""
    _gpc(request, ctx, who)
    labels = _labels(ctx)
    events = workspace.member_history(ctx.engine, who.member_id)
    return render(
        request,
        "member/verify.html",
        title="Verify it yourself",
        caller=who,
        public_key=workspace.log_public_key(ctx.engine, ctx.settings.signing_key_path),
        events=[_event_view(e, labels) for e in reversed(events)],
    )


KeyCaller = Annotated[PageCaller, _caller("page_log_key")]


@router.get("/verify/log-public-key.txt", name="page_log_key")
def log_key(ctx: ContextDep, who: KeyCaller) -> Response:
    """The log's public key, one line, as a file for the verifier."""
    key = workspace.log_public_key(ctx.engine, ctx.settings.signing_key_path)
    return _attachment((key + "\n").encode(), "consentgate-log-public-key.txt", "text/plain")


# --------------------------------------------------------------------------- helpers


def _labels(ctx: ServiceContext) -> dict[str, str]:
    history = workspace.policy_history(ctx.engine)
    return {s.id: s.label for v in history.versions for s in v.settings}


def _event_view(e: ConsentEvent, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "event_id": e.event_id,
        "type": e.type.value,
        "choice": CHOICES.get(e.type.value, e.type.value),
        "did": DID.get(e.type.value, e.type.value),
        "setting": e.setting,
        "label": labels.get(e.setting or "", e.setting or "all your data"),
        "policy_version": e.policy_version,
        "effective_at": format_timestamp(e.effective_at),
        "recorded_at": format_timestamp(e.recorded_at),
        "source": SOURCES.get(e.source or "", e.source),
        "gpc": e.source == consent.GPC_SOURCE,
    }


def _attachment(body: bytes, filename: str, media_type: str) -> Response:
    return Response(
        body,
        media_type=f"{media_type}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
