"""Consent semantics: events, jurisdictions, effective consent (bitemporal), setting status,
snapshots.

This is the rule set docs/semantics.md states, as pure functions over values. The store feeds
it events, members' jurisdiction histories and policy versions; nothing here touches a
database.

Events are append-only: ``grant``, ``deny``, ``withdraw`` for a setting, and ``erase``.
Each has ``effective_at`` (when it takes effect) and ``recorded_at`` (when the system
learned it); queries take ``at`` (t) and ``known_at`` (k). Among events with
``effective_at ≤ t`` and ``recorded_at ≤ k``, "latest" orders by ``effective_at``, then
``recorded_at``, then ingestion order (``seq``). A member's jurisdiction has the same kind of
history (``JurisdictionChange``), read at t as known at k.

* A grant freezes the scopes of its setting as its policy version defined them.
* A deny or withdraw covers every scope the setting has had in any version.
* Effective consent of member m for scope s at t (as known at k):
  1. erased at or before t → no;
  2. each setting covering s stands by its own latest event, else by its default, and the
     strictest standing wins: a covering setting whose latest event is a deny or withdraw →
     no; else grants whose frozen scopes cover s → yes from the earliest ``covers_from``, if
     the policy in force at t still declares s (a grant whose frozen scopes miss s counts as
     no event for s); else the default of the policy in force at t for m's jurisdiction at
     t, on only if every covering setting defaults on, covering data from the later of the
     start of the unbroken run of versions defaulting s on and the start of m's unbroken
     stretch in jurisdictions where s defaulted on (``default_on_from``);
  3. no setting covers s → no.

``consentgate.snapshot.compute_snapshot`` evaluates the same rules set-based with numpy over
every member and category at once; ``effective_consent`` is the per-member form. Both are
checked against a brute-force reference model in the tests. This module imports neither
numpy nor pyarrow, so that a per-member question (``consent status``) starts quickly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from consentgate.policy import PolicyHistory, PolicyVersion, Scope


class EventType(StrEnum):
    GRANT = "grant"
    DENY = "deny"
    WITHDRAW = "withdraw"
    ERASE = "erase"


SOURCES = ("web", "api", "import", "gpc", "cli", "signal")  # signal: issue 13 (AIPREF, TDMRep)

BEGINNING = datetime.min.replace(tzinfo=UTC)
"""Before every real time: the start of a member's first jurisdiction when none is given."""


@dataclass(frozen=True, slots=True)
class JurisdictionChange:
    """From ``effective_at`` on, the member's jurisdiction is ``jurisdiction``; the system
    learned it at ``recorded_at``. ``effective_at`` None: from the beginning (the member's
    first jurisdiction, no earlier one being known)."""

    jurisdiction: str
    effective_at: datetime | None
    recorded_at: datetime
    seq: int = 0
    source: str = "import"

    @property
    def starts(self) -> datetime:
        return BEGINNING if self.effective_at is None else self.effective_at

    @property
    def order_key(self) -> tuple[datetime, datetime, int]:
        return (self.starts, self.recorded_at, self.seq)

    def visible(self, at: datetime, known_at: datetime) -> bool:
        return self.starts <= at and self.recorded_at <= known_at


Stay = tuple[datetime, str]
"""(start, jurisdiction): the member is in ``jurisdiction`` from ``start`` to the next stay."""


def stays(changes: Iterable[JurisdictionChange], at: datetime, known_at: datetime) -> list[Stay]:
    """A member's jurisdictions up to ``at`` as known at ``known_at``, in time order, with
    consecutive stays in the same jurisdiction merged. Of two changes effective at the same
    instant the later recorded (then the later ``seq``) holds. Empty: none known yet."""
    out: list[Stay] = []
    for c in sorted((c for c in changes if c.visible(at, known_at)), key=lambda c: c.order_key):
        if out and out[-1][0] == c.starts:
            out.pop()
        if not out or out[-1][1] != c.jurisdiction:
            out.append((c.starts, c.jurisdiction))
    return out


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    jurisdictions: tuple[JurisdictionChange, ...]

    @classmethod
    def fixed(cls, member_id: str, jurisdiction: str) -> Member:
        """A member whose jurisdiction has always been ``jurisdiction``, known at all times."""
        return cls(member_id, (JurisdictionChange(jurisdiction, None, BEGINNING),))

    def stays(self, at: datetime, known_at: datetime) -> list[Stay]:
        return stays(self.jurisdictions, at, known_at)

    def jurisdiction_at(self, at: datetime, known_at: datetime) -> str | None:
        """m's jurisdiction at ``at`` as known at ``known_at``; None before the first one."""
        found = self.stays(at, known_at)
        return found[-1][1] if found else None


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    event_id: str
    member_id: str
    type: EventType
    setting: str | None
    policy_version: str | None
    effective_at: datetime
    recorded_at: datetime
    covers_from: datetime | None = None
    source: str = "api"
    evidence: Mapping[str, Any] | None = field(default=None, compare=False)
    seq: int = 0

    @property
    def order_key(self) -> tuple[datetime, datetime, int]:
        return (self.effective_at, self.recorded_at, self.seq)

    def visible(self, at: datetime, known_at: datetime) -> bool:
        return self.effective_at <= at and self.recorded_at <= known_at


