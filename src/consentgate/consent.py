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

``compute_snapshot`` evaluates the same rules set-based with numpy over every member and
category at once; ``effective_consent`` is the per-member form. Both are checked against a
brute-force reference model in the tests.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from consentgate.policy import PolicyHistory, PolicyVersion, Scope
from consentgate.snapshot import GRANTS_SCHEMA, MEMBERS_SCHEMA, WITHDRAWN_SCHEMA, ConsentSnapshot


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


# --------------------------------------------------------------------------- snapshot

_TS = pa.timestamp("us", tz="UTC")
EVENTS_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("member_id", pa.string()),
        ("type", pa.string()),
        ("setting", pa.string()),
        ("policy_version", pa.string()),
        ("effective_at", _TS),
        ("recorded_at", _TS),
        ("covers_from", _TS),
    ]
)
MOVES_SCHEMA = pa.schema(
    [
        ("member_id", pa.string()),
        ("jurisdiction", pa.string()),
        ("effective_at", _TS),
        ("recorded_at", _TS),
        ("seq", pa.int64()),
    ]
)
"""Jurisdiction changes after a member's first jurisdiction (``compute_snapshot``'s moves)."""

_NO, _YES, _WITHDRAWN = 0, 1, 2
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN = np.iinfo(np.int64).min


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


def _us(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1)


def _micros(column: pa.ChunkedArray | pa.Array, null: int) -> np.ndarray:
    """A timestamp column as int64 microseconds, nulls as ``null``."""
    values = column.cast(pa.int64())
    return np.asarray(values.fill_null(null).to_numpy(zero_copy_only=False), dtype=np.int64)


def compute_snapshot(
    *,
    members: pa.Table,
    events: pa.Table,
    history: PolicyHistory,
    use: str,
    recipient: str,
    as_of: datetime,
    known_at: datetime,
    moves: pa.Table | None = None,
) -> ConsentSnapshot:
    """Effective consent of every member for (use, category, recipient) at ``as_of``.

    ``members``: one row per member: ``member_id``, ``jurisdiction`` (its first recorded
    jurisdiction) and optionally ``effective_at`` (from when; null or absent: from the
    beginning) and ``recorded_at`` (when the system learned it; absent: always known). A
    member is in the snapshot when its first jurisdiction was recorded by ``known_at``.
    ``moves``: later jurisdiction changes (MOVES_SCHEMA). ``events``: EVENTS_SCHEMA. Rows
    of either not visible at (as_of, known_at) are ignored; any order.

    Set-based: numpy over member × category matrices, no Python loop per member or event;
    only members with a visible move take a per-member path (a few, as a rule).
    """
    categories = history.scope_categories(use, recipient)
    policy = history.in_force(as_of)
    members = _known_members(members, known_at)
    member_ids = members.column("member_id").combine_chunks()
    n, k = len(member_ids), len(categories)
    state = np.full((n, k), _NO, dtype=np.int8)
    start = np.zeros((n, k), dtype=np.int64)
    scopes = [Scope(use, c, recipient) for c in categories]

    # Member index of every event and move row: one hash of the member ids for both.
    ev = _visible(events, as_of, known_at, EVENTS_SCHEMA) if len(events) and n else None
    mv = _visible(moves, as_of, known_at, MOVES_SCHEMA) if moves is not None and n else None
    n_ev = len(ev) if ev is not None else 0
    owners = [
        chunk.cast(pa.string())
        for t in (ev, mv)
        if t is not None
        for chunk in t.column("member_id").chunks
    ]
    m_idx = (
        np.asarray(
            pc.index_in(pa.concat_arrays(owners), value_set=member_ids)
            .fill_null(-1)
            .to_numpy(zero_copy_only=False),
            dtype=np.int64,
        )
        if owners
        else np.zeros(0, dtype=np.int64)
    )

    if policy is not None and n and k:
        _apply_defaults(members, history, scopes, policy, as_of, state, start)
        if mv is not None and len(mv):
            _apply_moved_defaults(
                members, mv, m_idx[n_ev:], history, scopes, policy, as_of, known_at, state, start
            )

    erased = np.zeros(n, dtype=bool)
    if ev is not None and len(ev):
        ev_idx = m_idx[:n_ev]
        types = ev["type"].to_numpy(zero_copy_only=False)
        erase_rows = (types == EventType.ERASE.value) & (ev_idx >= 0)
        erased[ev_idx[erase_rows]] = True
        if k:
            _apply_events(ev, ev_idx, history, scopes, policy, state, start)
    state[erased, :] = _NO

    yes_m, yes_c = np.nonzero(state == _YES)
    cat_arr = pa.array(categories, pa.string())
    grants = pa.table(
        {
            "member_id": member_ids.take(pa.array(yes_m)),
            "category": cat_arr.take(pa.array(yes_c)),
            "covers_from": pa.array(start[yes_m, yes_c], pa.int64()).cast(
                GRANTS_SCHEMA.field("covers_from").type
            ),
        },
        schema=GRANTS_SCHEMA,
    )
    wd_m, wd_c = np.nonzero(state == _WITHDRAWN)
    withdrawn = pa.table(
        {"member_id": member_ids.take(pa.array(wd_m)), "category": cat_arr.take(pa.array(wd_c))},
        schema=WITHDRAWN_SCHEMA,
    )
    members_out = pa.table(
        {"member_id": member_ids, "erased": pa.array(erased)}, schema=MEMBERS_SCHEMA
    )
    return ConsentSnapshot(
        use=use,
        recipient=recipient,
        as_of=as_of,
        known_at=known_at,
        categories=categories,
        policy_versions=tuple(v.version for v in history.versions if v.effective_from <= as_of),
        grants=grants,
        members=members_out,
        withdrawn=withdrawn,
    )


