"""A consent event as an ISO/IEC TS 27560-shaped consent record (JSON).

ISO/IEC TS 27560:2023 ("Privacy technologies — Consent record information structure")
describes what a consent record holds; its text is not public, so this follows the
information structure as the W3C Data Privacy Vocabulary's consent-record guidance maps
it (record, PII principal, notice, processing, event, status) and calls the result
"27560-shaped", not certified conformant. Every field comes from the ledger: the event,
the policy version it cites (or that is in force at its time) and the setting's scopes.
The signed, log-proven receipt (``consentgate receipt``) stays the proof; this record
says the same thing in the shape other consent-management tools read.
"""

from __future__ import annotations

from typing import Any

from consentgate.consent import ConsentEvent, EventType
from consentgate.policy import PolicyHistory, PolicyVersion
from consentgate.timestamps import format_timestamp

__all__ = ["RECORD_SCHEMA", "consent_record"]

RECORD_SCHEMA = "consentgate-iso27560-shaped/1"
_EVENT_TYPE = {
    EventType.GRANT: ("ConsentGiven", "given"),
    EventType.DENY: ("ConsentRefused", "refused"),
    EventType.WITHDRAW: ("ConsentWithdrawn", "withdrawn"),
    EventType.ERASE: ("ConsentWithdrawn", "withdrawn"),
}


def _version_for(event: ConsentEvent, history: PolicyHistory) -> PolicyVersion | None:
    if event.policy_version:
        return history.get(event.policy_version)
    return history.in_force(event.effective_at)


def consent_record(
    event: ConsentEvent,
    history: PolicyHistory,
    *,
    jurisdiction: str | None,
    controller: str | None = None,
) -> dict[str, Any]:
    """The record of one consent event."""
    version = _version_for(event, history)
    setting = version.setting(event.setting) if version and event.setting else None
    event_type, status = _EVENT_TYPE[event.type]
    processing: dict[str, Any] | None = None
    if setting is not None:
        processing = {
            "purposes": [{"purpose": setting.use, "label": setting.label}],
            "legal_basis": "consent",
            "pii_categories": list(setting.categories),
            "recipients": list(setting.recipients),
        }
    return {
        "schema_version": RECORD_SCHEMA,
        "record_id": event.event_id,
        "pii_principal_id": event.member_id,
        "controller": controller,
        "jurisdiction": jurisdiction,
        "notice": {
            "policy_version": version.version if version else None,
            "policy_sha256": version.sha256 if version else None,
            "published_at": format_timestamp(version.published_at) if version else None,
            "setting": event.setting,
        },
        "processing": processing,
        "event": {
            "type": event_type,
            "time": format_timestamp(event.effective_at),
            "recorded_at": format_timestamp(event.recorded_at),
            "method": event.source,
            "covers_data_from": format_timestamp(event.covers_from) if event.covers_from else None,
            "evidence": dict(event.evidence) if event.evidence else None,
        },
        "consent_status": status,
    }
