"""A deliberately naive reference model of the consent semantics, for property tests.

Written from the text of docs/semantics.md, independently of consentgate.consent: plain
loops, no indexes, no shortcuts, every "at time x" question answered by scanning everything.
Slow, obviously correct.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from consentgate.consent import ConsentEvent, EventType
from consentgate.policy import PolicyVersion, Scope


@dataclass(frozen=True)
class Residence:
    """One recorded jurisdiction: from ``effective`` (None: from the beginning) on."""

    jurisdiction: str
    effective: datetime | None
    recorded: datetime
    seq: int


def _key_covers(parent: str, child: str) -> bool:
    return parent == child or child.startswith(parent + ".")


def _scope_covers(a: Scope, b: Scope) -> bool:
    return (
        _key_covers(a.use, b.use)
        and _key_covers(a.category, b.category)
        and a.recipient == b.recipient
    )


def _setting_covers(st: object, s: Scope) -> bool:
    return any(
        _scope_covers(Scope(st.use, c, r), s)  # type: ignore[attr-defined]
        for c in st.categories  # type: ignore[attr-defined]
        for r in st.recipients  # type: ignore[attr-defined]
    )


def _in_force(versions: list[PolicyVersion], t: datetime) -> PolicyVersion | None:
    candidates = [v for v in versions if v.effective_from <= t]
    return max(candidates, key=lambda v: v.effective_from) if candidates else None


def _declares(v: PolicyVersion, s: Scope) -> bool:
    return any(_setting_covers(st, s) for st in v.settings)


def _default(st_defaults: dict[str, bool], jur: str) -> bool:
    if jur in st_defaults:
        return st_defaults[jur]
    head = jur.split("-")[0]
    if head in st_defaults:
        return st_defaults[head]
    return st_defaults.get("*", False)


def _version_defaults_on(v: PolicyVersion | None, s: Scope, jur: str | None) -> bool:
    if v is None or jur is None:
        return False
    covering = [st for st in v.settings if _setting_covers(st, s)]
    if not covering:
        return False
    return all(_default(dict(st.defaults), jur) for st in covering)


def _grant_covers(e: ConsentEvent, s: Scope, versions: list[PolicyVersion]) -> bool:
    for v in versions:
        if v.version == e.policy_version:
            for st in v.settings:
                if st.id == e.setting:
                    return _setting_covers(st, s)
    return False


def _setting_ever_covers(sid: str, s: Scope, versions: list[PolicyVersion]) -> bool:
    return any(st.id == sid and _setting_covers(st, s) for v in versions for st in v.settings)


def _later(a: ConsentEvent, b: ConsentEvent) -> bool:
    return (a.effective_at, a.recorded_at, a.seq) > (b.effective_at, b.recorded_at, b.seq)


def jurisdiction_at(residences: list[Residence], x: datetime, k: datetime) -> str | None:
    """The jurisdiction in force at x as known at k (None before the first one)."""
    best: Residence | None = None
    for r in residences:
        if r.recorded > k or (r.effective is not None and r.effective > x):
            continue
        if best is None:
            best = r
            continue
        mine = (r.effective is not None, r.effective or x, r.recorded, r.seq)
        theirs = (best.effective is not None, best.effective or x, best.recorded, best.seq)
        if mine > theirs:
            best = r
    return best.jurisdiction if best else None


def reference_consent(
    residences: list[Residence],
    s: Scope,
    t: datetime,
    k: datetime,
    events: list[ConsentEvent],
    versions: list[PolicyVersion],
) -> tuple[bool, datetime | None, str]:
    """(allowed, covers_from, kind) where kind is erased/grant/deny/withdraw/default/none."""
    visible = [e for e in events if e.effective_at <= t and e.recorded_at <= k]
    if any(e.type == EventType.ERASE for e in visible):
        return False, None, "erased"
    # Each setting's own latest event.
    standing: dict[str, ConsentEvent] = {}
    for e in visible:
        if e.type == EventType.ERASE or e.setting is None:
            continue
        if e.setting not in standing or _later(e, standing[e.setting]):
            standing[e.setting] = e
    refusals = [
        e
        for sid, e in standing.items()
        if e.type in (EventType.DENY, EventType.WITHDRAW) and _setting_ever_covers(sid, s, versions)
    ]
    grants = [
        e for e in standing.values() if e.type == EventType.GRANT and _grant_covers(e, s, versions)
    ]
    if refusals:
        latest = refusals[0]
        for e in refusals[1:]:
            if _later(e, latest):
                latest = e
        return False, None, latest.type.value
    p = _in_force(versions, t)
    if p is None:
        return False, None, "none"
    if grants:
        if not _declares(p, s):
            return False, None, "grant"
        return True, min(e.covers_from or e.effective_at for e in grants), "grant"
    if not _declares(p, s):
        return False, None, "none"
    here = jurisdiction_at(residences, t, k)
    if not _version_defaults_on(p, s, here):
        return False, None, "default"
    # (a) the unbroken run of versions defaulting s on for the jurisdiction at t.
    ordered = sorted([v for v in versions if v.effective_from <= t], key=lambda v: v.effective_from)
    run = ordered[-1].effective_from
    for v in reversed(ordered):
        if not _version_defaults_on(v, s, here):
            break
        run = v.effective_from
    # (b) the unbroken stretch during which the default was on where the member then was.
    instants = {v.effective_from for v in versions if v.effective_from <= t}
    instants |= {
        r.effective
        for r in residences
        if r.effective is not None and r.effective <= t and r.recorded <= k
    }
    stretch = max(instants)
    for x in sorted(instants, reverse=True):
        if not _version_defaults_on(_in_force(versions, x), s, jurisdiction_at(residences, x, k)):
            break
        stretch = x
    return True, max(run, stretch), "default"
