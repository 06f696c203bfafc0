"""The dataset registry: which datasets exist and whose records each holds."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from consentgate.errors import Conflict
from consentgate.store import audit as store_audit
from consentgate.store import bulk
from consentgate.store import tables as t

if TYPE_CHECKING:
    import pyarrow as pa

DATASET_REGISTERED = "dataset.registered"


def members_digest(rows: Iterator[tuple[str, int, int, Any]]) -> str:
    """SHA-256 over (member_id, as_author, as_participant, shards) rows sorted by member_id."""
    h = hashlib.sha256()
    for member_id, author, participant, shards in rows:
        h.update(f"{member_id}\x1f{author}\x1f{participant}\x1f{shards}\n".encode())
    return h.hexdigest()


_MEMBER_COLUMNS = ("dataset_id", "member_id", "as_author", "as_participant", "shards")


def _member_rows(dataset_id: str, counts: pa.Table) -> tuple[list[tuple[Any, ...]], str]:
    """``dataset_members`` rows in database form (``bulk.insert_values``), by member id,
    and their ``members_digest``: built column-wise from the Arrow table (a build
    registers one row per member it holds)."""
    counts = counts.sort_by("member_id")
    n = counts.num_rows
    ids = counts.column("member_id").to_pylist()
    authors = counts.column("as_author").to_pylist()
    participants = counts.column("as_participant").to_pylist()
    shards = counts.column("shards").to_pylist() if "shards" in counts.column_names else [None] * n
    digest = members_digest(zip(ids, authors, participants, shards, strict=True))
    stored = [None if s is None else bulk.json_text(s) for s in shards]
    rows = list(zip([dataset_id] * n, ids, authors, participants, stored, strict=True))
    return rows, digest


def register_dataset(
    conn: sa.Connection,
    *,
    manifest: dict[str, Any],
    manifest_sha256: str,
    path: str,
    member_counts: pa.Table,
    at: datetime,
    supersedes: str | None = None,
) -> dict[str, Any]:
    dataset_id = str(manifest["dataset_id"])
    c = t.datasets.c
    if conn.execute(sa.select(c.dataset_id).where(c.dataset_id == dataset_id)).first() is not None:
        raise Conflict(f"dataset {dataset_id} is already registered")
    rows, digest = _member_rows(dataset_id, member_counts)
    shards = manifest.get("shards") or {}
    values = {
        "dataset_id": dataset_id,
        "use": manifest["use"],
        "recipient": manifest["recipient"],
        "as_of": _ts(manifest["as_of"]),
        "path": path,
        "manifest_sha256": manifest_sha256,
        "snapshot_sha256": manifest["snapshot_sha256"],
        "input_records": int(manifest["counts"]["input"]),
        "records": int(manifest["counts"]["included"]),
        "members": len(rows),
        "members_sha256": digest,
        "shards": shards.get("n") if shards else None,
        "shard_by": shards.get("by") if shards else None,
        "status": "active",
        "supersedes": supersedes,
        "created_at": at,
    }
    conn.execute(t.datasets.insert().values(**values))
    bulk.insert_values(conn, t.dataset_members, _MEMBER_COLUMNS, rows)
    secret = store_audit.workspace_secret(conn)
    store_audit.append(
        conn, [store_audit.audit_item(secret, DATASET_REGISTERED, "datasets", values)], at=at
    )
    return values


def _ts(value: Any) -> datetime:
    from consentgate.timestamps import parse_timestamp

    return parse_timestamp(value, field="as_of")


def list_datasets(
    conn: sa.Connection, *, limit: int | None = None, offset: int = 0
) -> list[dict[str, Any]]:
    """Registered datasets, oldest first; a window of them when ``limit`` is given."""
    c = t.datasets.c
    query = sa.select(t.datasets).order_by(c.created_at, c.dataset_id)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return [dict(r._mapping) for r in conn.execute(query)]


def count_datasets(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(t.datasets)).scalar_one())


def get_dataset(conn: sa.Connection, dataset_id: str) -> dict[str, Any] | None:
    c = t.datasets.c
    r = conn.execute(sa.select(t.datasets).where(c.dataset_id == dataset_id)).first()
    return dict(r._mapping) if r else None


def member_impact(conn: sa.Connection, member_id: str) -> list[dict[str, Any]]:
    """Every registered dataset holding the member's records, with counts and shards."""
    d, m = t.datasets.c, t.dataset_members.c
    q = (
        sa.select(
            d.dataset_id,
            d.use,
            d.recipient,
            d.as_of,
            d.status,
            d.path,
            m.as_author,
            m.as_participant,
            m.shards,
        )
        .join(t.dataset_members, m.dataset_id == d.dataset_id)
        .where(m.member_id == member_id)
        .order_by(d.created_at, d.dataset_id)
    )
    return [dict(r._mapping) for r in conn.execute(q)]


