"""The gate runner: read a source, gate every batch, write the dataset atomically.

``build_dataset`` opens the source, builds the ``GateIndex`` from the build's snapshots
(consent at the cutoff ``as_of`` and, with ``at_build``, at the build time, both as known
at the build time), has a runner gate every batch (``consentgate.gate.local``, or
``consentgate.gate.spark``), and streams the included rows through the ``Sink``
(``consentgate.gate.sink``) into Parquet parts under ``data/`` (``consentgate.gate.parts``)
inside a staging sibling ``.<name>.tmp-<random>`` (``consentgate.files``). Only
when every part, the shard assignment and ``manifest.json`` (with everything, including
what ``seal`` adds, e.g. ``members_root``) are written and ``fsync``ed does the publisher
(default: ``os.replace``) make it appear at ``out_dir``; a build that fails or is killed
leaves nothing at ``out_dir`` (at most a stale staging sibling, removed by the next build
of the same name).

Records created after the build time are bad input: they are excluded and counted
(``created_after_build``), and the build is refused when they are more than
``max_future_share`` of the source.

Reproducibility: the parts are cut at fixed row counts with fixed writer settings, so
the same inputs give byte-identical parts whatever runner produced the rows, however
they were chunked, and however many worker processes gated them.

``shard_of``, ``conversation_key``, ``parallel_workers`` and the other names this module
has always offered are re-exported from their homes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from consentgate.errors import InvalidInput, UsageError
from consentgate.files import Publisher, atomic_directory, publish_by_rename, reached
from consentgate.gate.batch import REASONS, Redactor
from consentgate.gate.local import gate_locally, parallel_workers
from consentgate.gate.lookup import GateIndex, prepare
from consentgate.gate.manifest import build_manifest, write_manifest
from consentgate.gate.owners import OwnerColumns
from consentgate.gate.parts import WRITER_OPTIONS
from consentgate.gate.sink import SHARD_COLUMN, Gated, Owners, Progress, Sink
from consentgate.gate.source import Source, fingerprint, open_source
from consentgate.sharding import ShardBy, conversation_key, shard_of
from consentgate.snapshot import ConsentSnapshot
from consentgate.timestamps import format_timestamp

__all__ = [
    "SHARD_COLUMN",
    "WRITER_OPTIONS",
    "BuildResult",
    "Counts",
    "Owners",
    "Progress",
    "build_dataset",
    "conversation_key",
    "parallel_workers",
    "shard_of",
]

logger = logging.getLogger(__name__)

Runner = Literal["local", "spark"]

MAX_SHARDS = 1024

Seal = Callable[[Mapping[str, Any], pa.Table], Mapping[str, Any]]
"""``seal(manifest, member_counts)``: keys to add to a finished manifest (its
``dataset_id`` is known and must not change), e.g. ``members_root``."""


@dataclass(frozen=True, slots=True)
class Counts:
    """Records read, included, and excluded by reason (input = included + excluded)."""

    input: int
    included: int
    excluded: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {"input": self.input, "included": self.included, "excluded": dict(self.excluded)}


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What a build produced.

    ``member_counts``: member_id, as_author, as_participant (records where the member is
    a non-author owner), shards (list<int32>, null when the build is not sharded) — for
    every member with at least one included record, sorted by member_id.
    ``published``: False when the publisher declined it (nothing was written at
    ``out_dir``: a verification found it identical to a registered dataset, whose
    registry row is then ``registered``).
    """

    out_dir: Path
    manifest: dict[str, Any]
    manifest_sha256: str
    member_counts: pa.Table
    counts: Counts
    published: bool = True
    registered: Mapping[str, Any] | None = None

    @property
    def dataset_id(self) -> str:
        return str(self.manifest["dataset_id"])


def _check_request(
    snapshot: ConsentSnapshot,
    out_dir: Path,
    *,
    use: str,
    recipient: str,
    as_of: datetime,
    shards: int | None,
    shard_by: str,
    runner: str,
    batch_rows: int,
    workers: int | None = None,
    at_build: ConsentSnapshot | None = None,
    max_future_share: float = 1.0,
    out_may_exist: bool = False,
) -> None:
    problems = []
    if snapshot.use != use:
        problems.append(f"use: the snapshot is for {snapshot.use!r}, not {use!r}")
    if snapshot.recipient != recipient:
        problems.append(f"recipient: the snapshot is for {snapshot.recipient!r}, not {recipient!r}")
    if snapshot.as_of != as_of:
        problems.append(
            f"as_of: the snapshot is as of {format_timestamp(snapshot.as_of)}, "
            f"not {format_timestamp(as_of)}"
        )
    if shards is not None and not 1 <= shards <= MAX_SHARDS:
        problems.append(f"shards: must be between 1 and {MAX_SHARDS}, got {shards}")
    if shard_by not in ("author", "conversation"):
        problems.append(f"shard_by: must be 'author' or 'conversation', got {shard_by!r}")
    if runner not in ("local", "spark"):
        problems.append(f"runner: must be 'local' or 'spark', got {runner!r}")
    if batch_rows < 1:
        problems.append(f"batch_rows: must be positive, got {batch_rows}")
    if workers is not None and workers < 1:
        problems.append(f"workers: must be positive, got {workers}")
    if at_build is not None and at_build.as_of < as_of:
        problems.append(
            f"as_of: {format_timestamp(as_of)} is after the build time "
            f"{format_timestamp(at_build.as_of)}"
        )
    if not 0.0 <= max_future_share <= 1.0:
        problems.append(f"max_future_share: must be between 0 and 1, got {max_future_share}")
    if problems:
        raise InvalidInput("cannot build dataset", problems)
    if out_dir.exists() and not out_may_exist:
        raise InvalidInput(f"{out_dir}: already exists; a dataset is never overwritten")