def event_scopes(event: ConsentEvent, history: PolicyHistory) -> tuple[Scope, ...]:
    """The scopes an event speaks for: frozen for grants, every scope ever for deny/withdraw."""
    if event.type is EventType.GRANT:
        version = history.get(event.policy_version or "")
        setting = version.setting(event.setting or "") if version else None
        return setting.scopes if setting else ()
    if event.type in (EventType.DENY, EventType.WITHDRAW):
        return history.setting_scopes_ever(event.setting or "")
    return ()


@dataclass(frozen=True, slots=True)
class Decision:
    """Effective consent for one member and one scope."""

    allowed: bool
    state: str  # granted | denied | withdrawn | erased | default_on | default_off | not_offered
    covers_from: datetime | None = None
    event_id: str | None = None
    policy_version: str | None = None


def _latest(events: Iterable[ConsentEvent]) -> ConsentEvent | None:
    best: ConsentEvent | None = None
    for e in events:
        if best is None or e.order_key > best.order_key:
            best = e
    return best


def _erasure(
    events: Sequence[ConsentEvent], at: datetime, known_at: datetime
) -> ConsentEvent | None:
    return _latest(e for e in events if e.type is EventType.ERASE and e.visible(at, known_at))


def _refused(event: ConsentEvent) -> Decision:
    state = "denied" if event.type is EventType.DENY else "withdrawn"
    return Decision(False, state, None, event.event_id, event.policy_version)


def _standings(
    scope: Scope,
    events: Sequence[ConsentEvent],
    history: PolicyHistory,
    at: datetime,
    known_at: datetime,
) -> tuple[ConsentEvent | None, list[ConsentEvent]]:
    """(the latest refusal, the grants) among the standings of the settings covering
    ``scope``: each setting's own latest visible event, when it speaks for ``scope``."""
    latest: dict[str, ConsentEvent] = {}
    for e in events:
        if e.type is EventType.ERASE or e.setting is None or not e.visible(at, known_at):
            continue
        seen = latest.get(e.setting)
        if seen is None or e.order_key > seen.order_key:
            latest[e.setting] = e
    refusal: ConsentEvent | None = None
    grants: list[ConsentEvent] = []
    for e in latest.values():
        if not any(sc.covers(scope) for sc in event_scopes(e, history)):
            continue  # a grant whose frozen scopes miss s, or a setting that never covered s
        if e.type is EventType.GRANT:
            grants.append(e)
        elif refusal is None or e.order_key > refusal.order_key:
            refusal = e
    return refusal, grants


def default_on_from(
    history: PolicyHistory,
    member_stays: Sequence[Stay],
    at: datetime,
    on: Callable[[PolicyVersion, str], bool],
) -> datetime | None:
    """From when a default is on at ``at`` for a member with ``member_stays``; None when off.

    ``on(version, jurisdiction)`` says whether ``version`` defaults on for ``jurisdiction``.
    The answer is the later of (a) the ``effective_from`` of the first version of the
    unbroken run of versions, ending with the one in force at ``at``, that default on for
    the member's jurisdiction at ``at``, and (b) the start of the member's unbroken stretch,
    ending at ``at``, during which the version then in force defaulted on for the
    jurisdiction the member then had. Never earlier than either.
    """
    if not member_stays:
        return None
    current = member_stays[-1][1]
    run: datetime | None = None
    for v in history.versions:
        if v.effective_from > at:
            break
        run = (run or v.effective_from) if on(v, current) else None
    if run is None:
        return None
    # Walk back over the instants where the version or the jurisdiction changes.
    points = {v.effective_from for v in history.versions if v.effective_from <= at}
    points.update(start for start, _ in member_stays if start != BEGINNING)
    stretch = run
    for point in sorted(points, reverse=True):
        version = history.in_force(point)
        jurisdiction = next((j for start, j in reversed(member_stays) if start <= point), None)
        if version is None or jurisdiction is None or not on(version, jurisdiction):
            break
        stretch = point
    return max(run, stretch)


