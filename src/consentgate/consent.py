"""Consent semantics: events, effective consent (bitemporal), setting status, snapshots.

This is DESIGN.md's "Consent semantics" as pure functions over values. The store feeds it
events, members and policy versions; nothing here touches a database.

Events are append-only: ``grant``, ``deny``, ``withdraw`` for a setting, and ``erase``.
Each has ``effective_at`` (when it takes effect) and ``recorded_at`` (when the system
learned it); queries take ``at`` (t) and ``known_at`` (k). Among events with
``effective_at ≤ t`` and ``recorded_at ≤ k``, "latest" orders by ``effective_at``, then
``recorded_at``, then ingestion order (``seq``).

* A grant freezes the scopes of its setting as its policy version defined them.
* A deny or withdraw covers every scope the setting has had in any version.
* Effective consent of member m for scope s at t (as known at k):
  1. erased at or before t → no;
  2. the latest event whose scopes cover s: a grant → yes from its ``covers_from`` if the
     policy in force at t still declares s; a deny or withdraw → no;
  3. no such event → the default of the policy in force at t for m's jurisdiction; a default
     on covers data from the start of the unbroken run of versions defaulting s on.

``compute_snapshot`` evaluates the same rules set-based with numpy over every member and
category at once; ``effective_consent`` is the per-member form. Both are checked against a
brute-force reference model in the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from consentgate.policy import PolicyHistory, Scope
from consentgate.snapshot import GRANTS_SCHEMA, MEMBERS_SCHEMA, WITHDRAWN_SCHEMA, ConsentSnapshot


class EventType(StrEnum):
    GRANT = "grant"
    DENY = "deny"
    WITHDRAW = "withdraw"
    ERASE = "erase"


SOURCES = ("web", "api", "import", "gpc", "cli")


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    jurisdiction: str


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


def _from_event(latest: ConsentEvent, *, offered: bool) -> Decision:
    """The decision a member's latest event gives; a grant counts only while still offered."""
    if latest.type is EventType.GRANT:
        if not offered:
            return Decision(False, "not_offered", None, latest.event_id, latest.policy_version)
        covers_from = latest.covers_from or latest.effective_at
        return Decision(True, "granted", covers_from, latest.event_id, latest.policy_version)
    state = "denied" if latest.type is EventType.DENY else "withdrawn"
    return Decision(False, state, None, latest.event_id, latest.policy_version)


