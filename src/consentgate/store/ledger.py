"""Queries and writes for taxonomy keys, policy versions, members, consent events, snapshots.

Every write appends its audit entries in the same transaction (the caller's connection).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from consentgate import consent as core
from consentgate.consent import EVENTS_SCHEMA, MOVES_SCHEMA, ConsentEvent, EventType
from consentgate.errors import Conflict
from consentgate.policy import PolicyHistory, PolicyVersion, parse_policy
from consentgate.snapshot import ConsentSnapshot
from consentgate.store import audit as store_audit
from consentgate.store import bulk
from consentgate.store import tables as t
from consentgate.taxonomy import Taxonomy, default_taxonomy
from consentgate.tlog import audit

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


@dataclass(frozen=True, slots=True)
class MemberCounts:
    """What a member import did: members added, rows with changed contact details updated,
    jurisdiction moves recorded, rows that changed nothing, rows of erased members skipped
    (their details are never stored again)."""

    added: int
    updated: int
    moved: int
    unchanged: int
    erased: int = 0


def upsert_members(
    conn: sa.Connection, rows: Sequence[Mapping[str, Any]], *, at: datetime
) -> MemberCounts:
    """Insert new members; for known members, update changed contact details and record a
    changed jurisdiction as a move (effective at the row's ``jurisdiction_effective_at``,
    else at ``at``), never overwriting it.

    A new member's jurisdiction is ``members.jurisdiction``, from the beginning; with a
    ``jurisdiction_effective_at`` it is dated by a "first" row of ``member_jurisdictions``
    (the member then has no jurisdiction before it). Each new member gets an audit key of
    their own; erased members are skipped."""
    fields = ("name", "email", "phone")
    erased = erased_member_ids(conn, (str(r["member_id"]) for r in rows))
    if erased:
        rows = [r for r in rows if r["member_id"] not in erased]
    have = existing_members(conn, [str(r["member_id"]) for r in rows])
    histories = jurisdiction_histories(conn, list(have))
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    places: list[tuple[str, str, datetime, str]] = []
    moved = unchanged = 0
    keys = store_audit.Keyring(conn)
    for r in rows:
        mid, jur, since = r["member_id"], r["jurisdiction"], r.get("jurisdiction_effective_at")
        old = have.get(mid)
        if old is None:
            inserts.append(
                {"member_id": mid, "jurisdiction": jur, **{f: r.get(f) for f in fields}}
                | {"created_at": at}
            )
            if since is not None:
                places.append((mid, jur, since, "first"))
            continue
        changed = any(old[f] != r.get(f) for f in fields)
        if changed:
            updates.append({**old, **{f: r.get(f) for f in fields}})
        when = since or at
        current = core.stays(histories.get(mid, ()), when, at)
        if current and current[-1][1] == jur:  # already there then: nothing to record
            unchanged += not changed
            continue
        places.append((mid, jur, when, "move"))
        moved += 1
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
    insert_jurisdictions(conn, places, at=at, source="import", keys=keys)
    return MemberCounts(len(inserts), len(updates), moved, unchanged, len(erased))


_JURISDICTION_COLUMNS = (
    "seq",
    "member_id",
    "jurisdiction",
    "effective_at",
    "recorded_at",
    "kind",
    "source",
)


def insert_jurisdictions(
    conn: sa.Connection,
    rows: Sequence[tuple[str, str, datetime, str]],
    *,
    at: datetime,
    source: str,
    keys: store_audit.Keyring | None = None,
) -> list[core.JurisdictionChange]:
    """Append (member_id, jurisdiction, effective_at, kind) rows recorded at ``at``, each
    with its audit entry (``member.moved`` for a move, ``member.jurisdiction_recorded`` for
    a new member's dated first jurisdiction); returns them with their ``seq``."""
    if not rows:
        return []
    store_audit.lock(conn)
    if tuple(t.member_jurisdictions.columns.keys()) != _JURISDICTION_COLUMNS:
        raise RuntimeError("member_jurisdictions columns changed: update _JURISDICTION_COLUMNS")
    c = t.member_jurisdictions.c
    next_seq = (
        int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(c.seq), 0))).scalar_one()) + 1
    )
    keys = keys or store_audit.Keyring(conn)
    keys.load(mid for mid, *_ in rows)
    stamp = bulk.micros(at)
    items: list[tuple[str, str, str, str | None]] = []
    values: list[tuple[Any, ...]] = []
    stored: list[core.JurisdictionChange] = []
    for seq, (mid, jur, since, kind) in enumerate(rows, next_seq):
        action = audit.MEMBER_MOVED if kind == "move" else audit.MEMBER_JURISDICTION_RECORDED
        row = dict(
            zip(_JURISDICTION_COLUMNS, (seq, mid, jur, since, at, kind, source), strict=True)
        )
        # keyed with the member's own key: erasure makes these entries unlinkable too
        items.append(store_audit.audit_item(keys, action, "member_jurisdictions", row))
        values.append((seq, mid, jur, bulk.micros(since), stamp, kind, source))
        stored.append(core.JurisdictionChange(jur, since, at, seq, source))
    bulk.insert_values(conn, t.member_jurisdictions, _JURISDICTION_COLUMNS, values)
    store_audit.append(conn, items, at=at)
    return stored


