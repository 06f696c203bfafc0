"""Deletion notices: one signed file per recipient with open notice orders, listing the
withdrawn members' records by keyed reference (never by id), written to an outbox; then
their status (sent, overdue, acknowledged) and the recipient's acknowledgement.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from consentgate.errors import NotFound
from consentgate.files import write_atomic
from consentgate.gate.batch import Columns
from consentgate.remediation.notices import (
    DeletionNotice,
    NoticeDataset,
    notice_id_for,
    record_ref,
    ref_key,
    sign_notice,
)
from consentgate.remediation.owners import DatasetOwners
from consentgate.store import audit as store_audit
from consentgate.store import remediation as store
from consentgate.store import transparency as store_tlog
from consentgate.timestamps import Clock, format_timestamp, utcnow
from consentgate.tlog.checkpoint import Signer, load_signer
from consentgate.tlog.receipts import log_origin
from consentgate.workspace.dataset_files import (
    manifest_of,
    part_files,
    registered_dataset,
    removed_on_failure,
)
from consentgate.workspace.log import ensure_signing_key
from consentgate.workspace.remediation import unsent_notice_orders
from consentgate.workspace.results import from_row

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SentNotice:
    notice_id: str
    recipient: str
    path: Path
    records: int
    datasets: tuple[str, ...]
    deadline: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "notice_id": self.notice_id,
            "recipient": self.recipient,
            "path": str(self.path),
            "records": self.records,
            "datasets": list(self.datasets),
            "deadline": format_timestamp(self.deadline),
        }


def _member_record_ids(
    ds: Mapping[str, Any],
    shards: Mapping[str, list[int] | None],
    columns: Columns | None,
    secret: bytes,
) -> list[str]:
    """Ids of the dataset's records owned (as author or recipient) by these members,
    reading only the parts of their shards. Owner columns holding pseudonyms (or dropped)
    in a third party's dataset are matched through ``DatasetOwners``."""
    manifest = manifest_of(ds)
    if columns is None:
        columns = Columns.from_map(manifest.get("columns"))
    owners = DatasetOwners(manifest, columns, workspace_key=secret, member_ids=())
    names = sorted(shards)
    members = owners.member_values(names) if owners.in_parts else pa.array(names, pa.string())
    wanted: set[int] | None = None
    if ds["shards"] is not None:
        wanted = {s for ss in shards.values() for s in ss or ()}
    read = [columns.id]
    if owners.in_parts:
        read += [columns.author_id, columns.recipient_ids]
    out: list[str] = []
    for f in part_files(ds, wanted):
        for batch in pq.ParquetFile(f).iter_batches(columns=read):
            if not owners.in_parts:
                batch = owners.resolve(batch)
            out += _owned_by(batch, members, columns)
    return out


def _owned_by(batch: pa.RecordBatch, members: pa.Array, columns: Columns) -> list[str]:
    hit = np.asarray(
        pc.is_in(batch.column(columns.author_id), value_set=members)
        .fill_null(False)
        .to_numpy(zero_copy_only=False),
        bool,
    )
    lists = batch.column(columns.recipient_ids)
    if not pa.types.is_null(lists.type) and len(lists):
        flat = pc.is_in(pc.list_flatten(lists), value_set=members).fill_null(False)
        parents = pc.filter(pc.list_parent_indices(lists), flat).to_numpy(zero_copy_only=False)
        hit[np.asarray(parents, np.int64)] = True
    ids: list[str] = batch.column(columns.id).filter(pa.array(hit)).to_pylist()
    return ids


def _signer(engine: sa.Engine, key_file: Path) -> Signer:
    ensure_signing_key(engine, key_file)  # creates it, or refuses another ledger's
    return load_signer(key_file)


def _notice_datasets(
    ds_rows: Sequence[Mapping[str, Any]],
    shard_maps: Sequence[Mapping[str, list[int] | None]],
    newer: Mapping[str, str | None],
    members: Sequence[str],
    *,
    key: bytes,
    columns: Columns | None,
    secret: bytes,
) -> list[NoticeDataset]:
    """What one notice lists per dataset: the members' record references, or every record
    when the order names no members or the dataset was purged."""
    parts = []
    for ds, shards in zip(ds_rows, shard_maps, strict=True):
        later = newer[ds["dataset_id"]]
        if not members or ds["status"] == "purged":
            parts.append(NoticeDataset(ds["dataset_id"], all_records=True, superseded_by=later))
            continue
        ids = _member_record_ids(ds, shards, columns, secret) if shards else []
        refs = tuple(record_ref(key, i) for i in ids)
        parts.append(NoticeDataset(ds["dataset_id"], refs, superseded_by=later))
    return parts


