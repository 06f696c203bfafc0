"""What the officer console shows that no other use case gives: consent rates per setting
and jurisdiction over time, and each build's exclusions by reason.

Consent rates are decided member by member with the same rule members see
(``consent.setting_status``: their latest choice, else the default of their jurisdiction at
that time), as known now, at ``points`` evenly spaced times from the first policy's
publication to now. That is a full pass over members x times x settings, so it covers at
most ``max_members`` members (the first by id) and says so (``members_counted`` of
``members_total``); the bulk ``report events`` export has every event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from consentgate import consent as core
from consentgate.errors import InvalidInput
from consentgate.store import ledger, registry
from consentgate.store import reports as store
from consentgate.timestamps import Clock, utcnow
from consentgate.workspace.dataset_files import manifest_of

__all__ = ["BuildExclusions", "ConsentRates", "RatePoint", "build_exclusions", "consent_rates"]

ON_STATES = frozenset({"granted", "default_on"})


@dataclass(frozen=True, slots=True)
class RatePoint:
    at: datetime
    setting: str
    jurisdiction: str
    members: int  # members in the jurisdiction at ``at`` to whom the setting is offered
    on: int  # of them, sharing (granted, or on by default)

    @property
    def rate(self) -> float:
        return self.on / self.members if self.members else 0.0


@dataclass(frozen=True, slots=True)
class ConsentRates:
    times: tuple[datetime, ...]
    settings: tuple[str, ...]
    labels: dict[str, str]
    jurisdictions: tuple[str, ...]
    points: tuple[RatePoint, ...]
    members_counted: int
    members_total: int

    def series(self, setting: str, jurisdiction: str) -> list[RatePoint]:
        return [p for p in self.points if p.setting == setting and p.jurisdiction == jurisdiction]


def _event(r: Any) -> core.ConsentEvent:
    return core.ConsentEvent(
        event_id=r.event_id,
        member_id=r.member_id,
        type=core.EventType(r.type),
        setting=r.setting,
        policy_version=r.policy_version,
        effective_at=r.effective_at,
        recorded_at=r.recorded_at,
        covers_from=r.covers_from,
        source=r.source,
    )


def consent_rates(
    engine: sa.Engine, *, points: int = 6, max_members: int = 5_000, now: Clock = utcnow
) -> ConsentRates:
    """The share of members sharing, per setting and jurisdiction, at ``points`` times."""
    known = now()
    points = max(2, min(points, 24))
    with engine.connect() as conn:
        history = ledger.load_history(conn)
        total = store.count_members(conn)
        ids = ledger.first_member_ids(conn, max_members)
        places = ledger.jurisdiction_histories(conn, ids)
        rows = store.events_of_members(conn, ids)
    if not history.versions:
        return ConsentRates((), (), {}, (), (), 0, total)
    start = min(v.published_at for v in history.versions)
    step = (known - start) / (points - 1)
    times = tuple(start + step * i for i in range(points))
    settings = tuple(dict.fromkeys(s.id for v in history.versions for s in v.settings))
    labels = {s.id: s.label for v in history.versions for s in v.settings}
    members = [core.Member(m, tuple(places.get(m, ()))) for m in ids]
    events = {m: [_event(r) for r in rows.get(m, [])] for m in ids}
    counts: dict[tuple[datetime, str, str], list[int]] = {}
    for t in times:
        policy = history.in_force(t)
        offered = [s.id for s in policy.settings] if policy else []
        for member in members:
            where = member.jurisdiction_at(t, known)
            if where is None:
                continue
            mine = events[member.member_id]
            for sid in offered:
                d = core.setting_status(
                    member, sid, events=mine, history=history, at=t, known_at=known
                )
                cell = counts.setdefault((t, sid, where), [0, 0])
                cell[0] += 1
                cell[1] += d.state in ON_STATES
    found = tuple(
        RatePoint(t, sid, where, n, on) for (t, sid, where), (n, on) in sorted(counts.items())
    )
    return ConsentRates(
        times=times,
        settings=settings,
        labels=labels,
        jurisdictions=tuple(sorted({p.jurisdiction for p in found})),
        points=found,
        members_counted=len(ids),
        members_total=total,
    )


@dataclass(frozen=True, slots=True)
class BuildExclusions:
    dataset_id: str
    use: str
    recipient: str
    as_of: datetime
    created_at: datetime
    status: str
    input: int
    included: int
    excluded: dict[str, int]  # reason -> records, only reasons that excluded something
    manifest_readable: bool


def build_exclusions(engine: sa.Engine) -> list[BuildExclusions]:
    """Every registered dataset with its records excluded by reason (from its manifest;
    a dataset whose manifest cannot be read shows its registered counts only)."""
    with engine.connect() as conn:
        rows = registry.list_datasets(conn)
    out = []
    for ds in rows:
        excluded: dict[str, int] = {}
        readable = True
        try:
            counts = manifest_of(ds)["counts"]
            excluded = {k: int(v) for k, v in sorted(counts["excluded"].items()) if int(v)}
        except (InvalidInput, OSError, KeyError, ValueError):  # purged or moved: shown
            readable = False
        out.append(
            BuildExclusions(
                dataset_id=ds["dataset_id"],
                use=ds["use"],
                recipient=ds["recipient"],
                as_of=ds["as_of"],
                created_at=ds["created_at"],
                status=ds["status"],
                input=int(ds["input_records"]),
                included=int(ds["records"]),
                excluded=excluded,
                manifest_readable=readable,
            )
        )
    return out