def build_dataset(
    source: str | Path | Source,
    *,
    snapshot: ConsentSnapshot,
    out_dir: str | Path,
    use: str,
    recipient: str,
    as_of: datetime,
    shards: int | None = None,
    shard_by: ShardBy = "author",
    column_map: dict[str, str] | None = None,
    runner: Runner = "local",
    redactor: Redactor | None = None,
    batch_rows: int = 65_536,
    progress: Progress | None = None,
    workers: int | None = None,
    at_build: ConsentSnapshot | None = None,
    owner_columns: OwnerColumns | None = None,
    max_future_share: float = 1.0,
    manifest_extra: Mapping[str, Any] | None = None,
    seal: Seal | None = None,
    publish: Publisher | None = None,
    keep: Callable[[Path], bool] | None = None,
    out_may_exist: bool = False,
) -> BuildResult:
    """Gate ``source`` against the build's consent and write the dataset to ``out_dir``.

    ``snapshot`` is consent at the cutoff (``use``, ``recipient`` and ``as_of`` must be
    its own; the caller checked the recipient against the policy when it made it);
    ``at_build`` is consent at the build time as known then (None: judge the cutoff
    alone). ``batch_rows`` is both the reading batch size and the row-group size of the
    parts. ``workers``: processes that gate and redact batches in a local build with a
    redactor (see :func:`parallel_workers`; None = automatic, 1 = in this process); the
    dataset is byte-identical whatever the number. ``owner_columns``: what to do with
    the owner columns (default: keep them). ``manifest_extra``: keys added to the
    manifest before its id is computed; ``seal``: keys added after. ``publish`` and
    ``keep``: see ``consentgate.files.atomic_directory``; ``out_may_exist``: the
    publisher decides what an existing ``out_dir`` means (a verification target).
    """
    out = Path(out_dir)
    _check_request(
        snapshot,
        out,
        use=use,
        recipient=recipient,
        as_of=as_of,
        shards=shards,
        shard_by=shard_by,
        runner=runner,
        batch_rows=batch_rows,
        workers=workers,
        at_build=at_build,
        max_future_share=max_future_share,
        out_may_exist=out_may_exist,
    )
    if isinstance(source, Source):
        if column_map is not None:
            raise UsageError("`column_map` goes with a path: an opened source has its columns")
        opened = source.requiring_text() if redactor is not None else source
    else:
        opened = open_source(source, column_map=column_map, require_text=redactor is not None)
    if shards is not None and SHARD_COLUMN in opened.schema.names:
        raise InvalidInput(f"{opened.name}: has a column named {SHARD_COLUMN!r}; cannot add shards")
    index = prepare(snapshot, at_build=at_build)
    owners = owner_columns or OwnerColumns()
    extra: dict[str, Any] = {
        "columns": opened.columns.as_dict(),
        "owner_columns": owners.describe(opened.columns),
    }
    if opened.absent:  # issue 13: columns the source lacked, written as nulls
        extra["columns_absent"] = list(opened.absent)
    if at_build is not None:
        extra["built_at"] = format_timestamp(at_build.as_of)
        extra["build_snapshot"] = {
            "sha256": at_build.sha256,
            "policy_versions": list(at_build.policy_versions),
        }
    extra.update(manifest_extra or {})
    described = getattr(redactor, "description", None) if redactor is not None else None
    if described:  # how names were found (directory, cues, NER), beside the profile
        extra["redaction"] = {**extra.get("redaction", {}), **described}
    logger.info("gate build started: %d source files, %d rows", len(opened.files), opened.rows)
    published = True

    def publisher(staged: Path, final: Path) -> bool:
        nonlocal published
        published = publish(staged, final) if publish is not None else _rename(staged, final)
        return published

    with atomic_directory(out, publish=publisher, keep=keep) as tmp:
        result = _build_into(
            tmp,
            opened,
            index,
            snapshot=snapshot,
            shards=shards,
            shard_by=shard_by,
            runner=runner,
            redactor=redactor,
            batch_rows=batch_rows,
            progress=progress,
            workers=workers,
            owners=owners,
            extra=extra,
            seal=seal,
            max_future_share=max_future_share,
        )
    logger.info(
        "gate build finished: %d included of %d", result.counts.included, result.counts.input
    )
    return BuildResult(
        out_dir=out,
        manifest=result.manifest,
        manifest_sha256=result.manifest_sha256,
        member_counts=result.member_counts,
        counts=result.counts,
        published=published,
    )