def send_notices(
    engine: sa.Engine,
    *,
    key_file: Path,
    outbox: Path,
    column_map: Mapping[str, str] | None = None,
    now: Clock = utcnow,
) -> list[SentNotice]:
    """Write one signed deletion notice per recipient with open notice orders to
    ``outbox`` (``notices send``); the orders become ``sent`` until acknowledged."""
    signer = _signer(engine, key_file)
    columns = Columns.from_map(column_map) if column_map else None
    at = now()
    with engine.begin() as conn:
        orders = unsent_notice_orders(conn)
        members = store.order_members(conn, [o["order_id"] for o in orders])
        issuer = log_origin(store_tlog.ensure_workspace_id(conn))
        secret = store_audit.workspace_secret(conn)
        plans = []
        for o in orders:
            ds_rows = [registered_dataset(conn, d) for d in o["datasets"]]
            shard_maps = [
                store.member_shards(conn, d["dataset_id"], members[o["order_id"]]) for d in ds_rows
            ]
            newer = {d["dataset_id"]: store.successor(conn, d["dataset_id"]) for d in ds_rows}
            plans.append((o, ds_rows, shard_maps, newer))
    sent = []
    for o, ds_rows, shard_maps, newer in plans:
        recipient = str(o["target"])
        key = ref_key(secret, recipient)
        parts = _notice_datasets(
            ds_rows,
            shard_maps,
            newer,
            members[o["order_id"]],
            key=key,
            columns=columns,
            secret=secret,
        )
        notice = DeletionNotice(
            notice_id=notice_id_for(recipient, [o["order_id"]], at),
            issuer=issuer,
            recipient=recipient,
            issued_at=at,
            deadline=o["deadline"],
            legal_basis=tuple(o["legal_basis"]),
            datasets=tuple(parts),
            ref_key=key,
            orders=(str(o["order_id"]),),
        )
        path = outbox / f"{notice.notice_id}.json"
        digest = write_atomic(path, sign_notice(notice, signer))
        with removed_on_failure(path), engine.begin() as conn:
            store.insert_notice(
                conn,
                {
                    "notice_id": notice.notice_id,
                    "recipient": recipient,
                    "issued_at": at,
                    "deadline": notice.deadline,
                    "path": str(path.resolve()),
                    "sha256": digest,
                    "records": notice.records,
                    "datasets": [d.dataset_id for d in parts],
                    "status": "sent",
                    "acknowledged_at": None,
                    "ack_note": None,
                },
                at=at,
            )
            store.close_orders(
                conn, [str(o["order_id"])], at=at, status="sent", notice_id=notice.notice_id
            )
        sent.append(
            SentNotice(
                notice.notice_id,
                recipient,
                path,
                notice.records,
                tuple(d.dataset_id for d in parts),
                notice.deadline,
            )
        )
    logger.info("deletion notices sent: %d", len(sent))
    return sent


@dataclass(frozen=True, slots=True)
class Notice:
    """A deletion notice written for a recipient: when, its deadline, the file and its
    digest, the record references and datasets it covers, and its status (``sent``,
    ``overdue`` when listed unacknowledged past the deadline, or ``acknowledged``)."""

    notice_id: str
    recipient: str
    issued_at: datetime
    deadline: datetime
    path: str
    sha256: str
    records: int
    datasets: tuple[str, ...]
    status: str
    acknowledged_at: datetime | None
    ack_note: str | None


def list_notices(engine: sa.Engine, *, now: Clock = utcnow) -> list[Notice]:
    """Notices with their status: ``sent``, ``overdue`` (unacknowledged past the
    deadline) or ``acknowledged``.

    >>> from consentgate import workspace
    >>> from consentgate.store.engine import make_engine
    >>> engine = make_engine("sqlite://")
    >>> _ = workspace.init_workspace(engine)
    >>> workspace.list_notices(engine)
    []
    """
    at = now()
    with engine.connect() as conn:
        rows = store.list_notices(conn)
    return [
        from_row(
            Notice,
            r,
            status="overdue" if r["status"] == "sent" and r["deadline"] < at else r["status"],
        )
        for r in rows
    ]


def acknowledge_notice(
    engine: sa.Engine, notice_id: str, *, note: str | None = None, now: Clock = utcnow
) -> Notice:
    """Record the recipient's confirmation (``notices ack``); its orders are done."""
    at = now()
    with engine.begin() as conn:
        row = store.get_notice(conn, notice_id)
        if row is None:
            raise NotFound("notice", notice_id)
        if row["status"] == "acknowledged":
            return from_row(Notice, row)
        row = store.acknowledge_notice(conn, notice_id, at=at, note=note)
        orders = [
            o["order_id"]
            for o in store.list_orders(conn, kind="notice", target=row["recipient"], pending=True)
            if o["notice_id"] == notice_id
        ]
        store.close_orders(
            conn,
            orders,
            at=at,
            evidence={"notice_id": notice_id, "acknowledged_at": format_timestamp(at)},
        )
    return from_row(Notice, row)
