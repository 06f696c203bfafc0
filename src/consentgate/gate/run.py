"""The gate runner: read a source, gate every batch, write the dataset atomically.

``build_dataset`` opens the source, builds the ``GateIndex`` from the snapshot, has an
engine gate every batch (``consentgate.gate.local``, or ``consentgate.gate.spark``), and
streams the included rows through the ``Sink`` (``consentgate.gate.sink``) into Parquet
parts (``consentgate.gate.parts``) inside a temporary sibling directory
``.<name>.tmp-<random>``. Only when every part, the shard assignment and
``manifest.json`` are written does ``os.replace`` move it to ``out_dir``; a build that
fails or is killed leaves nothing at ``out_dir`` (at most a stale ``.<name>.tmp-*``
directory, which may be deleted).

Reproducibility: the parts are cut at fixed row counts with fixed writer settings, so
the same inputs give byte-identical parts whatever engine produced the rows, however
they were chunked, and however many worker processes gated them.

``shard_of``, ``conversation_key``, ``parallel_workers`` and the other names this module
has always offered are re-exported from their homes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from consentgate.errors import InvalidInput
from consentgate.gate.batch import REASONS, Redactor
from consentgate.gate.local import gate_locally, parallel_workers
from consentgate.gate.lookup import GateIndex, prepare
from consentgate.gate.manifest import build_manifest, write_manifest
from consentgate.gate.parts import WRITER_OPTIONS, atomic_directory
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

Engine = Literal["local", "spark"]

MAX_SHARDS = 1024


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
    """

    out_dir: Path
    manifest: dict[str, Any]
    manifest_sha256: str
    member_counts: pa.Table
    counts: Counts

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
    engine: str,
    batch_rows: int,
    workers: int | None = None,
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
    if engine not in ("local", "spark"):
        problems.append(f"engine: must be 'local' or 'spark', got {engine!r}")
    if batch_rows < 1:
        problems.append(f"batch_rows: must be positive, got {batch_rows}")
    if workers is not None and workers < 1:
        problems.append(f"workers: must be positive, got {workers}")
    if problems:
        raise InvalidInput("cannot build dataset", problems)
    if out_dir.exists():
        raise InvalidInput(f"{out_dir}: already exists; a dataset is never overwritten")


def build_dataset(
    source: str | Path,
    *,
    snapshot: ConsentSnapshot,
    out_dir: str | Path,
    use: str,
    recipient: str,
    as_of: datetime,
    shards: int | None = None,
    shard_by: ShardBy = "author",
    column_map: dict[str, str] | None = None,
    engine: Engine = "local",
    redactor: Redactor | None = None,
    batch_rows: int = 65_536,
    progress: Progress | None = None,
    workers: int | None = None,
) -> BuildResult:
    """Gate ``source`` against ``snapshot`` and write the dataset to ``out_dir``.

    ``use``, ``recipient`` and ``as_of`` must be the snapshot's (the caller checked the
    recipient against the policy when it made the snapshot). ``batch_rows`` is both the
    reading batch size and the row-group size of the parts. ``workers``: processes that
    gate and redact batches in a local build with a redactor (see
    :func:`parallel_workers`; None = automatic, 1 = in this process); the dataset is
    byte-identical whatever the number.
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
        engine=engine,
        batch_rows=batch_rows,
        workers=workers,
    )
    opened = open_source(source, column_map=column_map, require_text=redactor is not None)
    if shards is not None and SHARD_COLUMN in opened.schema.names:
        raise InvalidInput(f"{source}: has a column named {SHARD_COLUMN!r}; cannot add shards")
    index = prepare(snapshot)
    logger.info("gate build started: %d source files, %d rows", len(opened.files), opened.rows)
    with atomic_directory(out) as tmp:
        result = _build_into(
            tmp,
            opened,
            index,
            snapshot=snapshot,
            shards=shards,
            shard_by=shard_by,
            engine=engine,
            redactor=redactor,
            batch_rows=batch_rows,
            progress=progress,
            workers=workers,
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
    )


def _build_into(
    tmp: Path,
    source: Source,
    index: GateIndex,
    *,
    snapshot: ConsentSnapshot,
    shards: int | None,
    shard_by: ShardBy,
    engine: Engine,
    redactor: Redactor | None,
    batch_rows: int,
    progress: Progress | None,
    workers: int | None,
) -> BuildResult:
    sources = [fingerprint(path).as_dict() for path in source.files]
    sink = Sink(tmp, source, index, shards=shards, shard_by=shard_by, row_group_rows=batch_rows)
    gated: Gated
    if engine == "spark":
        from consentgate.gate.spark import gate_source_on_spark

        gated = gate_source_on_spark(
            source, index, redactor=redactor, batch_rows=batch_rows, progress=progress
        )
    else:
        gated = gate_locally(
            source,
            index,
            redactor=redactor,
            batch_rows=batch_rows,
            progress=progress,
            workers=parallel_workers(
                workers, redactor=redactor, batches=-(-source.rows // batch_rows)
            ),
        )
    included = 0
    try:
        for batch, owners in gated.included:
            sink.add(batch, owners)
            included += batch.num_rows
    except BaseException:
        close = getattr(gated.included, "close", None)
        if close is not None:  # stops a parallel build's worker processes now
            close()
        sink.writer.abort()
        raise
    reasons, redactions, exclusions = gated.finish()
    files, root, member_counts, shard_info = sink.finish()
    excluded = {reason: reasons.get(reason, 0) for reason in REASONS}
    excluded.update(reasons)
    total = included + sum(excluded.values())
    counts = Counts(input=total, included=included, excluded=excluded)
    if source.rows != total:
        raise AssertionError(f"gate saw {total} records, the source has {source.rows}")
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
        redaction=getattr(redactor, "description", None) if redactor is not None else None,
    )
    digest = write_manifest(tmp, manifest)
    return BuildResult(
        out_dir=tmp,
        manifest=manifest,
        manifest_sha256=digest,
        member_counts=member_counts,
        counts=counts,
    )
