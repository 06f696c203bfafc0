"""The member's access report (``report dsar``): their consents and history, and every
dataset, model, recipient and remediation order that concerns them, and nothing about
other members. (Named for what it is, so the ``dsar`` function keeps its name.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from consentgate import consent as core
from consentgate.errors import NotFound
from consentgate.store import ledger, registry
from consentgate.store import remediation as store
from consentgate.timestamps import Clock, utcnow
from consentgate.workspace.remediation import is_overdue
from consentgate.workspace.results import from_row


@dataclass(frozen=True, slots=True)
class ReportConsent:
    setting: str
    label: str
    state: str
    covers_from: datetime | None
    policy_version: str | None


@dataclass(frozen=True, slots=True)
class ReportJurisdiction:
    jurisdiction: str
    effective_at: datetime | None
    recorded_at: datetime | None


@dataclass(frozen=True, slots=True)
class ReportEvent:
    event_id: str
    type: str
    setting: str | None
    policy_version: str | None
    effective_at: datetime
    recorded_at: datetime | None
    covers_from: datetime | None
    source: str


@dataclass(frozen=True, slots=True)
class ReportDataset:
    dataset_id: str
    use: str
    recipient: str
    as_of: datetime
    status: str
    holds_now: bool
    as_author: int
    as_participant: int
    shards: tuple[int, ...] | None


@dataclass(frozen=True, slots=True)
class ReportModel:
    model_id: str
    status: str
    unlearning: str
    deployed_to: tuple[str, ...]
    datasets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReportRecipient:
    recipient: str
    dataset_id: str
    disclosed_at: datetime
    records: int


@dataclass(frozen=True, slots=True)
class ReportOrder:
    order_id: str
    kind: str
    action: str
    target: str
    shard: int | None
    trigger: Any
    legal_basis: Any
    deadline: datetime
    status: str
    overdue: bool
    opened_at: datetime
    closed_at: datetime | None
    notice_id: str | None
    notice_status: str | None


@dataclass(frozen=True, slots=True)
class AccessReport:
    """The member's access report (``dsar``); ``consentgate.remediation.dsar.render_html``
    renders its JSON form as a page."""

    member_id: str
    jurisdiction: str | None
    jurisdictions: tuple[ReportJurisdiction, ...]
    generated_at: datetime
    consents: tuple[ReportConsent, ...]
    events: tuple[ReportEvent, ...]
    datasets: tuple[ReportDataset, ...]
    models: tuple[ReportModel, ...]
    recipients: tuple[ReportRecipient, ...]
    remediation: tuple[ReportOrder, ...]


def dsar(engine: sa.Engine, member_id: str, *, now: Clock = utcnow) -> AccessReport:
    """The member's access report (``report dsar``): consents and their history, the
    datasets, models and recipients that hold or held their data, and every remediation
    order opened for them, with its status. Nothing about other members.

    >>> from consentgate import workspace
    >>> from consentgate.store.engine import make_engine
    >>> engine = make_engine("sqlite://")
    >>> _ = workspace.init_workspace(engine)
    >>> _ = workspace.import_members(engine, [{"member_id": "m-1", "jurisdiction": "EU"}])
    >>> report = workspace.dsar(engine, "m-1")
    >>> report.jurisdiction, report.datasets
    ('EU', ())
    """
    at = now()
    with engine.connect() as conn:
        member = ledger.get_member(conn, member_id)
        if member is None:
            raise NotFound("member", member_id)
        history = ledger.load_history(conn)
        events = ledger.member_events(conn, member_id)
        held = registry.member_impact(conn, member_id)
        dataset_ids = [h["dataset_id"] for h in held]
        models = store.models_trained_on(conn, dataset_ids)
        disclosed = store.list_disclosures(conn, dataset_ids)
        orders = store.member_orders(conn, member_id)
        notices = {n["notice_id"]: n for n in store.list_notices(conn)}
    latest = history.latest()
    settings = (
        list(
            dict.fromkeys(
                [*(s.id for s in latest.settings), *(e.setting for e in events if e.setting)]
            )
        )
        if latest
        else []
    )
    labels = {s.id: s.label for v in history.versions for s in v.settings}
    consents = []
    for sid in settings:
        d = core.setting_status(member, sid, events=events, history=history, at=at, known_at=at)
        consents.append(
            ReportConsent(sid, labels.get(sid, ""), d.state, d.covers_from, d.policy_version)
        )
    return AccessReport(
        member_id=member_id,
        jurisdiction=member.jurisdiction_at(at, at),
        jurisdictions=tuple(
            ReportJurisdiction(c.jurisdiction, c.effective_at, c.recorded_at)
            for c in member.jurisdictions
        ),
        generated_at=at,
        consents=tuple(consents),
        events=tuple(
            ReportEvent(
                e.event_id,
                e.type.value,
                e.setting,
                e.policy_version,
                e.effective_at,
                e.recorded_at,
                e.covers_from,
                e.source,
            )
            for e in events
        ),
        datasets=tuple(from_row(ReportDataset, h, holds_now=h["status"] == "active") for h in held),
        models=tuple(from_row(ReportModel, m, datasets=m["via"]) for m in models),
        recipients=tuple(from_row(ReportRecipient, d) for d in disclosed),
        remediation=tuple(
            from_row(
                ReportOrder,
                o,
                overdue=is_overdue(o, at),
                notice_status=notices[o["notice_id"]]["status"]
                if o["notice_id"] in notices
                else None,
            )
            for o in orders
        ),
    )
