"""Builders for policies and events with fixed defaults (they go through the real parsers)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from consentgate.consent import ConsentEvent, EventType
from consentgate.policy import PolicyVersion, parse_policy

T0 = datetime(2024, 1, 1, tzinfo=UTC)
_seq = itertools.count(1)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def setting(
    sid: str = "ai_posts",
    *,
    use: str = "train_ai_system",
    categories: tuple[str, ...] = ("user.content.public",),
    recipients: tuple[str, ...] = ("first_party",),
    defaults: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "id": sid,
        "label": sid.replace("_", " "),
        "use": use,
        "categories": list(categories),
        "recipients": list(recipients),
        "defaults": defaults or {"*": "off"},
    }


def policy_doc(
    version: str = "v1",
    *,
    published: float = 0,
    effective: float = 40,
    settings: list[dict[str, Any]] | None = None,
    recipients: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "version": version,
        "published_at": day(published).isoformat(),
        "effective_from": day(effective).isoformat(),
        "recipients": recipients or [],
        "settings": settings if settings is not None else [setting()],
    }


def make_policy(version: str = "v1", **kw: Any) -> PolicyVersion:
    return parse_policy(
        yaml.safe_dump(policy_doc(version, **kw), sort_keys=False), name=f"{version}.yaml"
    )


def policy_yaml(version: str = "v1", **kw: Any) -> str:
    return yaml.safe_dump(policy_doc(version, **kw), sort_keys=False)


def event(
    etype: str = "grant",
    *,
    member: str = "m1",
    setting_id: str | None = "ai_posts",
    version: str | None = "v1",
    effective: float = 50,
    recorded: float | None = None,
    covers_from: float | None = None,
    seq: int | None = None,
    event_id: str | None = None,
) -> ConsentEvent:
    n = next(_seq) if seq is None else seq
    return ConsentEvent(
        event_id=event_id or f"e{n}",
        member_id=member,
        type=EventType(etype),
        setting=None if etype == "erase" else setting_id,
        policy_version=version if etype == "grant" else None,
        effective_at=day(effective),
        recorded_at=day(effective if recorded is None else recorded),
        covers_from=day(covers_from) if covers_from is not None else None,
        seq=n,
    )
