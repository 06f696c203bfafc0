"""Storage of remediation: models, disclosures, remediation orders, deletion notices.

Every write appends audit entries in the caller's transaction (the tables are in
``store.audit.AUDITED``). ``open_for_events`` is the hook the consent ledger calls right
after it stores events lives in the use-case layer (``consentgate.workspace.remediation``):
the rules of which event opens which order are the pure ``consentgate.remediation`` core;
this module keeps the SQL (holdings, models, disclosures, writing and closing orders).

Orders are batched: at most one *open* order exists per (kind, target, shard) — the
``open_key`` column is unique while an order is open and null afterwards — and new
members are merged into it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from consentgate.remediation.deadlines import Deadline
from consentgate.remediation.orders import (
    Holding,
    ModelFacts,
    PlannedOrder,
    Who,
)
from consentgate.store import audit as store_audit
from consentgate.store import bulk
from consentgate.store import tables as t

logger = logging.getLogger(__name__)

ORDER_OPENED = "remediation.opened"
ORDER_UPDATED = "remediation.updated"
ORDER_CLOSED = "remediation.closed"
ORDER_MEMBER_ADDED = "remediation.member_added"
MODEL_REGISTERED = "model.registered"
MODEL_STATUS_CHANGED = "model.status_changed"
MODEL_DATASET_LINKED = "model.dataset_linked"
DISCLOSURE_RECORDED = "disclosure.recorded"
DISCLOSURE_EVIDENCE_RECORDED = "disclosure.evidence_recorded"
NOTICE_SENT = "notice.sent"
NOTICE_ACKNOWLEDGED = "notice.acknowledged"

_CHUNK = 5000


def _append(
    conn: sa.Connection, items: Sequence[tuple[str, str, Mapping[str, Any]]], at: datetime
) -> None:
    if not items:
        return
    keys = store_audit.Keyring(conn)  # an order's member rows are keyed per member
    store_audit.append(
        conn,
        [store_audit.audit_item(keys, action, entity, values) for action, entity, values in items],
        at=at,
    )


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(set(values))
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i : i + _CHUNK]


# --------------------------------------------------------------------------- registry facts


def member_holdings(conn: sa.Connection, member_ids: Iterable[str]) -> dict[str, list[Holding]]:
    """Every registered dataset version (any status) holding each member's records."""
    d, m = t.datasets.c, t.dataset_members.c
    out: dict[str, list[Holding]] = {}
    for chunk in _chunks(member_ids):
        q = (
            sa.select(m.member_id, d.dataset_id, d.use, d.recipient, d.status, d.shards, m.shards)
            .join(t.dataset_members, m.dataset_id == d.dataset_id)
            .where(m.member_id.in_(chunk))
            .order_by(m.member_id, d.created_at, d.dataset_id)
        )
        for r in conn.execute(q):
            shards = tuple(int(s) for s in r[6] or ()) if r[5] is not None else None
            out.setdefault(r[0], []).append(Holding(r[1], r[2], r[3], r[4], shards))
    return out


def all_holdings(conn: sa.Connection) -> list[Holding]:
    """Every registered dataset version as a whole (shards None): a policy change's reach."""
    d = t.datasets.c
    q = sa.select(d.dataset_id, d.use, d.recipient, d.status).order_by(d.created_at, d.dataset_id)
    return [Holding(r[0], r[1], r[2], r[3], None) for r in conn.execute(q)]


def active_models_by_dataset(
    conn: sa.Connection, dataset_ids: Iterable[str]
) -> dict[str, list[ModelFacts]]:
    md, mo = t.model_datasets.c, t.models.c
    out: dict[str, list[ModelFacts]] = {}
    for chunk in _chunks(dataset_ids):
        q = (
            sa.select(md.dataset_id, mo.model_id, mo.unlearning, mo.trained_shards)
            .join(t.models, mo.model_id == md.model_id)
            .where(md.dataset_id.in_(chunk), mo.status == "active")
            .order_by(mo.model_id)
        )
        for r in conn.execute(q):
            trained = frozenset(int(s) for s in r[3]) if r[3] is not None else None
            out.setdefault(r[0], []).append(ModelFacts(r[1], r[2], trained))
    return out


