"""Dataset remediation: a new version of a dataset without the records whose eligibility
no longer holds under a fresh consent snapshot, registered in place of the old one,
closing the dataset's orders (and, with ``purge``, deleting the old version's files).
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from consentgate.ecosystem.documents import documenting  # issue 13: Croissant + card
from consentgate.errors import Conflict
from consentgate.gate.batch import Columns, prepare
from consentgate.gate.manifest import MANIFEST_NAME
from consentgate.remediation.datasets import remediate_parts
from consentgate.remediation.owners import DatasetOwners
from consentgate.store import registry
from consentgate.store import remediation as store
from consentgate.store.audit import workspace_secret
from consentgate.timestamps import Clock, format_timestamp, utcnow
from consentgate.workspace.dataset_files import manifest_of, registered_dataset
from consentgate.workspace.dataset_verify import require_verified
from consentgate.workspace.publication import (
    MemberSeal,
    Publication,
    keep_registered,
    register_version,
)
from consentgate.workspace.remediation import members_of, unsent_notice_orders
from consentgate.workspace.snapshots import build_snapshots

logger = logging.getLogger(__name__)

_SUFFIX = re.compile(r"^(.*)-r(\d+)$")


@dataclass(frozen=True, slots=True)
class Remediated:
    """What ``remediate`` did to one dataset."""

    dataset_id: str
    new_dataset_id: str | None
    out: Path | None
    records_before: int
    records_removed: int
    parts_rewritten: tuple[str, ...]
    parts_kept: tuple[str, ...]
    parts_removed: tuple[str, ...]
    shards_touched: tuple[int, ...]
    orders_closed: tuple[str, ...]
    purged: bool
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id,
            "new_dataset_id": self.new_dataset_id,
            "out": None if self.out is None else str(self.out),
            "records_before": self.records_before,
            "records_removed": self.records_removed,
            "parts_rewritten": list(self.parts_rewritten),
            "parts_kept": list(self.parts_kept),
            "parts_removed": list(self.parts_removed),
            "shards_touched": list(self.shards_touched),
            "orders_closed": list(self.orders_closed),
            "purged": self.purged,
            "seconds": round(self.seconds, 3),
        }


def _next_path(path: Path) -> Path:
    match = _SUFFIX.match(path.name)
    stem, n = (match.group(1), int(match.group(2))) if match else (path.name, 0)
    candidate = path.with_name(f"{stem}-r{n + 1}")
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{stem}-r{n + 1}")
    return candidate


def _reason(orders: Sequence[Mapping[str, Any]]) -> str:
    triggers = sorted({t for o in orders for t in o["triggers"]})
    if not triggers:
        return "re-check: eligibility re-evaluated without open orders"
    return "remediation of " + ", ".join(triggers) + f" ({len(orders)} orders)"


def remediate(
    engine: sa.Engine,
    dataset_id: str,
    *,
    as_of: datetime | None = None,
    out: Path | None = None,
    purge: bool = False,
    column_map: Mapping[str, str] | None = None,
    batch_rows: int = 65_536,
    now: Clock = utcnow,
) -> Remediated:
    """Write a new version of ``dataset_id`` without the records whose eligibility no
    longer holds (``remediate``), register it, mark the old one superseded and close the
    dataset's orders. ``purge`` deletes the old version's files afterwards.
    """
    started = time.perf_counter()
    at = now()
    with engine.connect() as conn:
        ds = registered_dataset(conn, dataset_id)
        if ds["status"] != "active":
            newer = store.successor(conn, dataset_id)
            raise Conflict(
                f"dataset {dataset_id} is {ds['status']}"
                + (f"; its current version is {newer}" if newer else "")
            )
        orders = store.list_orders(conn, kind="dataset", target=dataset_id, pending=True)
        if purge:
            unsent = [
                o["order_id"] for o in unsent_notice_orders(conn) if dataset_id in o["datasets"]
            ]
            if unsent:
                raise Conflict(
                    f"{len(unsent)} deletion notice(s) for this dataset are not sent yet; "
                    "send them (`send_notices`) before `purge` (they list its records)"
                )
    require_verified(engine, Path(str(ds["path"])))  # files, manifest, registry row, log
    old_manifest = manifest_of(ds)
    # A past `as_of`: eligible then and now (DESIGN.md "Record eligibility"); recorded, and
    # never refused for an ended contract: removing data is always allowed.
    snap, now_snap = build_snapshots(
        engine,
        use=ds["use"],
        recipient=ds["recipient"],
        as_of=as_of or at,
        built_at=at,
        refuse_recipient=False,
        record=True,
    )
    columns = Columns.from_map(column_map or old_manifest.get("columns"))
    with engine.connect() as conn:
        key = workspace_secret(conn)
        owners = DatasetOwners(
            old_manifest,
            columns,
            workspace_key=key,
            member_ids=registry.dataset_member_ids(conn, dataset_id),
        )
    src = Path(str(ds["path"]))
    target = out or _next_path(src)
    order_ids = [str(o["order_id"]) for o in orders]
    seal = MemberSeal(key)

    def register(
        conn: sa.Connection, manifest: Mapping[str, Any], manifest_sha256: str, path: str
    ) -> None:
        register_version(
            conn,
            manifest,
            manifest_sha256,
            path,
            member_counts=seal.member_counts,
            at=at,
            supersedes=dataset_id,
        )
        done = manifest["remediation"]
        _close(
            conn,
            order_ids,
            version=str(manifest["dataset_id"]),
            removed=int(done["records_removed"]),
            rewritten=len(done["parts_rewritten"]) + len(done["parts_removed"]),
            kept=len(done["parts_kept"]),
            shards=list(done["shards_touched"]),
            as_of=snap.as_of,
            member_counts=seal.member_counts,
            at=at,
        )

    publication = Publication(engine, register)
    result = remediate_parts(
        src,
        target,
        old_manifest=old_manifest,
        snapshot=snap,
        index=prepare(snap, at_build=now_snap),
        columns=columns,
        reason=_reason(orders),
        batch_rows=batch_rows,
        owners=owners,
        seal=seal,
        publish=documenting(publication),  # issue 13
        keep=keep_registered(engine),
    )
    if publication.identical is not None:
        raise Conflict(f"the remediated version is already registered as {target}")
    if not result.changed:
        with engine.begin() as conn:
            _close(
                conn,
                order_ids,
                version=str(result.manifest["dataset_id"]),
                removed=0,
                rewritten=0,
                kept=len(result.parts_kept),
                shards=[],
                as_of=snap.as_of,
                member_counts=result.member_counts,
                at=at,
            )
    purged = False
    if purge and result.changed:
        _purge(engine, ds, at=at)
        purged = True
    logger.info(
        "dataset remediated: %d of %d records removed, %d parts rewritten, %d kept",
        result.removed,
        result.counts.input,
        len(result.parts_rewritten) + len(result.parts_removed),
        len(result.parts_kept),
    )
    return Remediated(
        dataset_id=dataset_id,
        new_dataset_id=result.manifest["dataset_id"] if result.changed else None,
        out=target if result.changed else None,
        records_before=result.counts.input,
        records_removed=result.removed,
        parts_rewritten=result.parts_rewritten,
        parts_kept=result.parts_kept if result.changed else (),
        parts_removed=result.parts_removed,
        shards_touched=result.shards_touched,
        orders_closed=tuple(order_ids),
        purged=purged,
        seconds=time.perf_counter() - started,
    )


def _close(
    conn: sa.Connection,
    order_ids: list[str],
    *,
    version: str,
    removed: int,
    rewritten: int,
    kept: int,
    shards: list[int],
    as_of: datetime,
    member_counts: pa.Table,
    at: datetime,
) -> None:
    """Close the dataset's orders with what the remediation did as evidence."""
    still = members_of(conn, order_ids) & set(member_counts.column("member_id").to_pylist())
    store.close_orders(
        conn,
        order_ids,
        at=at,
        evidence={
            "dataset_version": version,
            "records_removed": removed,
            "parts_rewritten": rewritten,
            "parts_kept": kept,
            "shards_touched": shards,
            "as_of": format_timestamp(as_of),
            "members_still_eligible": len(still),
        },
    )


def _purge(engine: sa.Engine, ds: Mapping[str, Any], *, at: datetime) -> None:
    path = Path(str(ds["path"]))
    if (path / MANIFEST_NAME).is_file():
        shutil.rmtree(path)
    with engine.begin() as conn:
        registry.set_dataset_status(conn, str(ds["dataset_id"]), "purged", at=at)
