"""Remediation orders: deadline rules from the settings, opening orders when events are
stored or a policy version drops a scope, listing by deadline, and the order facts the
other use cases share (members, overdue, notices not sent yet).

Which event opens which order is decided by the pure core (``consentgate.remediation``:
``plan``, ``batch``, ``drop_notified``); the store only reads holdings and writes orders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from consentgate import consent as core
from consentgate.errors import NotFound
from consentgate.policy import PolicyVersion
from consentgate.remediation.deadlines import DeadlineRules
from consentgate.remediation.orders import (
    Holding,
    ModelFacts,
    Request,
    Trigger,
    batch,
    drop_notified,
    dropped_scopes,
    notice_members,
    plan,
    request_for_recipient,
    requests_for_model,
)
from consentgate.store import ledger
from consentgate.store import remediation as store
from consentgate.timestamps import Clock, utcnow
from consentgate.workspace.results import from_row


def is_overdue(order: Mapping[str, Any], at: datetime) -> bool:
    """Not done and past its deadline at ``at``."""
    return bool(order["status"] != "done" and order["deadline"] < at)


def members_of(conn: sa.Connection, order_ids: Sequence[str]) -> set[str]:
    """Every member id listed by these orders."""
    return {m for ms in store.order_members(conn, order_ids).values() for m in ms}


def unsent_notice_orders(conn: sa.Connection) -> list[dict[str, Any]]:
    """Pending notice orders whose deletion notice is not written yet."""
    return [
        o for o in store.list_orders(conn, kind="notice", pending=True) if o["status"] == "open"
    ]


@dataclass(frozen=True, slots=True)
class Order:
    """A remediation order (DESIGN.md "Remediation"): ``kind`` (dataset, model, notice),
    ``action`` on ``target`` (a dataset id, model id or recipient), the ``shard`` it is
    limited to, its deadline and legal basis, status (open, sent, done), whether it is
    ``overdue``, and the members it is for."""

    order_id: str
    kind: str
    action: str
    target: str
    shard: int | None
    status: str
    open_key: str | None
    triggers: Any
    legal_basis: Any
    datasets: tuple[str, ...]
    members: int
    opened_at: datetime
    deadline: datetime
    closed_at: datetime | None
    notice_id: str | None
    evidence: Any
    overdue: bool
    member_ids: tuple[str, ...]


def list_orders(
    engine: sa.Engine,
    *,
    overdue: bool = False,
    include_done: bool = False,
    now: Clock = utcnow,
) -> list[Order]:
    """Remediation orders by deadline (``remediation``): pending ones, or every one; with
    ``overdue`` only pending orders past their deadline. Each lists its member ids.

    >>> from consentgate import workspace
    >>> from consentgate.store.engine import make_engine
    >>> engine = make_engine("sqlite://")
    >>> _ = workspace.init_workspace(engine)
    >>> workspace.list_orders(engine, include_done=True)
    []
    """
    at = now()
    with engine.connect() as conn:
        rows = store.list_orders(conn, pending=not include_done or overdue)
        members = store.order_members(conn, [r["order_id"] for r in rows])
    out = []
    for r in rows:
        late = is_overdue(r, at)
        if overdue and not late:
            continue
        out.append(from_row(Order, r, overdue=late, member_ids=members[r["order_id"]]))
    return out


def open_for_policy(
    engine: sa.Engine,
    old_version: str | None,
    new_version: str,
    *,
    rules: DeadlineRules | None = None,
    now: Clock = utcnow,
) -> list[str]:
    """Orders for the scopes ``new_version`` drops against ``old_version`` (to be called
    when a version is published; returns the order ids)."""
    at = now()
    with engine.begin() as conn:
        history = ledger.load_history(conn)
        new = history.get(new_version)
        if new is None:
            raise NotFound("policy version", new_version)
        old = history.get(old_version) if old_version else None
        if old_version and old is None:
            raise NotFound("policy version", old_version)
        return open_orders_for_policy(conn, old, new, at=at, rules=rules or DeadlineRules())


_TRIGGER_TYPES = (core.EventType.WITHDRAW, core.EventType.DENY, core.EventType.ERASE)


def _was_allowed(conn: sa.Connection, event: core.ConsentEvent, history: Any, at: datetime) -> bool:
    """Whether the member had consent (a grant or a default-on, in the jurisdiction they
    then had) for some scope of a denial just before it took effect."""
    others = [
        e for e in ledger.member_events(conn, event.member_id) if e.event_id != event.event_id
    ]
    member = ledger.get_member(conn, event.member_id)
    if member is None:
        return False
    return any(
        core.effective_consent(
            member, scope, events=others, history=history, at=event.effective_at, known_at=at
        ).allowed
        for scope in core.event_scopes(event, history)
    )


def open_for_events(
    conn: sa.Connection,
    events: Sequence[core.ConsentEvent],
    *,
    at: datetime,
    rules: DeadlineRules | None = None,
) -> list[str]:
    """Open (or merge into) remediation orders for newly stored events; returns order ids.

    Cheap when nothing is registered or no event is a withdrawal, denial or erasure.
    """
    relevant = [e for e in events if e.type in _TRIGGER_TYPES]
    if not relevant or not store.any_dataset(conn):
        return []
    holdings = store.member_holdings(conn, (e.member_id for e in relevant))
    relevant = [e for e in relevant if e.member_id in holdings]
    if not relevant:
        return []
    history = ledger.load_history(conn)
    members = [e.member_id for e in relevant]
    jurisdictions = ledger.jurisdictions_at(conn, members, at=at, known_at=at)
    triggers = []
    for e in relevant:
        jur = jurisdictions.get(e.member_id, "*")
        if e.type is core.EventType.DENY and not _was_allowed(conn, e, history, at):
            continue
        triggers.append(
            Trigger(
                kind=e.type.value,
                member_id=e.member_id,
                event_id=e.event_id,
                scopes=core.event_scopes(e, history),
                jurisdiction=jur,
                received_at=max(e.recorded_at, e.effective_at),
            )
        )
    return open_for_triggers(conn, triggers, holdings, at=at, rules=rules or DeadlineRules())


def open_for_triggers(
    conn: sa.Connection,
    triggers: Sequence[Trigger],
    holdings: Mapping[str, Sequence[Holding]],
    *,
    at: datetime,
    rules: DeadlineRules,
) -> list[str]:
    """Plan, batch and write the orders of ``triggers`` (holdings keyed by member id; a
    policy trigger, with no member, finds its holdings under "")."""
    dataset_ids = {h.dataset_id for hs in holdings.values() for h in hs}
    models = store.active_models_by_dataset(conn, dataset_ids)
    disclosed = store.disclosure_recipients(conn, dataset_ids)
    requests: list[Request] = []
    for trigger in triggers:
        requests += plan(
            trigger,
            holdings.get(trigger.member_id or "", ()),
            models=models,
            disclosures=disclosed,
            rules=rules,
        )
    wanted = notice_members(requests)
    done = store.notified(conn, wanted) if wanted else set()
    return store.write_orders(conn, batch(drop_notified(requests, done)), at=at)


def open_orders_for_policy(
    conn: sa.Connection,
    old: PolicyVersion | None,
    new: PolicyVersion,
    *,
    at: datetime,
    rules: DeadlineRules,
) -> list[str]:
    """Orders for every dataset, model and recipient of a scope ``new`` no longer declares.

    Consent for a dropped scope ends when ``new`` takes effect; the orders are due
    ``withdrawal_days`` after that. Each covers the whole dataset (no member list).
    """
    scopes = dropped_scopes(old, new)
    if not scopes:
        return []
    trigger = Trigger("policy", None, None, scopes, "*", max(at, new.effective_from))
    return open_for_triggers(conn, [trigger], {"": store.all_holdings(conn)}, at=at, rules=rules)


def follow_dataset_orders(
    conn: sa.Connection,
    dataset_id: str,
    *,
    model: ModelFacts | None = None,
    recipient: str | None = None,
    at: datetime,
) -> list[str]:
    """When a model is registered on, or a recipient receives, a dataset version whose
    members have dataset orders (open or done), open the matching model or notice orders:
    that model or recipient now holds their data too. Deadlines are the members' own."""
    whos = store.dataset_order_members(conn, dataset_id)
    if not whos:
        return []
    holdings = store.member_holdings(conn, whos)
    requests: list[Request] = []
    for member_id, who in whos.items():
        held = next((h for h in holdings.get(member_id, ()) if h.dataset_id == dataset_id), None)
        if held is None:
            continue
        if model is not None:
            shards = set(held.shards) if held.shards is not None else None
            requests += requests_for_model(model, shards, dataset_id, who)
        if recipient is not None:
            requests.append(request_for_recipient(recipient, dataset_id, who))
    wanted = notice_members(requests)
    done = store.notified(conn, wanted) if wanted else set()
    return store.write_orders(conn, batch(drop_notified(requests, done)), at=at)
