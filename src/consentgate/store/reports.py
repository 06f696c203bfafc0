"""Queries for the bulk reports: read-only, in keyset-paged chunks so that a report over
millions of rows holds one chunk in memory at a time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from consentgate.store import tables as t

CHUNK = 5_000


def dataset_member_chunks(
    conn: sa.Connection, dataset_id: str, *, chunk: int = CHUNK
) -> Iterator[list[dict[str, Any]]]:
    """The dataset's members (member_id, as_author, as_participant, shards) by member id,
    ``chunk`` at a time."""
    m = t.dataset_members.c
    after: str | None = None
    while True:
        q = (
            sa.select(m.member_id, m.as_author, m.as_participant, m.shards)
            .where(m.dataset_id == dataset_id)
            .order_by(m.member_id)
            .limit(chunk)
        )
        if after is not None:
            q = q.where(m.member_id > after)
        rows = [dict(r._mapping) for r in conn.execute(q)]
        if not rows:
            return
        yield rows
        after = rows[-1]["member_id"]


def snapshot_policy_versions(
    conn: sa.Connection, snapshot_sha256s: Sequence[str]
) -> dict[str, list[str]]:
    """The policy versions each snapshot was taken under."""
    c = t.snapshots.c
    if not snapshot_sha256s:
        return {}
    q = sa.select(c.sha256, c.policy_versions).where(c.sha256.in_(sorted(set(snapshot_sha256s))))
    return {r.sha256: list(r.policy_versions or []) for r in conn.execute(q)}


def disclosures(
    conn: sa.Connection,
    *,
    recipient: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Disclosures (with their dataset's use and snapshot), by time, optionally filtered."""
    d, ds = t.disclosures.c, t.datasets.c
    q = (
        sa.select(
            d.disclosure_id,
            d.dataset_id,
            d.recipient,
            d.disclosed_at,
            d.records,
            d.members,
            d.source,
            ds.use,
            ds.as_of,
            ds.snapshot_sha256,
            ds.status,
        )
        .join(t.datasets, ds.dataset_id == d.dataset_id)
        .order_by(d.recipient, d.disclosed_at, d.disclosure_id)
    )
    if recipient is not None:
        q = q.where(d.recipient == recipient)
    if since is not None:
        q = q.where(d.disclosed_at >= since)
    if until is not None:
        q = q.where(d.disclosed_at < until)
    return [dict(r._mapping) for r in conn.execute(q)]


def distinct_disclosed_members(conn: sa.Connection, dataset_ids: Sequence[str]) -> int:
    """How many distinct members the datasets hold together."""
    if not dataset_ids:
        return 0
    m = t.dataset_members.c
    inner = (
        sa.select(m.member_id)
        .where(m.dataset_id.in_(sorted(set(dataset_ids))))
        .distinct()
        .subquery()
    )
    return int(conn.execute(sa.select(sa.func.count()).select_from(inner)).scalar_one())


EVENT_COLUMNS = (
    "event_id",
    "member_id",
    "type",
    "setting",
    "policy_version",
    "effective_at",
    "recorded_at",
    "covers_from",
    "source",
)


def event_chunks(
    conn: sa.Connection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    setting: str | None = None,
    chunk: int = CHUNK,
) -> Iterator[list[sa.Row[Any]]]:
    """Consent events in the order recorded (``recorded_at`` in [since, until)), ``chunk``
    at a time."""
    c = t.consent_events.c
    after: int | None = None
    while True:
        q = (
            sa.select(c.seq, *(getattr(c, name) for name in EVENT_COLUMNS))
            .order_by(c.seq)
            .limit(chunk)
        )
        if after is not None:
            q = q.where(c.seq > after)
        if since is not None:
            q = q.where(c.recorded_at >= since)
        if until is not None:
            q = q.where(c.recorded_at < until)
        if setting is not None:
            q = q.where(c.setting == setting)
        rows = list(conn.execute(q))
        if not rows:
            return
        yield rows
        after = int(rows[-1].seq)


def events_of_members(conn: sa.Connection, member_ids: Sequence[str]) -> dict[str, list[Any]]:
    """Each member's consent events (rows of ``consent_events``) in recording order."""
    from consentgate.store.bulk import one_of

    c = t.consent_events.c
    out: dict[str, list[Any]] = {}
    for i in range(0, len(member_ids), CHUNK):
        chunk = list(member_ids[i : i + CHUNK])
        q = sa.select(t.consent_events).where(one_of(conn, c.member_id, chunk)).order_by(c.seq)
        for r in conn.execute(q):
            out.setdefault(r.member_id, []).append(r)
    return out


def count_members(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(t.members)).scalar_one())