def disclosure_recipients(conn: sa.Connection, dataset_ids: Iterable[str]) -> dict[str, list[str]]:
    c = t.disclosures.c
    out: dict[str, list[str]] = {}
    for chunk in _chunks(dataset_ids):
        q = (
            sa.select(c.dataset_id, c.recipient)
            .where(c.dataset_id.in_(chunk))
            .distinct()
            .order_by(c.dataset_id, c.recipient)
        )
        for r in conn.execute(q):
            out.setdefault(r[0], []).append(r[1])
    return out


def any_dataset(conn: sa.Connection) -> bool:
    """Whether any dataset is registered (no dataset: no order to open)."""
    return conn.execute(sa.select(t.datasets.c.dataset_id).limit(1)).first() is not None


def notified(conn: sa.Connection, member_ids: Iterable[str]) -> set[tuple[str, str, str]]:
    """(member, recipient, dataset) for every notice order (sent or not) listing these members."""
    o, m = t.remediation_orders.c, t.remediation_order_members.c
    done: set[tuple[str, str, str]] = set()
    for chunk in _chunks(member_ids):
        q = (
            sa.select(m.member_id, o.target, o.datasets)
            .join(t.remediation_orders, o.order_id == m.order_id)
            .where(o.kind == "notice", m.member_id.in_(chunk))
        )
        for member_id, recipient, datasets in conn.execute(q):
            done.update((member_id, recipient, d) for d in datasets or ())
    return done


def open_key(key: tuple[str, str, int | None]) -> str:
    kind, target, shard = key
    return f"{kind}:{target}:{'*' if shard is None else shard}"


def _order_row(conn: sa.Connection, order_id: str) -> dict[str, Any]:
    c = t.remediation_orders.c
    return dict(
        conn.execute(sa.select(t.remediation_orders).where(c.order_id == order_id)).one()._mapping
    )


def _member_ids(conn: sa.Connection, order_id: str) -> set[str]:
    m = t.remediation_order_members.c
    return set(conn.execute(sa.select(m.member_id).where(m.order_id == order_id)).scalars())


def write_orders(
    conn: sa.Connection, planned: Sequence[PlannedOrder], *, at: datetime
) -> list[str]:
    """Open each planned order, or merge it into the open order with the same key."""
    if not planned:
        return []
    store_audit.lock(conn)
    o = t.remediation_orders.c
    items: list[tuple[str, str, Mapping[str, Any]]] = []
    member_rows: list[dict[str, Any]] = []
    touched: list[str] = []
    for p in planned:
        key = open_key(p.key)
        found = conn.execute(sa.select(o.order_id).where(o.open_key == key)).scalar_one_or_none()
        if found is None:
            order_id = "ord-" + secrets.token_hex(8)
            new_members = list(p.members)
            values = {
                "order_id": order_id,
                "kind": p.kind,
                "action": p.action,
                "target": p.target,
                "shard": p.shard,
                "status": "open",
                "open_key": key,
                "triggers": list(p.triggers),
                "legal_basis": list(p.legal_basis),
                "datasets": list(p.datasets),
                "members": len(new_members),
                "opened_at": at,
                "deadline": p.deadline,
                "closed_at": None,
                "notice_id": None,
                "evidence": None,
            }
            conn.execute(t.remediation_orders.insert().values(**values))
            items.append((ORDER_OPENED, "remediation_orders", values))
        else:
            order_id = str(found)
            row = _order_row(conn, order_id)
            present = _member_ids(conn, order_id)
            new_members = [m for m in p.members if m.member_id not in present]
            changes: dict[str, Any] = {}
            for col, more in (("triggers", p.triggers), ("legal_basis", p.legal_basis)):
                merged = sorted(set(row[col]) | set(more))
                if merged != row[col]:
                    changes[col] = merged
            datasets = list(dict.fromkeys([*row["datasets"], *p.datasets]))
            if datasets != row["datasets"]:
                changes["datasets"] = datasets
            due = min((m.deadline.due for m in new_members), default=p.deadline)
            if due < row["deadline"]:
                changes["deadline"] = due
            if new_members:
                changes["members"] = int(row["members"]) + len(new_members)
            if not changes:
                continue
            conn.execute(
                t.remediation_orders.update().where(o.order_id == order_id).values(**changes)
            )
            items.append((ORDER_UPDATED, "remediation_orders", _order_row(conn, order_id)))
        touched.append(order_id)
        for entry in new_members:
            values = {
                "order_id": order_id,
                "member_id": entry.member_id,
                "event_id": entry.event_id,
                "trigger": entry.trigger,
                "legal_basis": entry.deadline.legal_basis,
                "deadline": entry.deadline.due,
                "added_at": at,
            }
            member_rows.append(values)
            items.append((ORDER_MEMBER_ADDED, "remediation_order_members", values))
    bulk.insert_rows(conn, t.remediation_order_members, member_rows)
    _append(conn, items, at)
    if touched:
        logger.info("remediation: %d orders opened or extended", len(touched))
    return touched


