"""Queries and writes for taxonomy keys, policy versions, members, consent events, snapshots.

Every write appends its audit entries in the same transaction (the caller's connection).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from consentgate import audit
from consentgate.consent import EVENTS_SCHEMA, ConsentEvent, EventType, Member
from consentgate.errors import Conflict
from consentgate.policy import PolicyHistory, PolicyVersion, parse_policy
from consentgate.snapshot import ConsentSnapshot
from consentgate.store import audit as store_audit
from consentgate.store import bulk
from consentgate.store import tables as t
from consentgate.taxonomy import Taxonomy, default_taxonomy

# --------------------------------------------------------------------------- taxonomy


def load_taxonomy(conn: sa.Connection) -> Taxonomy:
    rows = conn.execute(sa.select(t.taxonomy_keys.c.kind, t.taxonomy_keys.c.key)).all()
    return default_taxonomy().extend(
        categories=[r.key for r in rows if r.kind == "data_category"],
        uses=[r.key for r in rows if r.kind == "data_use"],
    )


def add_taxonomy_keys(
    conn: sa.Connection, *, categories: Iterable[str], uses: Iterable[str], at: datetime
) -> int:
    current = load_taxonomy(conn)
    current.extend(categories=categories, uses=uses)  # validates parents; raises if bad
    new = [
        {"kind": kind, "key": key, "added_at": at}
        for kind, keys, known in (
            ("data_category", categories, current.data_categories),
            ("data_use", uses, current.data_uses),
        )
        for key in sorted(set(keys))
        if key not in known
    ]
    if new:
        conn.execute(t.taxonomy_keys.insert(), new)
        secret = store_audit.workspace_secret(conn)
        store_audit.append(
            conn,
            [
                store_audit.audit_item(secret, audit.TAXONOMY_EXTENDED, "taxonomy_keys", r)
                for r in new
            ],
            at=at,
        )
    return len(new)


# --------------------------------------------------------------------------- policies


@functools.lru_cache(maxsize=256)
def _parsed(source: str, version: str) -> PolicyVersion:
    # Published versions are immutable, so parsing is cached by their exact text.
    return parse_policy(source, name=f"policy {version}")


def load_history(conn: sa.Connection) -> PolicyHistory:
    rows = conn.execute(sa.select(t.policy_versions.c.version, t.policy_versions.c.source)).all()
    return PolicyHistory.of(_parsed(r.source, r.version) for r in rows)


def policy_rows(conn: sa.Connection) -> list[sa.Row[Any]]:
    c = t.policy_versions.c
    return list(
        conn.execute(
            sa.select(
                c.version, c.published_at, c.effective_from, c.sha256, c.recorded_at
            ).order_by(c.effective_from)
        )
    )


def stored_policy_sha(conn: sa.Connection, version: str) -> str | None:
    c = t.policy_versions.c
    return conn.execute(sa.select(c.sha256).where(c.version == version)).scalar_one_or_none()


def insert_policy(conn: sa.Connection, policy: PolicyVersion, *, at: datetime) -> None:
    values = {
        "version": policy.version,
        "published_at": policy.published_at,
        "effective_from": policy.effective_from,
        "source": policy.source,
        "sha256": policy.sha256,
        "recorded_at": at,
    }
    try:
        conn.execute(t.policy_versions.insert().values(**values))
    except sa.exc.IntegrityError as exc:
        raise Conflict(f"policy version {policy.version!r} is already published") from exc
    secret = store_audit.workspace_secret(conn)
    store_audit.append(
        conn,
        [store_audit.audit_item(secret, audit.POLICY_PUBLISHED, "policy_versions", values)],
        at=at,
    )


# --------------------------------------------------------------------------- members


def existing_members(conn: sa.Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    c = t.members.c
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), 5000):
        chunk = list(ids[i : i + 5000])
        for r in conn.execute(sa.select(t.members).where(c.member_id.in_(chunk))):
            out[r.member_id] = dict(r._mapping)
    return out


def erased_member_ids(conn: sa.Connection, member_ids: Iterable[str] | None = None) -> set[str]:
    """Which of ``member_ids`` (default: all members) have an erase event recorded.

    Reads every erased member through the partial index ``ix_consent_events_erased``
    (erasures are few): cheaper than probing a million-member import id by id."""
    c = t.consent_events.c
    # a literal, as in the index's condition (a bound parameter would not match it)
    erase: sa.ColumnElement[str] = sa.literal_column("'erase'")
    erased = set(conn.execute(sa.select(c.member_id).where(c.type == erase).distinct()).scalars())
    return erased if member_ids is None or not erased else erased.intersection(member_ids)


def upsert_members(
    conn: sa.Connection, rows: Sequence[Mapping[str, Any]], *, at: datetime
) -> tuple[int, int, int, int]:
    """Insert new members (each with a key of their own), update changed ones, skip
    identical ones and erased ones (their details are never stored again):
    (added, updated, same, erased)."""
    fields = ("jurisdiction", "name", "email", "phone")
    erased = erased_member_ids(conn, (str(r["member_id"]) for r in rows))
    if erased:
        rows = [r for r in rows if r["member_id"] not in erased]
    have = existing_members(conn, [str(r["member_id"]) for r in rows])
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for r in rows:
        old = have.get(r["member_id"])
        if old is None:
            inserts.append(
                {"member_id": r["member_id"], **{f: r.get(f) for f in fields}, "created_at": at}
            )
        elif any(old[f] != r.get(f) for f in fields):
            updates.append({**old, **{f: r.get(f) for f in fields}})
    keys = store_audit.Keyring(conn)
    if inserts:
        bulk.insert_rows(conn, t.members, inserts)
        store_audit.create_member_keys(conn, [r["member_id"] for r in inserts], at=at, keys=keys)
    for u in updates:
        conn.execute(
            t.members.update()
            .where(t.members.c.member_id == u["member_id"])
            .values(**{f: u[f] for f in fields})
        )
    keys.load(u["member_id"] for u in updates)
    items = [
        store_audit.audit_item(keys, audit.MEMBER_IMPORTED, "members", r)
        for r in (*inserts, *updates)
    ]
    store_audit.append(conn, items, at=at)
    same = len(rows) - len(inserts) - len(updates)
    return len(inserts), len(updates), same, len(erased)


def get_member(conn: sa.Connection, member_id: str) -> Member | None:
    c = t.members.c
    r = conn.execute(sa.select(c.member_id, c.jurisdiction).where(c.member_id == member_id)).first()
    return Member(r.member_id, r.jurisdiction) if r else None


_CHUNK = 50_000


_one_of = bulk.one_of


def known_member_ids(conn: sa.Connection, ids: Iterable[str]) -> set[str]:
    wanted = sorted(set(ids))
    found: set[str] = set()
    c = t.members.c
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        found.update(
            conn.execute(sa.select(c.member_id).where(_one_of(conn, c.member_id, chunk))).scalars()
        )
    return found


def members_table(conn: sa.Connection) -> pa.Table:
    c = t.members.c
    ids: list[str] = []
    jurs: list[str] = []
    for r in conn.execute(
        sa.select(c.member_id, c.jurisdiction).execution_options(yield_per=100_000)
    ):
        ids.append(r[0])
        jurs.append(r[1])
    return pa.table(
        {"member_id": pa.array(ids, pa.string()), "jurisdiction": pa.array(jurs, pa.string())}
    )


def directory_table(conn: sa.Connection) -> pa.Table:
    """Every member's id, name, email and phone (the redactor's people directory)."""
    c = t.members.c
    cols: list[list[Any]] = [[], [], [], []]
    query = sa.select(c.member_id, c.name, c.email, c.phone).execution_options(yield_per=100_000)
    for r in conn.execute(query):
        for i in range(4):
            cols[i].append(r[i])
    names = ("member_id", "name", "email", "phone")
    return pa.table({n: pa.array(cols[i], pa.string()) for i, n in enumerate(names)})


def count_members(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(t.members)).scalar_one())


# --------------------------------------------------------------------------- consent events


def _row_event(r: Any) -> ConsentEvent:
    return ConsentEvent(
        event_id=r.event_id,
        member_id=r.member_id,
        type=EventType(r.type),
        setting=r.setting,
        policy_version=r.policy_version,
        effective_at=r.effective_at,
        recorded_at=r.recorded_at,
        covers_from=r.covers_from,
        source=r.source,
        evidence=r.evidence,
        seq=int(r.seq),
    )


def existing_events(conn: sa.Connection, event_ids: Sequence[str]) -> dict[str, ConsentEvent]:
    c = t.consent_events.c
    out: dict[str, ConsentEvent] = {}
    for i in range(0, len(event_ids), _CHUNK):
        chunk = event_ids[i : i + _CHUNK]
        query = sa.select(t.consent_events).where(_one_of(conn, c.event_id, chunk))
        for r in conn.execute(query):
            out[r.event_id] = _row_event(r)
    return out


_EVENT_COLUMNS = (
    "seq",
    "event_id",
    "member_id",
    "type",
    "setting",
    "policy_version",
    "effective_at",
    "recorded_at",
    "covers_from",
    "source",
    "evidence",
)


def insert_events(
    conn: sa.Connection, events: Sequence[ConsentEvent], *, at: datetime
) -> list[ConsentEvent]:
    """Insert events (seq assigned here, in order) with their audit entries; returns them.

    One pass builds each event's row (database form, for ``bulk.insert_values``) and its
    audit item (``row_digest`` of the row, in the table's column order) as tuples: an
    import of 100,000 events spends its time here.
    """
    store_audit.lock(conn)
    c = t.consent_events.c
    next_seq = (
        int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(c.seq), 0))).scalar_one()) + 1
    )
    if not events:
        return []
    if tuple(t.consent_events.columns.keys()) != _EVENT_COLUMNS:  # the digest's column order
        raise RuntimeError("consent_events columns changed: update ledger._EVENT_COLUMNS")
    keys = store_audit.Keyring(conn)  # each event's digest is under its member's key ...
    states = keys.states({e.member_id for e in events})
    digest = audit.row_digests("consent_events", _EVENT_COLUMNS)
    workspace = audit.hmac_states(keys.workspace)  # ... an erase event's under the workspace's
    erase = EventType.ERASE
    stored: list[ConsentEvent] = []
    items: list[tuple[str, str, str, str | None]] = []

    def rows() -> Iterator[tuple[Any, ...]]:
        # Streamed into the insert: on PostgreSQL the COPY runs while later rows are built.
        micros, json_text = bulk.micros, bulk.json_text
        action = audit.CONSENT_RECORDED
        add_item, add_stored = items.append, stored.append
        last_recorded, last_micros = None, 0
        for seq, e in enumerate(events, next_seq):
            evidence = None if e.evidence is None else dict(e.evidence)
            etype = e.type.value
            values = (
                seq,
                e.event_id,
                e.member_id,
                etype,
                e.setting,
                e.policy_version,
                e.effective_at,
                e.recorded_at,
                e.covers_from,
                e.source,
                evidence,
            )
            key = workspace if e.type is erase else states[e.member_id]
            add_item((action, "consent_events", e.event_id, digest(key, values)))
            if e.recorded_at is not last_recorded:  # one clock reading per import, as a rule
                last_recorded, last_micros = e.recorded_at, micros(e.recorded_at)
            add_stored(
                ConsentEvent(
                    e.event_id,
                    e.member_id,
                    e.type,
                    e.setting,
                    e.policy_version,
                    e.effective_at,
                    e.recorded_at,
                    e.covers_from,
                    e.source,
                    e.evidence,
                    seq,
                )
            )
            yield (
                seq,
                e.event_id,
                e.member_id,
                etype,
                e.setting,
                e.policy_version,
                micros(e.effective_at),
                last_micros,
                None if e.covers_from is None else micros(e.covers_from),
                e.source,
                None if evidence is None else json_text(evidence),
            )

    bulk.insert_values(conn, t.consent_events, _EVENT_COLUMNS, rows())
    store_audit.append(conn, items, at=at)
    return stored


def member_events(conn: sa.Connection, member_id: str) -> list[ConsentEvent]:
    c = t.consent_events.c
    return [
        _row_event(r)
        for r in conn.execute(
            sa.select(t.consent_events).where(c.member_id == member_id).order_by(c.seq)
        )
    ]


def events_table(
    conn: sa.Connection, *, as_of: datetime, known_at: datetime, settings: Iterable[str]
) -> pa.Table:
    """Events visible at (as_of, known_at) for ``settings`` plus every erasure, as Arrow."""
    c = t.consent_events.c
    raw = sa.BigInteger
    ts = t.UTCMicros()
    query = sa.select(
        c.seq,
        c.member_id,
        c.type,
        c.setting,
        c.policy_version,
        sa.type_coerce(c.effective_at, raw),
        sa.type_coerce(c.recorded_at, raw),
        sa.type_coerce(c.covers_from, raw),
    ).where(
        c.effective_at <= sa.bindparam("as_of", as_of, type_=ts),
        c.recorded_at <= sa.bindparam("known_at", known_at, type_=ts),
        sa.or_(c.setting.in_(sorted(set(settings))), c.type == EventType.ERASE.value),
    )
    cols: list[list[Any]] = [[] for _ in range(8)]
    for r in conn.execute(query.execution_options(yield_per=100_000)):
        for i, v in enumerate(r):
            cols[i].append(v)
    arrays = [pa.array(cols[i], pa.int64() if i in (0, 5, 6, 7) else pa.string()) for i in range(8)]
    for i in (5, 6, 7):
        arrays[i] = arrays[i].cast(EVENTS_SCHEMA.field(i).type)
    return pa.Table.from_arrays(arrays, schema=EVENTS_SCHEMA)


def count_events(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(t.consent_events)).scalar_one())


# --------------------------------------------------------------------------- snapshots


def record_snapshot(
    conn: sa.Connection, snapshot: ConsentSnapshot, *, sha256: str, at: datetime
) -> bool:
    """Record a snapshot (idempotent by its hash); True when new."""
    c = t.snapshots.c
    if conn.execute(sa.select(c.sha256).where(c.sha256 == sha256)).first() is not None:
        return False
    values = {
        "sha256": sha256,
        "use": snapshot.use,
        "recipient": snapshot.recipient,
        "as_of": snapshot.as_of,
        "known_at": snapshot.known_at,
        "rows": snapshot.grants.num_rows,
        "policy_versions": list(snapshot.policy_versions),
        "created_at": at,
    }
    conn.execute(t.snapshots.insert().values(**values))
    secret = store_audit.workspace_secret(conn)
    store_audit.append(
        conn, [store_audit.audit_item(secret, audit.SNAPSHOT_CREATED, "snapshots", values)], at=at
    )
    return True