def effective_consent(
    member: Member,
    scope: Scope,
    *,
    events: Sequence[ConsentEvent],
    history: PolicyHistory,
    at: datetime,
    known_at: datetime,
) -> Decision:
    """DESIGN.md effective consent of ``member`` for ``scope`` at ``at`` as known at ``known_at``.

    ``events`` are the member's events (any order).
    """
    erased = _erasure(events, at, known_at)
    if erased is not None:
        return Decision(False, "erased", event_id=erased.event_id)
    policy = history.in_force(at)
    if policy is None:
        return Decision(False, "not_offered")
    latest = _latest(
        e
        for e in events
        if e.type is not EventType.ERASE
        and e.visible(at, known_at)
        and any(sc.covers(scope) for sc in event_scopes(e, history))
    )
    if latest is not None:
        return _from_event(latest, offered=policy.declares(scope))
    if not policy.declares(scope):
        return Decision(False, "not_offered", policy_version=policy.version)
    start = history.default_run_start(scope, member.jurisdiction, at)
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

    ``not_offered`` when the setting does not exist in the policy in force at ``at``.
    """
    erased = _erasure(events, at, known_at)
    if erased is not None:
        return Decision(False, "erased", event_id=erased.event_id)
    policy = history.in_force(at)
    setting = policy.setting(setting_id) if policy else None
    if policy is None or setting is None:
        return Decision(False, "not_offered", policy_version=policy.version if policy else None)
    latest = _latest(
        e
        for e in events
        if e.setting == setting_id and e.type is not EventType.ERASE and e.visible(at, known_at)
    )
    if latest is not None:
        return _from_event(latest, offered=True)
    if setting.default_for(member.jurisdiction):
        start: datetime | None = None
        for v in history.versions:
            if v.effective_from > at:
                break
            s = v.setting(setting_id)
            on = s is not None and s.default_for(member.jurisdiction)
            start = (start or v.effective_from) if on else None
        return Decision(True, "default_on", start, policy_version=policy.version)
    return Decision(False, "default_off", policy_version=policy.version)


# --------------------------------------------------------------------------- snapshot

EVENTS_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("member_id", pa.string()),
        ("type", pa.string()),
        ("setting", pa.string()),
        ("policy_version", pa.string()),
        ("effective_at", pa.timestamp("us", tz="UTC")),
        ("recorded_at", pa.timestamp("us", tz="UTC")),
        ("covers_from", pa.timestamp("us", tz="UTC")),
    ]
)

_NO, _YES, _WITHDRAWN = 0, 1, 2
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1)


def compute_snapshot(
    *,
    members: pa.Table,
    events: pa.Table,
    history: PolicyHistory,
    use: str,
    recipient: str,
    as_of: datetime,
    known_at: datetime,
) -> ConsentSnapshot:
    """Effective consent of every member for (use, category, recipient) at ``as_of``.

    ``members``: member_id, jurisdiction. ``events``: EVENTS_SCHEMA (any order; rows not
    visible at (as_of, known_at) are ignored). Set-based: numpy over member × category
    matrices, no Python loop per member or event.
    """
    categories = history.scope_categories(use, recipient)
    policy = history.in_force(as_of)
    member_ids = members.column("member_id").combine_chunks()
    n, k = len(member_ids), len(categories)
    state = np.full((n, k), _NO, dtype=np.int8)
    start = np.zeros((n, k), dtype=np.int64)
    scopes = [Scope(use, c, recipient) for c in categories]

    if policy is not None and n and k:
        # Defaults, per distinct jurisdiction (few), broadcast to members.
        jur = members.column("jurisdiction").combine_chunks().dictionary_encode()
        codes = np.asarray(jur.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        for j_code, j_name in enumerate(jur.dictionary.to_pylist()):
            rows = codes == j_code
            for c_idx, scope in enumerate(scopes):
                if not policy.declares(scope):
                    continue
                run = history.default_run_start(scope, j_name, as_of)
                if run is not None:
                    state[rows, c_idx] = _YES
                    start[rows, c_idx] = _us(run)

    erased = np.zeros(n, dtype=bool)
    if len(events) and n:
        ev = events.filter(
            pc.and_(
                pc.less_equal(
                    events["effective_at"],
                    pa.scalar(as_of, EVENTS_SCHEMA.field("effective_at").type),
                ),
                pc.less_equal(
                    events["recorded_at"],
                    pa.scalar(known_at, EVENTS_SCHEMA.field("recorded_at").type),
                ),
            )
        )
        m_idx = np.asarray(
            pc.index_in(ev["member_id"], value_set=member_ids)
            .fill_null(-1)
            .to_numpy(zero_copy_only=False),
            dtype=np.int64,
        )
        types = ev["type"].to_numpy(zero_copy_only=False)
        erase_rows = (types == EventType.ERASE.value) & (m_idx >= 0)
        erased[m_idx[erase_rows]] = True
        if k and policy is not None:
            _apply_events(ev, m_idx, history, scopes, policy, state, start)
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


def _apply_events(
    ev: pa.Table,
    m_idx: np.ndarray,
    history: PolicyHistory,
    scopes: list[Scope],
    policy: Any,
    state: np.ndarray,
    start: np.ndarray,
) -> None:
    """Overwrite defaults with each (member, category)'s latest covering event."""
    k = len(scopes)
    # Which categories each (type, setting, version) key covers: a tiny table.
    keys = pc.binary_join_element_wise(
        ev["type"], ev["setting"].fill_null(""), ev["policy_version"].fill_null(""), "\x1f"
    )
    key_dict = (
        keys.combine_chunks().dictionary_encode()
        if isinstance(keys, pa.ChunkedArray)
        else keys.dictionary_encode()
    )
    key_codes = np.asarray(key_dict.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    cover = np.zeros((len(key_dict.dictionary), k), dtype=bool)
    for code, text in enumerate(key_dict.dictionary.to_pylist()):
        etype, setting, version = text.split("\x1f")
        if etype == EventType.ERASE.value:
            continue
        probe = ConsentEvent(
            "", "", EventType(etype), setting, version or None, datetime.min, datetime.min
        )
        ev_scopes = event_scopes(probe, history)
        for c_idx, scope in enumerate(scopes):
            cover[code, c_idx] = any(sc.covers(scope) for sc in ev_scopes)
    declared = np.array([policy.declares(s) for s in scopes], dtype=bool)
    is_grant = np.array(
        [t.split("\x1f", 1)[0] == EventType.GRANT.value for t in key_dict.dictionary.to_pylist()],
        dtype=bool,
    )

    eff = ev["effective_at"].cast(pa.int64()).to_numpy(zero_copy_only=False)
    rec = ev["recorded_at"].cast(pa.int64()).to_numpy(zero_copy_only=False)
    seq = ev["seq"].to_numpy(zero_copy_only=False)
    cov = ev["covers_from"].cast(pa.int64()).fill_null(pa.scalar(None, pa.int64()))
    cov_np = np.where(
        pc.is_null(cov).to_numpy(zero_copy_only=False),
        eff,
        cov.fill_null(0).to_numpy(zero_copy_only=False),
    )
    valid = m_idx >= 0
    # Expand events × categories they cover.
    ev_rows, cat_cols = np.nonzero(cover[key_codes] & valid[:, None])
    if not len(ev_rows):
        return
    member = m_idx[ev_rows]
    order = np.lexsort((seq[ev_rows], rec[ev_rows], eff[ev_rows], cat_cols, member))
    member, cats, rows = member[order], cat_cols[order], ev_rows[order]
    last = np.ones(len(member), dtype=bool)
    last[:-1] = (member[1:] != member[:-1]) | (cats[1:] != cats[:-1])
    member, cats, rows = member[last], cats[last], rows[last]
    grant = is_grant[key_codes[rows]]
    withdraw = np.asarray(
        ev["type"].to_numpy(zero_copy_only=False)[rows] == EventType.WITHDRAW.value
    )
    new_state = np.where(grant & declared[cats], _YES, np.where(withdraw, _WITHDRAWN, _NO))
    state[member, cats] = new_state
    start[member, cats] = np.where(grant, cov_np[rows], 0)


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