def dataset_order_members(conn: sa.Connection, dataset_id: str) -> dict[str, Who]:
    """Each member of the dataset orders (open or done) of ``dataset_id``, with their own
    trigger and deadline (the earliest when several)."""
    o, m = t.remediation_orders.c, t.remediation_order_members.c
    rows = conn.execute(
        sa.select(m.member_id, m.event_id, m.trigger, m.legal_basis, m.deadline)
        .join(t.remediation_orders, o.order_id == m.order_id)
        .where(o.kind == "dataset", o.target == dataset_id)
        .order_by(m.member_id, m.deadline)
    ).all()
    whos: dict[str, Who] = {}
    for r in rows:
        whos.setdefault(r[0], Who(r[0], r[1], r[2], Deadline(r[4], r[3])))
    return whos


# --------------------------------------------------------------------------- reading orders


def list_orders(
    conn: sa.Connection,
    *,
    pending: bool = False,
    kind: str | None = None,
    target: str | None = None,
    order_ids: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Orders by deadline; ``pending``: open or sent (not done)."""
    c = t.remediation_orders.c
    q = sa.select(t.remediation_orders)
    if pending:
        q = q.where(c.status != "done")
    if kind is not None:
        q = q.where(c.kind == kind)
    if target is not None:
        q = q.where(c.target == target)
    if order_ids is not None:
        q = q.where(c.order_id.in_(list(order_ids)))
    q = q.order_by(c.deadline, c.kind, c.target, c.shard, c.order_id)
    return [dict(r._mapping) for r in conn.execute(q)]


def order_members(conn: sa.Connection, order_ids: Sequence[str]) -> dict[str, list[str]]:
    m = t.remediation_order_members.c
    out: dict[str, list[str]] = {oid: [] for oid in order_ids}
    for chunk in _chunks(order_ids):
        q = sa.select(m.order_id, m.member_id).where(m.order_id.in_(chunk)).order_by(m.member_id)
        for order_id, member_id in conn.execute(q):
            out[order_id].append(member_id)
    return out


def member_orders(conn: sa.Connection, member_id: str) -> list[dict[str, Any]]:
    """The orders listing the member, with the member's own trigger and deadline."""
    o, m = t.remediation_orders.c, t.remediation_order_members.c
    q = (
        sa.select(
            o.order_id,
            o.kind,
            o.action,
            o.target,
            o.shard,
            o.status,
            o.opened_at,
            o.closed_at,
            o.notice_id,
            m.trigger,
            m.legal_basis,
            m.deadline,
        )
        .join(t.remediation_order_members, m.order_id == o.order_id)
        .where(m.member_id == member_id)
        .order_by(o.opened_at, o.order_id)
    )
    return [dict(r._mapping) for r in conn.execute(q)]


def close_orders(
    conn: sa.Connection,
    order_ids: Sequence[str],
    *,
    at: datetime,
    status: str = "done",
    evidence: Mapping[str, Any] | None = None,
    notice_id: str | None = None,
) -> None:
    """Move orders to ``status`` (``sent`` for a notice written, ``done``), out of batching."""
    if not order_ids:
        return
    c = t.remediation_orders.c
    values: dict[str, Any] = {"status": status, "open_key": None}
    if status == "done":
        values["closed_at"] = at
    if evidence is not None:
        values["evidence"] = dict(evidence)
    if notice_id is not None:
        values["notice_id"] = notice_id
    conn.execute(
        t.remediation_orders.update().where(c.order_id.in_(list(order_ids))).values(**values)
    )
    _append(
        conn,
        [(ORDER_CLOSED, "remediation_orders", _order_row(conn, oid)) for oid in order_ids],
        at,
    )


# --------------------------------------------------------------------------- models


def next_model_version(conn: sa.Connection, name: str) -> int:
    c = t.models.c
    top = conn.execute(sa.select(sa.func.max(c.version)).where(c.name == name)).scalar_one()
    return 1 if top is None else int(top) + 1


def insert_model(
    conn: sa.Connection, values: Mapping[str, Any], dataset_ids: Sequence[str], *, at: datetime
) -> None:
    conn.execute(t.models.insert().values(**values))
    links = [{"model_id": values["model_id"], "dataset_id": d} for d in dataset_ids]
    conn.execute(t.model_datasets.insert(), links)
    _append(
        conn,
        [
            (MODEL_REGISTERED, "models", values),
            *((MODEL_DATASET_LINKED, "model_datasets", link) for link in links),
        ],
        at,
    )


def get_model(conn: sa.Connection, model_id: str) -> dict[str, Any] | None:
    c = t.models.c
    r = conn.execute(sa.select(t.models).where(c.model_id == model_id)).first()
    return dict(r._mapping) if r else None


def latest_model(conn: sa.Connection, name: str) -> dict[str, Any] | None:
    c = t.models.c
    r = conn.execute(
        sa.select(t.models).where(c.name == name).order_by(c.version.desc()).limit(1)
    ).first()
    return dict(r._mapping) if r else None


def list_models(conn: sa.Connection) -> list[dict[str, Any]]:
    c = t.models.c
    return [dict(r._mapping) for r in conn.execute(sa.select(t.models).order_by(c.name, c.version))]


def model_dataset_ids(conn: sa.Connection, model_ids: Sequence[str]) -> dict[str, list[str]]:
    c = t.model_datasets.c
    out: dict[str, list[str]] = {mid: [] for mid in model_ids}
    for chunk in _chunks(model_ids):
        q = sa.select(c.model_id, c.dataset_id).where(c.model_id.in_(chunk)).order_by(c.dataset_id)
        for model_id, dataset_id in conn.execute(q):
            out[model_id].append(dataset_id)
    return out


def models_trained_on(conn: sa.Connection, dataset_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Every model version (any status) trained on any of ``dataset_ids``."""
    md, mo = t.model_datasets.c, t.models.c
    out: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(dataset_ids):
        q = (
            sa.select(t.models, md.dataset_id)
            .join(t.model_datasets, md.model_id == mo.model_id)
            .where(md.dataset_id.in_(chunk))
        )
        for r in conn.execute(q):
            row = dict(r._mapping)
            dataset_id = row.pop("dataset_id")
            out.setdefault(row["model_id"], {**row, "via": []})["via"].append(dataset_id)
    return sorted(out.values(), key=lambda r: (r["name"], r["version"]))


def set_model_status(conn: sa.Connection, model_id: str, status: str, *, at: datetime) -> None:
    c = t.models.c
    conn.execute(t.models.update().where(c.model_id == model_id).values(status=status))
    row = get_model(conn, model_id)
    assert row is not None
    _append(conn, [(MODEL_STATUS_CHANGED, "models", row)], at)


# --------------------------------------------------------------------------- disclosures


def record_disclosure(
    conn: sa.Connection,
    *,
    dataset_id: str,
    recipient: str,
    records: int,
    members: int,
    at: datetime,
    source: str,
    disclosed_at: datetime | None = None,
) -> dict[str, Any]:
    """Record that ``dataset_id`` was delivered to the third party ``recipient``."""
    values = {
        "disclosure_id": "dis-" + secrets.token_hex(8),
        "dataset_id": dataset_id,
        "recipient": recipient,
        "disclosed_at": disclosed_at or at,
        "records": int(records),
        "members": int(members),
        "source": source,
        "created_at": at,
    }
    conn.execute(t.disclosures.insert().values(**values))
    _append(conn, [(DISCLOSURE_RECORDED, "disclosures", values)], at)
    return values


def record_disclosure_evidence(
    conn: sa.Connection, disclosure_id: str, evidence: Mapping[str, Any], *, at: datetime
) -> dict[str, Any]:
    """Keep the evidence given for a historical disclosure (audited)."""
    values = {"disclosure_id": disclosure_id, "evidence": dict(evidence), "created_at": at}
    conn.execute(t.disclosure_evidence.insert().values(**values))
    _append(conn, [(DISCLOSURE_EVIDENCE_RECORDED, "disclosure_evidence", values)], at)
    return dict(evidence)


def list_disclosures(
    conn: sa.Connection, dataset_ids: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    c = t.disclosures.c
    q = sa.select(t.disclosures).order_by(c.disclosed_at, c.disclosure_id)
    if dataset_ids is None:
        return [dict(r._mapping) for r in conn.execute(q)]
    out: list[dict[str, Any]] = []
    for chunk in _chunks(dataset_ids):
        out += [dict(r._mapping) for r in conn.execute(q.where(c.dataset_id.in_(chunk)))]
    return sorted(out, key=lambda r: (r["disclosed_at"], r["disclosure_id"]))


# --------------------------------------------------------------------------- notices


def insert_notice(conn: sa.Connection, values: Mapping[str, Any], *, at: datetime) -> None:
    conn.execute(t.notices.insert().values(**values))
    _append(conn, [(NOTICE_SENT, "notices", values)], at)


def get_notice(conn: sa.Connection, notice_id: str) -> dict[str, Any] | None:
    c = t.notices.c
    r = conn.execute(sa.select(t.notices).where(c.notice_id == notice_id)).first()
    return dict(r._mapping) if r else None


def list_notices(conn: sa.Connection) -> list[dict[str, Any]]:
    c = t.notices.c
    return [
        dict(r._mapping)
        for r in conn.execute(sa.select(t.notices).order_by(c.issued_at, c.notice_id))
    ]


def acknowledge_notice(
    conn: sa.Connection, notice_id: str, *, at: datetime, note: str | None
) -> dict[str, Any]:
    c = t.notices.c
    conn.execute(
        t.notices.update()
        .where(c.notice_id == notice_id)
        .values(status="acknowledged", acknowledged_at=at, ack_note=note)
    )
    row = get_notice(conn, notice_id)
    assert row is not None
    _append(conn, [(NOTICE_ACKNOWLEDGED, "notices", row)], at)
    return row


def successor(conn: sa.Connection, dataset_id: str) -> str | None:
    """The dataset version that supersedes ``dataset_id`` (the latest, if several)."""
    c = t.datasets.c
    return conn.execute(
        sa.select(c.dataset_id)
        .where(c.supersedes == dataset_id)
        .order_by(c.created_at.desc(), c.dataset_id)
        .limit(1)
    ).scalar_one_or_none()


def member_shards(
    conn: sa.Connection, dataset_id: str, member_ids: Iterable[str]
) -> dict[str, list[int] | None]:
    """The shards of a dataset holding each member's records (None: not sharded)."""
    m = t.dataset_members.c
    out: dict[str, list[int] | None] = {}
    for chunk in _chunks(member_ids):
        q = sa.select(m.member_id, m.shards).where(
            m.dataset_id == dataset_id, m.member_id.in_(chunk)
        )
        for member_id, shards in conn.execute(q):
            out[member_id] = None if shards is None else [int(s) for s in shards]
    return out