def jurisdiction_histories(
    conn: sa.Connection, member_ids: Sequence[str]
) -> dict[str, list[core.JurisdictionChange]]:
    """Every recorded jurisdiction of each of ``member_ids`` (unknown members: absent): the
    first (``members.jurisdiction``, from the beginning, recorded when the member was; or
    its dated "first" row), then each move, in the order recorded."""
    m, c = t.members.c, t.member_jurisdictions.c
    out: dict[str, list[core.JurisdictionChange]] = {}

    def among(column: sa.Column[Any], chunk: Sequence[str]) -> sa.ColumnElement[bool]:
        # One member (consent status, a move): a plain equality plans and runs fastest.
        return column == chunk[0] if len(chunk) == 1 else _one_of(conn, column, chunk)

    for i in range(0, len(member_ids), _CHUNK):
        chunk = member_ids[i : i + _CHUNK]
        firsts = sa.select(m.member_id, m.jurisdiction, m.created_at).where(
            among(m.member_id, chunk)
        )
        for f in conn.execute(firsts):
            out[f.member_id] = [core.JurisdictionChange(f.jurisdiction, None, f.created_at, 0)]
        later = sa.select(
            c.member_id, c.jurisdiction, c.effective_at, c.recorded_at, c.seq, c.kind, c.source
        ).where(among(c.member_id, chunk))
        for r in conn.execute(later.order_by(c.seq)):
            change = core.JurisdictionChange(
                r.jurisdiction, r.effective_at, r.recorded_at, int(r.seq), r.source
            )
            if r.kind == "first":  # dated: replaces the from-the-beginning reading
                out[r.member_id] = [change]
            else:
                out.setdefault(r.member_id, []).append(change)
    return out


def move_member(
    conn: sa.Connection,
    member_id: str,
    jurisdiction: str,
    *,
    effective_at: datetime,
    at: datetime,
    source: str = "cli",
) -> core.JurisdictionChange | None:
    """Record that ``member_id`` is in ``jurisdiction`` from ``effective_at`` on; None (and
    nothing recorded) when, as known at ``at``, the member already is there then."""
    history = jurisdiction_histories(conn, [member_id]).get(member_id, [])
    current = core.stays(history, effective_at, at)
    if current and current[-1][1] == jurisdiction:
        return None
    return insert_jurisdictions(
        conn, [(member_id, jurisdiction, effective_at, "move")], at=at, source=source
    )[0]


def jurisdictions_at(
    conn: sa.Connection, member_ids: Iterable[str], *, at: datetime, known_at: datetime
) -> dict[str, str]:
    """Each member's jurisdiction at ``at`` as known at ``known_at`` (absent: none yet)."""
    histories = jurisdiction_histories(conn, sorted(set(member_ids)))
    out: dict[str, str] = {}
    for mid, history in histories.items():
        found = core.stays(history, at, known_at)
        if found:
            out[mid] = found[-1][1]
    return out


@functools.cache
def _member_query() -> sa.Select[Any]:
    """A member's first jurisdiction and its later rows, built once (statuses run it often)."""
    m, c = t.members.c, t.member_jurisdictions.c
    return (
        sa.select(
            m.jurisdiction,
            m.created_at,
            c.jurisdiction,
            c.effective_at,
            c.recorded_at,
            c.seq,
            c.kind,
            c.source,
        )
        .select_from(t.members.outerjoin(t.member_jurisdictions, c.member_id == m.member_id))
        .where(m.member_id == sa.bindparam("member_id"))
        .order_by(c.seq)
    )


