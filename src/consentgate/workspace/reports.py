"""The member's access report (``report dsar``): their consents and history, and every
dataset, model, recipient and remediation order that concerns them, and nothing about
other members. (Named for what it is, so the ``dsar`` function keeps its name.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from consentgate import consent as core
from consentgate.errors import NotFound
from consentgate.store import ledger, registry
from consentgate.store import remediation as store
from consentgate.timestamps import Clock, format_timestamp, utcnow
from consentgate.workspace.remediation import is_overdue


def _ts(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


def dsar(engine: sa.Engine, member_id: str, *, now: Clock = utcnow) -> dict[str, Any]:
    """The member's access report (``report dsar``): consents and their history, the
    datasets, models and recipients that hold or held their data, and every remediation
    order opened for them, with its status. Nothing about other members."""
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
            {
                "setting": sid,
                "label": labels.get(sid, ""),
                "state": d.state,
                "covers_from": _ts(d.covers_from),
                "policy_version": d.policy_version,
            }
        )
    return {
        "member_id": member_id,
        "jurisdiction": member.jurisdiction_at(at, at),
        "jurisdictions": [
            {
                "jurisdiction": c.jurisdiction,
                "effective_at": _ts(c.effective_at),
                "recorded_at": _ts(c.recorded_at),
            }
            for c in member.jurisdictions
        ],
        "generated_at": format_timestamp(at),
        "consents": consents,
        "events": [
            {
                "event_id": e.event_id,
                "type": e.type.value,
                "setting": e.setting,
                "policy_version": e.policy_version,
                "effective_at": _ts(e.effective_at),
                "recorded_at": _ts(e.recorded_at),
                "covers_from": _ts(e.covers_from),
                "source": e.source,
            }
            for e in events
        ],
        "datasets": [
            {
                "dataset_id": h["dataset_id"],
                "use": h["use"],
                "recipient": h["recipient"],
                "as_of": _ts(h["as_of"]),
                "status": h["status"],
                "holds_now": h["status"] == "active",
                "as_author": h["as_author"],
                "as_participant": h["as_participant"],
                "shards": h["shards"],
            }
            for h in held
        ],
        "models": [
            {
                "model_id": m["model_id"],
                "status": m["status"],
                "unlearning": m["unlearning"],
                "deployed_to": m["deployed_to"],
                "datasets": m["via"],
            }
            for m in models
        ],
        "recipients": [
            {
                "recipient": d["recipient"],
                "dataset_id": d["dataset_id"],
                "disclosed_at": _ts(d["disclosed_at"]),
                "records": d["records"],
            }
            for d in disclosed
        ],
        "remediation": [
            {
                "order_id": o["order_id"],
                "kind": o["kind"],
                "action": o["action"],
                "target": o["target"],
                "shard": o["shard"],
                "trigger": o["trigger"],
                "legal_basis": o["legal_basis"],
                "deadline": _ts(o["deadline"]),
                "status": o["status"],
                "overdue": is_overdue(o, at),
                "opened_at": _ts(o["opened_at"]),
                "closed_at": _ts(o["closed_at"]),
                "notice_id": o["notice_id"],
                "notice_status": notices[o["notice_id"]]["status"]
                if o["notice_id"] in notices
                else None,
            }
            for o in orders
        ],
    }
