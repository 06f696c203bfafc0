"""The Global Privacy Control signal: a member's browser sending ``Sec-GPC: 1`` records a
deny, with source ``gpc``, of each setting of the policy in force that shares their data
with third parties, once per setting (``consent.gpc_denials`` decides which)."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from consentgate import consent as core
from consentgate.errors import Conflict
from consentgate.policy import shares_with_third_parties
from consentgate.remediation.deadlines import DeadlineRules
from consentgate.timestamps import Clock, format_timestamp, utcnow
from consentgate.workspace.consent import member_record, record_event


def _event_id(member_id: str, setting: str) -> str:
    digest = hashlib.sha256(f"{member_id}\0{setting}".encode()).hexdigest()[:32]
    return f"gpc-{digest}"


def honour_gpc(
    engine: sa.Engine,
    member_id: str,
    *,
    rules: DeadlineRules | None = None,
    now: Clock = utcnow,
) -> list[core.ConsentEvent]:
    """Record the denies a GPC signal asks for (effective now); the events recorded, none
    when the signal was already honoured. ``NotFound`` for an unknown member.

    Each deny has an event id derived from the member and the setting, so two requests
    racing record it once (the loser's ``Conflict`` is that same event)."""
    at = now()
    member, history, events = member_record(engine, member_id)
    policy = history.in_force(at)
    if policy is None:
        return []
    sharing = [s.id for s in policy.settings if shares_with_third_parties(s)]
    states = {
        sid: core.setting_status(
            member, sid, events=events, history=history, at=at, known_at=at
        ).state
        for sid in sharing
    }
    recorded = []
    for sid in core.gpc_denials(sharing, events, states):
        record = {
            "event_id": _event_id(member_id, sid),
            "member_id": member_id,
            "type": "deny",
            "setting": sid,
            "policy_version": policy.version,
            "effective_at": format_timestamp(at),
            "source": core.GPC_SOURCE,
        }
        try:
            event, created = record_event(engine, record, now=lambda: at, rules=rules)
        except Conflict:
            continue  # a concurrent request recorded this setting's deny first
        if created:
            recorded.append(event)
    return recorded