def get_member(conn: sa.Connection, member_id: str) -> core.Member | None:
    """One member with its jurisdiction history (one query: this serves every status)."""
    history: list[core.JurisdictionChange] = []
    rows = conn.execute(_member_query(), {"member_id": member_id})
    for first, created, jur, since, recorded, seq, kind, source in rows:
        if not history:
            history.append(core.JurisdictionChange(first, None, created, 0))
        if jur is None:
            continue
        change = core.JurisdictionChange(jur, since, recorded, int(seq), source)
        if kind == "first":  # dated: replaces the from-the-beginning reading
            history[:] = [change]
        else:
            history.append(change)
    return core.Member(member_id, tuple(history)) if history else None


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


def members_table(conn: sa.Connection, *, known_at: datetime | None = None) -> pa.Table:
    """Every member created by ``known_at`` (default: all) with its first jurisdiction:
    member_id, jurisdiction and, when some first jurisdiction is dated, effective_at (null:
    from the beginning), as ``consent.compute_snapshot`` takes them; ``moves_table`` has
    the moves. One pass over members, as before jurisdictions had a history; dated first
    jurisdictions (rare) cost one more lookup."""
    c = t.members.c
    query = sa.select(c.member_id, c.jurisdiction)
    if known_at is not None:
        query = query.where(c.created_at <= sa.bindparam("known_at", known_at, type_=t.TS))
    ids: list[str] = []
    jurs: list[str] = []
    for r in conn.execute(query.execution_options(yield_per=100_000)):
        ids.append(r[0])
        jurs.append(r[1])
    table = pa.table(
        {"member_id": pa.array(ids, pa.string()), "jurisdiction": pa.array(jurs, pa.string())}
    )
    j = t.member_jurisdictions.c
    dated = sa.select(j.member_id, j.jurisdiction, sa.type_coerce(j.effective_at, sa.BigInteger))
    dated = dated.where(j.kind == "first")
    if known_at is not None:
        dated = dated.where(j.recorded_at <= sa.bindparam("known_at", known_at, type_=t.TS))
    firsts: list[tuple[str, str, int]] = [(r[0], r[1], r[2]) for r in conn.execute(dated)]
    if not firsts:
        return table
    where = pc.index_in(pa.array([r[0] for r in firsts], pa.string()), value_set=table["member_id"])
    since = np.full(len(table), None, dtype=object)
    jur = np.asarray(jurs, dtype=object)
    for pos, (_, first_jur, first_since) in zip(where.to_pylist(), firsts, strict=True):
        if pos is not None:
            since[pos], jur[pos] = first_since, first_jur
    ts_type = MOVES_SCHEMA.field("effective_at").type
    return pa.table(
        {
            "member_id": table["member_id"],
            "jurisdiction": pa.array(jur.tolist(), pa.string()),
            "effective_at": pa.array(since.tolist(), pa.int64()).cast(ts_type),
        }
    )


def moves_table(
    conn: sa.Connection, *, as_of: datetime | None = None, known_at: datetime | None = None
) -> pa.Table:
    """Jurisdiction moves (MOVES_SCHEMA) effective by ``as_of`` and recorded by ``known_at``
    (each default: all); read through a partial index, so cheap when moves are few."""
    c = t.member_jurisdictions.c
    raw = sa.BigInteger
    query = sa.select(
        c.member_id,
        c.jurisdiction,
        sa.type_coerce(c.effective_at, raw),
        sa.type_coerce(c.recorded_at, raw),
        c.seq,
    ).where(c.kind == "move")
    if as_of is not None:
        query = query.where(c.effective_at <= sa.bindparam("as_of", as_of, type_=t.TS))
    if known_at is not None:
        query = query.where(c.recorded_at <= sa.bindparam("known_at", known_at, type_=t.TS))
    cols: list[list[Any]] = [[] for _ in range(5)]
    for r in conn.execute(query):
        for i, v in enumerate(r):
            cols[i].append(v)
    arrays = [
        pa.array(cols[i], pa.string() if i < 2 else pa.int64()).cast(MOVES_SCHEMA.field(i).type)
        for i in range(5)
    ]
    return pa.Table.from_arrays(arrays, schema=MOVES_SCHEMA)


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


def first_member_ids(conn: sa.Connection, limit: int) -> list[str]:
    """Up to ``limit`` member ids, in id order."""
    query = sa.select(t.members.c.member_id).order_by(t.members.c.member_id).limit(limit)
    return [str(r[0]) for r in conn.execute(query)]


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
