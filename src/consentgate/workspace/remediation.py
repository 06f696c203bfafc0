"""Remediation orders: deadline rules from the settings, listing by deadline, opening
orders for a policy change, and the order facts the other use cases share (members,
overdue, notices not sent yet).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from consentgate.errors import NotFound
from consentgate.remediation.deadlines import DeadlineRules
from consentgate.store import ledger
from consentgate.store import remediation as store
from consentgate.timestamps import Clock, utcnow


def rules_from(settings: Any) -> DeadlineRules:
    """Deadline rules from ``consentgate.config.Settings`` (the CLI's edge)."""
    return DeadlineRules(
        withdrawal_days=settings.withdrawal_deadline_days,
        erasure_days=settings.erasure_deadline_days,
        opt_out_business_days=settings.opt_out_deadline_business_days,
    )


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


def list_orders(
    engine: sa.Engine,
    *,
    overdue: bool = False,
    include_done: bool = False,
    now: Clock = utcnow,
) -> list[dict[str, Any]]:
    """Remediation orders by deadline (``remediation``): pending ones, or every one; with
    ``overdue`` only pending orders past their deadline. Each lists its member ids."""
    at = now()
    with engine.connect() as conn:
        rows = store.list_orders(conn, pending=not include_done or overdue)
        members = store.order_members(conn, [r["order_id"] for r in rows])
    out = []
    for r in rows:
        late = is_overdue(r, at)
        if overdue and not late:
            continue
        out.append({**r, "overdue": late, "member_ids": members[r["order_id"]]})
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
        return store.open_for_policy(conn, old, new, at=at, rules=rules or DeadlineRules())
