"""A deliberately naive reference model of DESIGN.md's consent semantics, for property tests.

Written from the text of DESIGN.md, independently of consentgate.consent: plain loops, no
indexes, no shortcuts. Slow, obviously correct.
"""

from __future__ import annotations

from datetime import datetime

from consentgate.consent import ConsentEvent, EventType
from consentgate.policy import PolicyVersion, Scope


def _key_covers(parent: str, child: str) -> bool:
    return parent == child or child.startswith(parent + ".")


def _scope_covers(a: Scope, b: Scope) -> bool:
    return (
        _key_covers(a.use, b.use)
        and _key_covers(a.category, b.category)
        and a.recipient == b.recipient
    )


def _in_force(versions: list[PolicyVersion], t: datetime) -> PolicyVersion | None:
    candidates = [v for v in versions if v.effective_from <= t]
    return max(candidates, key=lambda v: v.effective_from) if candidates else None


def _declares(v: PolicyVersion, s: Scope) -> bool:
    return any(
        _scope_covers(Scope(st.use, c, r), s)
        for st in v.settings
        for c in st.categories
        for r in st.recipients
    )


def _default(st_defaults: dict[str, bool], jur: str) -> bool:
    if jur in st_defaults:
        return st_defaults[jur]
    head = jur.split("-")[0]
    if head in st_defaults:
        return st_defaults[head]
    return st_defaults.get("*", False)


def _version_defaults_on(v: PolicyVersion, s: Scope, jur: str) -> bool:
    covering = [
        st
        for st in v.settings
        if any(_scope_covers(Scope(st.use, c, r), s) for c in st.categories for r in st.recipients)
    ]
    if not covering:
        return False
    return all(_default(dict(st.defaults), jur) for st in covering)


def _event_covers(e: ConsentEvent, s: Scope, versions: list[PolicyVersion]) -> bool:
    if e.type == EventType.GRANT:
        for v in versions:
            if v.version == e.policy_version:
                for st in v.settings:
                    if st.id == e.setting:
                        return any(
                            _scope_covers(Scope(st.use, c, r), s)
                            for c in st.categories
                            for r in st.recipients
                        )
        return False
    if e.type in (EventType.DENY, EventType.WITHDRAW):
        for v in versions:
            for st in v.settings:
                if st.id == e.setting and any(
                    _scope_covers(Scope(st.use, c, r), s)
                    for c in st.categories
                    for r in st.recipients
                ):
                    return True
    return False


def reference_consent(
    jur: str,
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
    p = _in_force(versions, t)
    if p is None:
        return False, None, "none"
    covering = [e for e in visible if _event_covers(e, s, versions)]
    if covering:
        latest = covering[0]
        for e in covering[1:]:
            if (e.effective_at, e.recorded_at, e.seq) > (
                latest.effective_at,
                latest.recorded_at,
                latest.seq,
            ):
                latest = e
        if latest.type == EventType.GRANT:
            if _declares(p, s):
                return True, latest.covers_from or latest.effective_at, "grant"
            return False, None, "grant"
        return False, None, latest.type.value
    if not _declares(p, s):
        return False, None, "none"
    ordered = sorted([v for v in versions if v.effective_from <= t], key=lambda v: v.effective_from)
    if not _version_defaults_on(ordered[-1], s, jur):
        return False, None, "default"
    start = ordered[-1].effective_from
    for v in reversed(ordered):
        if _version_defaults_on(v, s, jur):
            start = v.effective_from
        else:
            break
    return True, start, "default"
