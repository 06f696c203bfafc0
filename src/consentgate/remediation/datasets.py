"""Dataset remediation: a new version of a dataset without the records that lost consent.

``remediate_parts`` re-checks every record of an existing dataset against a fresh consent
snapshot with the gate's own batch function (``gate.batch.assess``) and writes a new
version that leaves out every record whose eligibility no longer holds. It filters the
existing Parquet parts; it never goes back to the source:

* the eligibility columns (id, category, owners, creation time, shard) of every part are
  read — a projection, a small fraction of the bytes; owner columns holding pseudonyms
  (or dropped) in a dataset for a third party are resolved to member ids first
  (``consentgate.remediation.owners``);
* a part with no ineligible record is hard-linked into the new version (copied where the
  file system cannot link), so it stays byte-identical and keeps its hash;
* a part with ineligible records is read whole, filtered and rewritten under the same
  name with the gate's writer settings (a part left empty is dropped).

As the gate does, it writes into a staging sibling directory (parts under ``data/``) and
publishes it only when every part, the shard assignment and ``manifest.json`` (sealed,
e.g. with ``members_root``) are complete and ``fsync``ed; a version with no record left
keeps one empty part. The manifest has the gate's keys (``counts.input`` is the
superseded version's record count and the
exclusions are this re-check's) plus ``supersedes``, ``reason`` and ``remediation``
(parts rewritten, kept and removed; records removed). The old parts' hashes are checked
against the old manifest before anything is written.

Only records are removed, never added: a record excluded at build time that would be
eligible now is not in the parts and stays out (that takes a new build).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from consentgate.errors import InvalidInput, SchemaMismatch
from consentgate.gate.batch import OK, REASONS, Columns, GateIndex, assess
from consentgate.gate.manifest import build_manifest, records_root, write_manifest
from consentgate.gate.owners import DROPPED, KEPT
from consentgate.gate.parts import empty_part
from consentgate.gate.run import SHARD_COLUMN, WRITER_OPTIONS, Counts, Owners, Seal
from consentgate.gate.sink import write_assignment
from consentgate.gate.staging import Publisher, atomic_directory, reached
from consentgate.remediation.owners import DatasetOwners
from consentgate.snapshot import ConsentSnapshot
from consentgate.timestamps import format_timestamp

__all__ = ["FilterResult", "remediate_parts", "sha256_file"]

I64 = npt.NDArray[np.int64]
_BITMAP_MAX = 1 << 26


@dataclass(frozen=True, slots=True)
class FilterResult:
    """The new version (``changed`` False: nothing to remove, nothing written)."""

    changed: bool
    out_dir: Path | None
    manifest: dict[str, Any]
    manifest_sha256: str
    member_counts: pa.Table
    counts: Counts
    parts_rewritten: tuple[str, ...]
    parts_kept: tuple[str, ...]
    parts_removed: tuple[str, ...]
    shards_touched: tuple[int, ...]

    @property
    def removed(self) -> int:
        return self.counts.input - self.counts.included


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class _Tally:
    """Member counts, shard pairs, kept ids and exclusions over the kept records."""

    n_members: int
    shards: int | None
    as_author: I64
    as_participant: I64
    pairs: list[I64]
    ids: list[pa.Array]
    reasons: I64
    seen: npt.NDArray[np.bool_] | None = None
    """(member, shard) pairs as a bitmap when it is small enough (no sorting needed)."""

    @classmethod
    def empty(cls, n_members: int, shards: int | None) -> _Tally:
        bitmap = None
        if shards is not None and n_members * shards <= _BITMAP_MAX:
            bitmap = np.zeros(n_members * shards, bool)
        return cls(
            n_members,
            shards,
            np.zeros(n_members, np.int64),
            np.zeros(n_members, np.int64),
            [],
            [],
            np.zeros(len(REASONS), np.int64),
            bitmap,
        )

    def member_shard_pairs(self) -> I64:
        """Distinct member * shards + shard values, sorted."""
        if self.seen is not None:
            return np.flatnonzero(self.seen).astype(np.int64)
        return np.unique(np.concatenate(self.pairs)) if self.pairs else np.zeros(0, np.int64)

    def add(
        self, batch: pa.RecordBatch, columns: Columns, index: GateIndex, resolver: DatasetOwners
    ) -> npt.NDArray[np.bool_]:
        a = assess(resolver.resolve(batch), index, columns=columns)
        keep = a.eligible
        self.reasons += np.bincount(a.code[~keep], minlength=OK + 1)[:OK].astype(np.int64)
        owners = Owners.of_rows(a, keep)
        m = self.n_members
        self.as_author += np.bincount(owners.author, minlength=m)
        p_rows, p_members = owners.participants(m)
        if len(p_members):
            self.as_participant += np.bincount(p_members, minlength=m)
        self.ids.append(batch.column(columns.id).filter(pa.array(keep)))
        if self.shards is not None:
            shard = np.asarray(batch.column(SHARD_COLUMN).to_numpy(zero_copy_only=False), np.int64)[
                keep
            ]
            pairs = np.concatenate(
                (owners.author * self.shards + shard, p_members * self.shards + shard[p_rows])
            )
            if self.seen is not None:
                self.seen[pairs] = True
            else:
                self.pairs.append(np.unique(pairs))
        return keep


def _columns_needed(columns: Columns, sharded: bool, *, owners_in_parts: bool) -> list[str]:
    names = [columns.id, columns.category, columns.created_at]
    if owners_in_parts:
        names[2:2] = [columns.author_id, columns.recipient_ids]
    return [*names, SHARD_COLUMN] if sharded else names


def _check_parts(src_dir: Path, files: list[dict[str, Any]]) -> None:
    problems = []
    for f in files:
        path = src_dir / str(f["path"])
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif sha256_file(path) != f["sha256"]:
            problems.append(f"{path}: sha256 differs from the manifest")
    if problems:
        raise InvalidInput(f"{src_dir}: the dataset's parts do not match its manifest", problems)


def _scan_part(
    path: Path,
    needed: list[str],
    columns: Columns,
    index: GateIndex,
    tally: _Tally,
    rows: int,
    owners: DatasetOwners,
) -> npt.NDArray[np.bool_]:
    pf = pq.ParquetFile(path)
    missing = [c for c in needed if c not in pf.schema_arrow.names]
    if missing:
        raise SchemaMismatch(
            f"{path}: columns {missing} are missing (was the dataset built with --map? "
            "give the same --map)"
        )
    masks = [
        tally.add(batch, columns, index, owners)
        for batch in pf.iter_batches(batch_size=max(rows, 1), columns=needed)
    ]
    return np.concatenate(masks) if masks else np.zeros(0, bool)


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _rewrite(src: Path, dst: Path, keep: npt.NDArray[np.bool_]) -> int:
    pf = pq.ParquetFile(src)
    group_rows = pf.metadata.row_group(0).num_rows if pf.metadata.num_row_groups else 1
    table = pf.read().filter(pa.array(keep)).combine_chunks()
    if table.num_rows == 0:
        return 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(dst, table.schema, **WRITER_OPTIONS) as writer:
        for start in range(0, table.num_rows, group_rows):
            group = table.slice(start, group_rows).combine_chunks()
            writer.write_table(group, row_group_size=group_rows)
    return int(table.num_rows)


def _member_table(tally: _Tally, index: GateIndex) -> tuple[pa.Table, I64, I64]:
    counted = np.flatnonzero((tally.as_author > 0) | (tally.as_participant > 0))
    shards_col: pa.Array = pa.nulls(len(counted), pa.list_(pa.int32()))
    members = shard = np.zeros(0, np.int64)
    if tally.shards is not None:
        pairs = tally.member_shard_pairs()
        members, shard = pairs // tally.shards, pairs % tally.shards
        per_member = np.searchsorted(members, counted, side="right") - np.searchsorted(
            members, counted, side="left"
        )
        offsets = np.zeros(len(counted) + 1, np.int32)
        np.cumsum(per_member, out=offsets[1:])
        shards_col = pa.ListArray.from_arrays(pa.array(offsets), pa.array(shard, pa.int32()))
    table = pa.table(
        {
            "member_id": index.member_ids.take(pa.array(counted)).cast(pa.string()),
            "as_author": tally.as_author[counted],
            "as_participant": tally.as_participant[counted],
            "shards": shards_col,
        }
    ).sort_by("member_id")
    return table, members, shard


def _write_assignment(
    directory: Path,
    index: GateIndex,
    members: I64,
    shard: I64,
    old: dict[str, Any],
    owners: DatasetOwners,
) -> dict[str, Any]:
    per_shard = np.bincount(shard, minlength=int(old["n"]))
    info: dict[str, Any] = {
        "n": int(old["n"]),
        "by": old["by"],
        "members": {str(s): int(c) for s, c in enumerate(per_shard) if c},
    }
    if owners.treatment == DROPPED:
        return info
    ids = index.member_ids.take(pa.array(members)).cast(pa.string())
    if owners.treatment != KEPT:
        ids = owners.member_values(ids.to_pylist())
    info["assignment"] = write_assignment(directory, ids, shard)
    return info


def remediate_parts(
    src_dir: Path,
    out_dir: Path,
    *,
    old_manifest: dict[str, Any],
    snapshot: ConsentSnapshot,
    index: GateIndex,
    columns: Columns,
    reason: str,
    batch_rows: int = 65_536,
    owners: DatasetOwners | None = None,
    seal: Seal | None = None,
    publish: Publisher | None = None,
    keep: Callable[[Path], bool] | None = None,
) -> FilterResult:
    """Write the remediated version of the dataset at ``src_dir`` to ``out_dir``.

    ``index`` is ``gate.batch.prepare(snapshot, ...)``. ``owners`` resolves the parts'
    owner columns (default: they hold member ids). ``seal``, ``publish`` and ``keep``
    as for ``gate.run.build_dataset``. When no record lost its eligibility, nothing is
    written and the result has ``changed`` False.
    """
    if out_dir.exists():
        raise InvalidInput(f"{out_dir}: already exists; a dataset is never overwritten")
    owners = owners or DatasetOwners(old_manifest, columns, workspace_key=b"", member_ids=())
    # (without ``owners`` a dataset holding pseudonyms is refused: every record would
    # otherwise read as an unknown member's and be removed)
    files = [dict(f) for f in old_manifest["files"]]
    _check_parts(src_dir, files)
    shards_info = old_manifest.get("shards")
    n_shards = int(shards_info["n"]) if shards_info else None
    needed = _columns_needed(columns, n_shards is not None, owners_in_parts=owners.in_parts)
    tally = _Tally.empty(index.n_members, n_shards)
    masks = {
        str(f["path"]): _scan_part(
            src_dir / str(f["path"]), needed, columns, index, tally, max(batch_rows, 1), owners
        )
        for f in files
    }
    removed = int(tally.reasons.sum())
    member_counts, members, shard = _member_table(tally, index)
    excluded = {r: int(n) for r, n in zip(REASONS, tally.reasons, strict=True)}
    old_included = int(old_manifest["counts"]["included"])
    counts = Counts(input=old_included, included=old_included - removed, excluded=excluded)
    if removed == 0:
        return FilterResult(
            False, None, old_manifest, "", member_counts, counts, (), tuple(masks), (), ()
        )
    with atomic_directory(out_dir, publish=publish, keep=keep) as tmp:
        result = _write_version(
            src_dir,
            tmp,
            files,
            masks,
            tally,
            counts,
            member_counts,
            members,
            shard,
            old_manifest=old_manifest,
            snapshot=snapshot,
            index=index,
            reason=reason,
            owners=owners,
            seal=seal,
        )
    return FilterResult(
        True,
        out_dir,
        result.manifest,
        result.manifest_sha256,
        member_counts,
        counts,
        result.parts_rewritten,
        result.parts_kept,
        result.parts_removed,
        result.shards_touched,
    )


def _shard_of_part(name: str) -> int | None:
    base = Path(name).name
    if base.startswith("shard-"):
        return int(base.split("-")[1])
    return None


def _write_version(
    src_dir: Path,
    tmp: Path,
    files: list[dict[str, Any]],
    masks: dict[str, npt.NDArray[np.bool_]],
    tally: _Tally,
    counts: Counts,
    member_counts: pa.Table,
    members: I64,
    shard: I64,
    *,
    old_manifest: dict[str, Any],
    snapshot: ConsentSnapshot,
    index: GateIndex,
    reason: str,
    owners: DatasetOwners,
    seal: Seal | None,
) -> FilterResult:
    new_files: list[dict[str, Any]] = []
    rewritten: list[str] = []
    kept: list[str] = []
    dropped: list[str] = []
    for f in files:
        name = str(f["path"])
        keep = masks[name]
        if keep.all():
            _link(src_dir / name, tmp / name)
            new_files.append(f)
            kept.append(name)
            continue
        rows = _rewrite(src_dir / name, tmp / name, keep)
        if rows:
            new_files.append({"path": name, "rows": rows, "sha256": sha256_file(tmp / name)})
            rewritten.append(name)
        else:
            dropped.append(name)
    if not new_files:  # no record left: one empty part keeps the schema
        with pq.ParquetFile(src_dir / str(files[0]["path"])) as first:
            new_files.append(empty_part(tmp, first.schema_arrow))
    shards_info = old_manifest.get("shards")
    new_shards = (
        _write_assignment(tmp, index, members, shard, shards_info, owners) if shards_info else None
    )
    ids = (
        pa.concat_arrays([a.cast(pa.large_string()) for a in tally.ids])
        if tally.ids
        else pa.array([], pa.large_string())
    )
    manifest = build_manifest(
        use=snapshot.use,
        recipient=snapshot.recipient,
        as_of=format_timestamp(snapshot.as_of),
        policy_versions=snapshot.policy_versions,
        snapshot_sha256=snapshot.sha256,
        sources=old_manifest["sources"],
        counts=counts.as_dict(),
        files=new_files,
        records_root=records_root(ids),
        shards=new_shards,
        redactions=old_manifest.get("redactions"),
        exclusions=old_manifest.get("exclusions"),
        extra={
            key: old_manifest[key]
            for key in ("columns", "owner_columns", "redaction", "name")  # name: issue 13
            if key in old_manifest
        },
    )
    touched = sorted(
        {s for s in (_shard_of_part(n) for n in (*rewritten, *dropped)) if s is not None}
    )
    manifest["supersedes"] = old_manifest["dataset_id"]
    manifest["reason"] = reason
    manifest["remediation"] = {
        "records_removed": counts.input - counts.included,
        "parts_rewritten": rewritten,
        "parts_kept": kept,
        "parts_removed": dropped,
        "shards_touched": touched,
    }
    if seal is not None:
        manifest.update(seal(manifest, member_counts))
    digest = write_manifest(tmp, manifest)
    reached("manifest_written")
    return FilterResult(
        True,
        tmp,
        manifest,
        digest,
        member_counts,
        counts,
        tuple(rewritten),
        tuple(kept),
        tuple(dropped),
        tuple(touched),
    )