def _rename(staged: Path, final: Path) -> bool:
    publish_by_rename(staged, final)
    reached("published")
    return True


def _build_into(
    tmp: Path,
    source: Source,
    index: GateIndex,
    *,
    snapshot: ConsentSnapshot,
    shards: int | None,
    shard_by: ShardBy,
    runner: Runner,
    redactor: Redactor | None,
    batch_rows: int,
    progress: Progress | None,
    workers: int | None,
    owners: OwnerColumns,
    extra: Mapping[str, Any],
    seal: Seal | None,
    max_future_share: float,
) -> BuildResult:
    sources = [fingerprint(path).as_dict() for path in source.files]
    if runner == "spark":
        from consentgate.gate.spark import build_on_spark

        built = build_on_spark(
            tmp,
            source,
            index,
            shards=shards,
            shard_by=shard_by,
            owners=owners,
            redactor=redactor,
            row_group_rows=batch_rows,
            progress=progress,
        )
        files, root, member_counts, shard_info = (
            built.files,
            built.records_root,
            built.member_counts,
            built.shards,
        )
        included = built.included
        reasons, redactions, exclusions = built.reasons, built.redactions, built.exclusions
    else:
        files, root, member_counts, shard_info, included, gated = _gate_here(
            tmp,
            source,
            index,
            shards=shards,
            shard_by=shard_by,
            redactor=redactor,
            batch_rows=batch_rows,
            progress=progress,
            workers=workers,
            owners=owners,
        )
        reasons, redactions, exclusions = gated.finish()
    excluded = {reason: reasons.get(reason, 0) for reason in REASONS}
    excluded.update(reasons)
    total = included + sum(excluded.values())
    counts = Counts(input=total, included=included, excluded=excluded)
    if source.rows != total:
        raise AssertionError(f"gate saw {total} records, the source has {source.rows}")
    _check_future_share(counts, max_future_share)
    reached("parts_written")
    manifest = build_manifest(
        use=snapshot.use,
        recipient=snapshot.recipient,
        as_of=format_timestamp(snapshot.as_of),
        policy_versions=snapshot.policy_versions,
        snapshot_sha256=snapshot.sha256,
        sources=sources,
        counts=counts.as_dict(),
        files=files,
        records_root=root,
        shards=shard_info,
        redactions=redactions if redactor is not None else None,
        exclusions=exclusions if redactor is not None else None,
        extra=extra,
    )
    if seal is not None:
        sealed = dict(seal(manifest, member_counts))
        if "dataset_id" in sealed:
            raise AssertionError("seal may not change the dataset id")
        manifest.update(sealed)
    digest = write_manifest(tmp, manifest)
    reached("manifest_written")
    return BuildResult(
        out_dir=tmp,
        manifest=manifest,
        manifest_sha256=digest,
        member_counts=member_counts,
        counts=counts,
    )


def _gate_here(
    tmp: Path,
    source: Source,
    index: GateIndex,
    *,
    shards: int | None,
    shard_by: ShardBy,
    redactor: Redactor | None,
    batch_rows: int,
    progress: Progress | None,
    workers: int | None,
    owners: OwnerColumns,
) -> tuple[list[dict[str, Any]], str, pa.Table, dict[str, Any] | None, int, Gated]:
    """The local runner: gate in this process (or worker processes), write through one
    ``Sink``."""
    sink = Sink(
        tmp,
        source,
        index,
        shards=shards,
        shard_by=shard_by,
        row_group_rows=batch_rows,
        owners=owners,
    )
    gated = gate_locally(
        source,
        index,
        redactor=redactor,
        batch_rows=batch_rows,
        progress=progress,
        workers=parallel_workers(workers, redactor=redactor, batches=-(-source.rows // batch_rows)),
    )
    included = 0
    try:
        for batch, owners_of, positions in gated.included:
            sink.add(batch, owners_of, positions)
            included += batch.num_rows
    except BaseException:
        close = getattr(gated.included, "close", None)
        if close is not None:  # stops a parallel build's worker processes now
            close()
        sink.writer.abort()
        raise
    files, root, member_counts, shard_info = sink.finish()
    return files, root, member_counts, shard_info, included, gated


def _check_future_share(counts: Counts, limit: float) -> None:
    """Refuse the build when too many records were created after the build time."""
    future = counts.excluded.get("created_after_build", 0)
    if future and future > limit * counts.input:
        raise InvalidInput(
            f"{future} of {counts.input} records ({future / counts.input:.2%}) have a "
            "created_at after the build time: bad input (a corrupted or mis-mapped "
            f"created_at column?); the limit is {limit:.2%} of the source "
            "(setting gate_max_future_share); nothing was written"
        )