def _known_members(members: pa.Table, known_at: datetime) -> pa.Table:
    if "recorded_at" not in members.column_names:
        return members
    known = pc.less_equal(members["recorded_at"], pa.scalar(known_at, _TS))
    return members if pc.all(known).as_py() else members.filter(known)


def _visible(table: pa.Table, at: datetime, known_at: datetime, schema: pa.Schema) -> pa.Table:
    """Rows with ``effective_at ≤ at`` and ``recorded_at ≤ known_at``."""
    return table.filter(
        pc.and_(
            pc.less_equal(table["effective_at"], pa.scalar(at, schema.field("effective_at").type)),
            pc.less_equal(
                table["recorded_at"], pa.scalar(known_at, schema.field("recorded_at").type)
            ),
        )
    )


def _apply_defaults(
    members: pa.Table,
    history: PolicyHistory,
    scopes: list[Scope],
    policy: PolicyVersion,
    as_of: datetime,
    state: np.ndarray,
    start: np.ndarray,
) -> None:
    """Defaults from each member's first jurisdiction: per distinct jurisdiction (few) and
    category, the start of the default-on run, broadcast to members; a first jurisdiction
    that starts at a date covers data from that date on, and none before it."""
    jur = members.column("jurisdiction").combine_chunks().dictionary_encode()
    codes = np.asarray(jur.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    names = jur.dictionary.to_pylist()
    k = len(scopes)
    run_on = np.zeros((len(names) + 1, k), dtype=bool)  # last row: no jurisdiction
    run_start = np.zeros((len(names) + 1, k), dtype=np.int64)
    for j_code, j_name in enumerate(names):
        for c_idx, scope in enumerate(scopes):
            if not policy.declares(scope):
                continue
            run = history.default_run_start(scope, j_name, as_of)
            if run is not None:
                run_on[j_code, c_idx] = True
                run_start[j_code, c_idx] = _us(run)
    if not run_on.any():
        return
    on = run_on[codes]
    begins = run_start[codes]
    if "effective_at" in members.column_names and members["effective_at"].null_count < len(members):
        since = _micros(members["effective_at"], _MIN)
        on &= (since <= _us(as_of))[:, None]
        np.maximum(begins, since[:, None], out=begins)
    state[on] = _YES
    start[on] = begins[on]


def _apply_moved_defaults(
    members: pa.Table,
    moves: pa.Table,
    m_idx: np.ndarray,
    history: PolicyHistory,
    scopes: list[Scope],
    policy: PolicyVersion,
    as_of: datetime,
    known_at: datetime,
    state: np.ndarray,
    start: np.ndarray,
) -> None:
    """Defaults of members with a visible move: ``default_on_from`` for every category at
    once, one member at a time, in integer microseconds with categories as bit masks and
    each (version, jurisdiction)'s defaults computed once (tens of microseconds a member).
    ``moves`` holds only visible rows."""
    per_member: dict[int, list[tuple[int, int, int, str]]] = {}
    effective = _micros(moves["effective_at"], _MIN)
    recorded = _micros(moves["recorded_at"], _MIN)
    seqs = moves["seq"].to_numpy(zero_copy_only=False)
    jurs = moves["jurisdiction"].to_pylist()
    for row in np.flatnonzero(m_idx >= 0):
        per_member.setdefault(int(m_idx[row]), []).append(
            (int(effective[row]), int(recorded[row]), int(seqs[row]), jurs[row])
        )
    moved = sorted(per_member)
    firsts = members.take(pa.array(moved, pa.int64()))
    first_jur = firsts["jurisdiction"].to_pylist()
    first_from = (
        _micros(firsts["effective_at"], _MIN).tolist()
        if "effective_at" in firsts.column_names
        else [_MIN] * len(moved)
    )
    t = _us(as_of)
    versions = [v for v in history.versions if v.effective_from <= as_of]
    v_from = [_us(v.effective_from) for v in versions]
    last = len(versions) - 1
    k = len(scopes)
    on_cache: dict[tuple[int, str], int] = {}

    def on(v_idx: int, jurisdiction: str) -> int:
        """Categories (bits) that version ``v_idx`` defaults on for ``jurisdiction``."""
        key = (v_idx, jurisdiction)
        mask = on_cache.get(key)
        if mask is None:
            mask = sum(
                1 << c
                for c, scope in enumerate(scopes)
                if versions[v_idx].default_on(scope, jurisdiction)
            )
            on_cache[key] = mask
        return mask

    out_m: list[int] = []
    out_c: list[int] = []
    out_start: list[int] = []
    for i, m in enumerate(moved):
        state[m, :] = _NO
        start[m, :] = 0
        rows = [(first_from[i], _MIN, _MIN, first_jur[i]), *per_member[m]]
        member_stays: list[tuple[int, str]] = []  # as ``stays``, in microseconds
        for since, _, _, jur in sorted(r for r in rows if r[0] <= t):
            if member_stays and member_stays[-1][0] == since:
                member_stays.pop()
            if not member_stays or member_stays[-1][1] != jur:
                member_stays.append((since, jur))
        if not member_stays or last < 0:
            continue
        current = member_stays[-1][1]
        full = on(last, current)
        if not full:
            continue
        run = [v_from[last]] * k
        alive = full
        for v_idx in range(last - 1, -1, -1):
            alive &= on(v_idx, current)
            if not alive:
                break
            for c in range(k):
                if alive >> c & 1:
                    run[c] = v_from[v_idx]
        points = sorted({*v_from, *(p for p, _ in member_stays if p != _MIN)}, reverse=True)
        stay_starts = [p for p, _ in member_stays]
        stretch = list(run)
        alive = full
        for point in points:
            v_idx = bisect.bisect_right(v_from, point) - 1
            j_idx = bisect.bisect_right(stay_starts, point) - 1
            alive &= on(v_idx, member_stays[j_idx][1]) if v_idx >= 0 and j_idx >= 0 else 0
            if not alive:
                break
            for c in range(k):
                if alive >> c & 1:
                    stretch[c] = point
        for c in range(k):
            if full >> c & 1:
                out_m.append(m)
                out_c.append(c)
                out_start.append(max(run[c], stretch[c]))
    if out_m:
        state[out_m, out_c] = _YES
        start[out_m, out_c] = out_start


def _apply_events(
    ev: pa.Table,
    m_idx: np.ndarray,
    history: PolicyHistory,
    scopes: list[Scope],
    policy: PolicyVersion | None,
    state: np.ndarray,
    start: np.ndarray,
) -> None:
    """Each (member, setting) stands by its latest event; the strictest standing wins.

    Over the standings that speak for a (member, category): a refusal (deny or withdraw)
    → no, as the latest refusal says (``_WITHDRAWN`` or ``_NO``), whether or not a policy is
    in force; else grants → yes from the earliest ``covers_from`` if the policy in force
    declares the category; else the default already in ``state`` stands.
    """
    k = len(scopes)
    # Which categories each (type, setting, version) key speaks for: a tiny table.
    keys = pc.binary_join_element_wise(
        ev["type"], ev["setting"].fill_null(""), ev["policy_version"].fill_null(""), "\x1f"
    )
    key_dict = (
        keys.combine_chunks().dictionary_encode()
        if isinstance(keys, pa.ChunkedArray)
        else keys.dictionary_encode()
    )
    key_codes = np.asarray(key_dict.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    key_texts = key_dict.dictionary.to_pylist()
    speaks = np.zeros((len(key_texts), k), dtype=bool)
    kind = np.zeros(len(key_texts), dtype=np.int8)  # 0 erase, 1 grant, 2 deny, 3 withdraw
    setting_names: dict[str, int] = {}
    setting_of_key = np.zeros(len(key_texts), dtype=np.int64)
    for code, text in enumerate(key_texts):
        etype, setting, version = text.split("\x1f")
        setting_of_key[code] = setting_names.setdefault(setting, len(setting_names))
        if etype == EventType.ERASE.value:
            continue
        kind[code] = {"grant": 1, "deny": 2, "withdraw": 3}[etype]
        probe = ConsentEvent(
            "", "", EventType(etype), setting, version or None, datetime.min, datetime.min
        )
        ev_scopes = event_scopes(probe, history)
        for c_idx, scope in enumerate(scopes):
            speaks[code, c_idx] = any(sc.covers(scope) for sc in ev_scopes)

    eff = ev["effective_at"].cast(pa.int64()).to_numpy(zero_copy_only=False)
    rec = ev["recorded_at"].cast(pa.int64()).to_numpy(zero_copy_only=False)
    seq = ev["seq"].to_numpy(zero_copy_only=False)
    # Each (member, setting)'s latest event: its standing (erasures stand apart).
    rows = np.flatnonzero((m_idx >= 0) & (kind[key_codes] > 0))
    if not len(rows):
        return
    member, setting = m_idx[rows], setting_of_key[key_codes[rows]]
    order = np.lexsort((seq[rows], rec[rows], eff[rows], setting, member))
    rows, member, setting = rows[order], member[order], setting[order]
    last = np.ones(len(rows), dtype=bool)
    last[:-1] = (member[1:] != member[:-1]) | (setting[1:] != setting[:-1])
    rows = rows[last]
    # Standings × the categories they speak for.
    st_idx, cats = np.nonzero(speaks[key_codes[rows]])
    if not len(st_idx):
        return
    rows = rows[st_idx]
    member, kinds = m_idx[rows], kind[key_codes[rows]]
    grant = kinds == 1
    if grant.any() and policy is not None:
        g_rows, g_member, g_cats = rows[grant], member[grant], cats[grant]
        cov = ev["covers_from"].cast(pa.int64())
        cov_np = np.where(
            pc.is_null(cov).to_numpy(zero_copy_only=False),
            eff,
            cov.fill_null(0).to_numpy(zero_copy_only=False),
        )[g_rows]
        order = np.lexsort((cov_np, g_cats, g_member))  # earliest covers_from first
        g_member, g_cats, cov_np = g_member[order], g_cats[order], cov_np[order]
        first = np.ones(len(g_member), dtype=bool)
        first[1:] = (g_member[1:] != g_member[:-1]) | (g_cats[1:] != g_cats[:-1])
        g_member, g_cats, cov_np = g_member[first], g_cats[first], cov_np[first]
        declared = np.array([policy.declares(s) for s in scopes], dtype=bool)
        state[g_member, g_cats] = np.where(declared[g_cats], _YES, _NO)
        start[g_member, g_cats] = np.where(declared[g_cats], cov_np, 0)
    elif grant.any():
        state[member[grant], cats[grant]] = _NO
    refuse = ~grant
    if refuse.any():
        r_rows, r_member, r_cats = rows[refuse], member[refuse], cats[refuse]
        order = np.lexsort((seq[r_rows], rec[r_rows], eff[r_rows], r_cats, r_member))
        r_rows, r_member, r_cats = r_rows[order], r_member[order], r_cats[order]
        last = np.ones(len(r_rows), dtype=bool)
        last[:-1] = (r_member[1:] != r_member[:-1]) | (r_cats[1:] != r_cats[:-1])
        r_rows, r_member, r_cats = r_rows[last], r_member[last], r_cats[last]
        withdraw = kind[key_codes[r_rows]] == 3
        state[r_member, r_cats] = np.where(withdraw, _WITHDRAWN, _NO)
        start[r_member, r_cats] = 0


def events_table(events: Sequence[ConsentEvent]) -> pa.Table:
    """Build an EVENTS_SCHEMA table from event values (tests and small callers)."""
    return pa.table(
        {
            "seq": [e.seq for e in events],
            "member_id": [e.member_id for e in events],
            "type": [e.type.value for e in events],
            "setting": [e.setting for e in events],
            "policy_version": [e.policy_version for e in events],
            "effective_at": [e.effective_at for e in events],
            "recorded_at": [e.recorded_at for e in events],
            "covers_from": [e.covers_from for e in events],
        },
        schema=EVENTS_SCHEMA,
    )