def verify_members(conn: sa.Connection) -> None:
    """Recompute each dataset's members digest from its member rows (the audited commitment)."""
    m = t.dataset_members.c
    for ds in list_datasets(conn):
        rows = conn.execute(
            sa.select(m.member_id, m.as_author, m.as_participant, m.shards)
            .where(m.dataset_id == ds["dataset_id"])
            .order_by(m.member_id)
        )
        if members_digest((r[0], r[1], r[2], r[3]) for r in rows) != ds["members_sha256"]:
            from consentgate.errors import AuditChainBroken

            raise AuditChainBroken(f"the member rows of dataset {ds['dataset_id']} were altered")


DATASET_STATUS_CHANGED = "dataset.status_changed"


def set_dataset_status(conn: sa.Connection, dataset_id: str, status: str, *, at: datetime) -> None:
    """Mark a dataset ``superseded`` (a remediated version replaces it) or ``purged`` (its
    files were deleted), with an audit entry for the changed row."""
    c = t.datasets.c
    conn.execute(t.datasets.update().where(c.dataset_id == dataset_id).values(status=status))
    row = get_dataset(conn, dataset_id)
    if row is None:
        from consentgate.errors import NotFound

        raise NotFound("dataset", dataset_id)
    secret = store_audit.workspace_secret(conn)
    store_audit.append(
        conn, [store_audit.audit_item(secret, DATASET_STATUS_CHANGED, "datasets", row)], at=at
    )


def dataset_member_ids(conn: sa.Connection, dataset_id: str) -> list[str]:
    m = t.dataset_members.c
    query = sa.select(m.member_id).where(m.dataset_id == dataset_id).order_by(m.member_id)
    return list(conn.execute(query).scalars())


# --------------------------------------------------------------------------- publication


def stage_dataset(conn: sa.Connection, dataset_id: str, staging_path: str, *, at: datetime) -> None:
    """Journal that a just-registered dataset is still under its staging name."""
    conn.execute(
        t.dataset_staging.insert().values(
            dataset_id=dataset_id, staging_path=staging_path, created_at=at
        )
    )


def unstage_dataset(conn: sa.Connection, dataset_id: str) -> None:
    c = t.dataset_staging.c
    conn.execute(t.dataset_staging.delete().where(c.dataset_id == dataset_id))


def staged_datasets(conn: sa.Connection) -> list[dict[str, Any]]:
    """Registered datasets whose directory still has its staging name (with their path)."""
    s, d = t.dataset_staging.c, t.datasets.c
    query = (
        sa.select(s.dataset_id, s.staging_path, d.path)
        .join(t.datasets, d.dataset_id == s.dataset_id)
        .order_by(s.created_at, s.dataset_id)
    )
    return [dict(r._mapping) for r in conn.execute(query)]


def is_staging_path(conn: sa.Connection, path: str) -> bool:
    c = t.dataset_staging.c
    query = sa.select(c.dataset_id).where(c.staging_path == path)
    return conn.execute(query).first() is not None


def find_dataset_at(conn: sa.Connection, path: str) -> dict[str, Any] | None:
    """The registered dataset whose directory is ``path`` (the newest, if several)."""
    c = t.datasets.c
    r = conn.execute(
        sa.select(t.datasets).where(c.path == path).order_by(c.created_at.desc()).limit(1)
    ).first()
    return dict(r._mapping) if r else None


def claim_active(conn: sa.Connection, dataset_id: str) -> None:
    """Inside a write transaction: lock the dataset's row and check it is still
    ``active`` (another process may have remediated or purged it since it was read);
    ``Conflict`` otherwise. With the write lock every transaction takes first
    (``consentgate.store.engine``) this also holds on SQLite."""
    c = t.datasets.c
    status = conn.execute(
        sa.select(c.status).where(c.dataset_id == dataset_id).with_for_update()
    ).scalar()
    if status != "active":
        raise Conflict(
            f"dataset {dataset_id} is {status or 'gone'}: another process changed it while "
            "this one worked; nothing was registered (see `consentgate datasets`)"
        )