def _defaults_on(scope: Scope) -> Callable[[PolicyVersion, str], bool]:
    """``default_on_from``'s test for a scope: every setting covering it defaults on."""

    def on(version: PolicyVersion, jurisdiction: str) -> bool:
        return version.default_on(scope, jurisdiction)

    return on


def effective_consent(
    member: Member,
    scope: Scope,
    *,
    events: Sequence[ConsentEvent],
    history: PolicyHistory,
    at: datetime,
    known_at: datetime,
) -> Decision:
    """Effective consent of ``member`` for ``scope`` at ``at`` as known at ``known_at``.

    ``events`` are the member's events (any order).
    """
    erased = _erasure(events, at, known_at)
    if erased is not None:
        return Decision(False, "erased", event_id=erased.event_id)
    refusal, grants = _standings(scope, events, history, at, known_at)
    if refusal is not None:  # whether or not a policy is in force
        return _refused(refusal)
    policy = history.in_force(at)
    if policy is None:
        return Decision(False, "not_offered")
    if grants:
        best = min(grants, key=lambda e: (e.covers_from or e.effective_at, e.order_key))
        if not policy.declares(scope):
            return Decision(False, "not_offered", None, best.event_id, best.policy_version)
        covers_from = best.covers_from or best.effective_at
        return Decision(True, "granted", covers_from, best.event_id, best.policy_version)
    if not policy.declares(scope):
        return Decision(False, "not_offered", policy_version=policy.version)
    start = default_on_from(history, member.stays(at, known_at), at, _defaults_on(scope))
    if start is not None:
        return Decision(True, "default_on", start, policy_version=policy.version)
    return Decision(False, "default_off", policy_version=policy.version)


def setting_status(
    member: Member,
    setting_id: str,
    *,
    events: Sequence[ConsentEvent],
    history: PolicyHistory,
    at: datetime,
    known_at: datetime,
) -> Decision:
    """What a member sees for one setting: their own latest choice, else its default.

    A refusal shows whether or not the setting is offered at ``at`` (it is enforced either
    way); a grant or a default shows ``not_offered`` when the setting does not exist in the
    policy in force at ``at``. A default on shows from when it covers data, as
    ``effective_consent`` computes it for the setting alone.
    """
    erased = _erasure(events, at, known_at)
    if erased is not None:
        return Decision(False, "erased", event_id=erased.event_id)
    latest = _latest(
        e
        for e in events
        if e.setting == setting_id and e.type is not EventType.ERASE and e.visible(at, known_at)
    )
    if latest is not None and latest.type is not EventType.GRANT:
        return _refused(latest)
    policy = history.in_force(at)
    setting = policy.setting(setting_id) if policy else None
    if policy is None or setting is None:
        return Decision(False, "not_offered", policy_version=policy.version if policy else None)
    if latest is not None:
        covers_from = latest.covers_from or latest.effective_at
        return Decision(True, "granted", covers_from, latest.event_id, latest.policy_version)

    def on(version: PolicyVersion, jurisdiction: str) -> bool:
        s = version.setting(setting_id)
        return s is not None and s.default_for(jurisdiction)

    start = default_on_from(history, member.stays(at, known_at), at, on)
    if start is not None:
        return Decision(True, "default_on", start, policy_version=policy.version)
    return Decision(False, "default_off", policy_version=policy.version)


GPC_SOURCE = "gpc"
REFUSED_STATES = frozenset({"denied", "withdrawn", "erased"})


def gpc_denials(
    sharing_settings: Sequence[str], events: Sequence[ConsentEvent], states: Mapping[str, str]
) -> tuple[str, ...]:
    """The settings a Global Privacy Control signal (``Sec-GPC: 1``) records a deny for, with
    source ``gpc``: of ``sharing_settings`` (those sharing with third parties), each the
    member does not already refuse (``states``: its ``setting_status`` state) and has never
    had a ``gpc`` event for. The signal is honoured once per setting: a grant the member
    makes afterwards, knowingly, stands, and repeated requests record nothing more."""
    signalled = {e.setting for e in events if e.source == GPC_SOURCE}
    return tuple(
        s
        for s in sharing_settings
        if s not in signalled and states.get(s, "not_offered") not in REFUSED_STATES
    )
