"""The gate runner: read a source, gate every batch, write the dataset atomically.

``build_dataset`` reads the source batch by batch, applies ``gate_batch`` (the same pure
function Spark runs), and streams the included rows into Parquet parts inside a
temporary sibling directory ``.<name>.tmp-<random>``. Only when every part, the shard
assignment and ``manifest.json`` are written does ``os.replace`` move it to ``out_dir``;
a build that fails or is killed leaves nothing at ``out_dir`` (at most a stale
``.<name>.tmp-*`` directory, which may be deleted).

Reproducibility: parts are cut from the stream of included rows at fixed row counts
(``row_group_rows`` rows per row group, ``PART_ROW_GROUPS`` row groups per part, per
shard), each row group is written from one contiguous Arrow array, and the writer
settings are fixed, so the same inputs give byte-identical parts whatever engine
produced the rows and however they were chunked. With a redactor, a local build may gate
and redact batches in worker processes (``workers``); their results are consumed in
source order, so that changes nothing either.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import pickle
import secrets
import shutil
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from consentgate.errors import InvalidInput
from consentgate.gate.batch import (
    OK,
    REASON,
    REASONS,
    Assessment,
    Columns,
    GateIndex,
    Redactor,
    assess,
    gate_batch,
    prepare,
)
from consentgate.gate.manifest import (
    SHARDS_NAME,
    build_manifest,
    records_root,
    write_manifest,
)
from consentgate.gate.source import Source, fingerprint, open_source
from consentgate.snapshot import ConsentSnapshot
from consentgate.timestamps import format_timestamp

__all__ = ["BuildResult", "Counts", "build_dataset", "parallel_workers", "shard_of"]

logger = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]
ShardBy = Literal["author", "conversation"]
Engine = Literal["local", "spark"]

SHARD_COLUMN = "shard"
PART_ROW_GROUPS = 16
MAX_SHARDS = 1024
CONVERSATION_SEPARATOR = "\x1f"
MAX_AUTO_WORKERS = 4
AUTO_MIN_BATCHES = 8
IN_FLIGHT_PER_WORKER = 2
WRITER_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "write_statistics": True,
    "write_page_index": False,
    "use_dictionary": True,
}

I64 = npt.NDArray[np.int64]


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


def shard_of(key: str, shards: int) -> int:
    """The shard of ``key``: first 8 bytes of SHA-256(UTF-8 key), big-endian, mod n."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % shards


def conversation_key(participants: Iterable[str]) -> str:
    """Sorted distinct participants (author and recipients) joined by U+001F."""
    return CONVERSATION_SEPARATOR.join(sorted(set(participants)))


# ----------------------------------------------------------------------- owners


@dataclass(frozen=True, slots=True)
class Owners:
    """Member numbers of the owners of included rows (every owner is a known member)."""

    author: I64
    recipient: I64
    parent: I64

    @classmethod
    def of_rows(cls, assessment: Assessment, keep: npt.NDArray[np.bool_]) -> Owners:
        rank = np.cumsum(keep) - 1
        take = keep[assessment.parent]
        return cls(
            author=assessment.author_member[keep],
            recipient=assessment.recipient_member[take],
            parent=rank[assessment.parent[take]],
        )

    def participants(self, n_members: int) -> tuple[I64, I64]:
        """(row, member) of each distinct non-author owner, by row then member."""
        other = self.recipient != self.author[self.parent]
        if not other.any():
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        keys = np.unique(self.parent[other] * n_members + self.recipient[other])
        return keys // n_members, keys % n_members


# ------------------------------------------------------------------------ writer


class _PartWriter:
    """Cuts the included rows of each shard into fixed row groups and parts."""

    def __init__(self, directory: Path, schema: pa.Schema, *, sharded: bool, rows: int) -> None:
        self.directory = directory
        self.schema = schema
        self.sharded = sharded
        self.row_group_rows = rows
        self.buffers: dict[int, list[pa.RecordBatch]] = {}
        self.buffered: dict[int, int] = {}
        self.writers: dict[int, tuple[pq.ParquetWriter, str, int]] = {}
        self.next_part: dict[int, int] = {}
        self.finished: list[tuple[str, int]] = []

    def add(self, batch: pa.RecordBatch, shard: int) -> None:
        if batch.num_rows == 0:
            return
        self.buffers.setdefault(shard, []).append(batch)
        self.buffered[shard] = self.buffered.get(shard, 0) + batch.num_rows
        if self.buffered[shard] >= self.row_group_rows:
            self._flush(shard, final=False)

    def _flush(self, shard: int, *, final: bool) -> None:
        table = pa.Table.from_batches(self.buffers.pop(shard, []), schema=self.schema)
        size = self.row_group_rows
        whole = table.num_rows if final else table.num_rows - table.num_rows % size
        for start in range(0, whole, size):
            self._write(shard, table.slice(start, min(size, whole - start)).combine_chunks())
        rest = table.slice(whole)
        self.buffers[shard] = rest.combine_chunks().to_batches() if rest.num_rows else []
        self.buffered[shard] = rest.num_rows

    def _write(self, shard: int, group: pa.Table) -> None:
        if shard not in self.writers:
            part = self.next_part.get(shard, 0)
            self.next_part[shard] = part + 1
            name = (
                f"shard-{shard:05d}-part-{part:05d}.parquet"
                if self.sharded
                else f"part-{part:05d}.parquet"
            )
            writer = pq.ParquetWriter(self.directory / name, self.schema, **WRITER_OPTIONS)
            self.writers[shard] = (writer, name, 0)
        writer, name, groups = self.writers[shard]
        writer.write_table(group, row_group_size=self.row_group_rows)
        self.finished.append((name, group.num_rows))
        if groups + 1 >= PART_ROW_GROUPS:
            writer.close()
            del self.writers[shard]
        else:
            self.writers[shard] = (writer, name, groups + 1)

    def close(self) -> list[dict[str, Any]]:
        for shard in sorted(self.buffers):
            if self.buffered.get(shard):
                self._flush(shard, final=True)
        for writer, _, _ in self.writers.values():
            writer.close()
        self.writers.clear()
        rows: dict[str, int] = {}
        for name, n in self.finished:
            rows[name] = rows.get(name, 0) + n
        return [
            {"path": name, "rows": rows[name], "sha256": _sha256_file(self.directory / name)}
            for name in sorted(rows)
        ]

    def abort(self) -> None:
        for writer, _, _ in self.writers.values():
            writer.close()
        self.writers.clear()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------- the sink


class _Sink:
    """Everything a build accumulates from the included rows, in order."""

    def __init__(
        self,
        directory: Path,
        source: Source,
        index: GateIndex,
        *,
        shards: int | None,
        shard_by: ShardBy,
        row_group_rows: int,
    ) -> None:
        self.index = index
        self.source = source
        self.shards = shards
        self.shard_by = shard_by
        schema = source.schema
        if shards is not None:
            schema = schema.append(pa.field(SHARD_COLUMN, pa.int32(), nullable=False))
        self.schema = schema
        self.writer = _PartWriter(
            directory, schema, sharded=shards is not None, rows=row_group_rows
        )
        m = index.n_members
        self.as_author = np.zeros(m, np.int64)
        self.as_participant = np.zeros(m, np.int64)
        self.member_shards: list[I64] = []
        self.ids: list[pa.Array] = []
        self.author_shard = np.full(m, -1, np.int64)
        self.rank: I64 | None = None
        self.by_rank: I64 | None = None

    def add(self, batch: pa.RecordBatch, owners: Owners) -> None:
        """Take included rows (input columns only) and their owners."""
        n = batch.num_rows
        if n == 0:
            return
        self.ids.append(batch.column(self.source.columns.id))
        m = self.index.n_members
        self.as_author += np.bincount(owners.author, minlength=m)
        p_rows, p_members = owners.participants(m)
        if len(p_members):
            self.as_participant += np.bincount(p_members, minlength=m)
        if self.shards is None:
            self.writer.add(batch, 0)
            return
        shard = self._shards(batch, owners)
        pairs = np.concatenate(
            (owners.author * self.shards + shard, p_members * self.shards + shard[p_rows])
        )
        self.member_shards.append(np.unique(pairs))
        batch = batch.append_column(
            self.schema.field(SHARD_COLUMN), pa.array(shard.astype(np.int32))
        )
        order = np.argsort(shard, kind="stable")
        sorted_shards = shard[order]
        bounds = np.flatnonzero(np.diff(sorted_shards)) + 1
        for part in np.split(np.arange(n), bounds):
            if len(part):
                rows = order[part]
                self.writer.add(batch.take(pa.array(rows)), int(sorted_shards[part[0]]))

    def _shards(self, batch: pa.RecordBatch, owners: Owners) -> I64:
        assert self.shards is not None
        if self.shard_by == "author":
            todo = np.unique(owners.author)
            todo = todo[self.author_shard[todo] < 0]
            if len(todo):
                names = self.index.member_ids.take(pa.array(todo)).to_pylist()
                self.author_shard[todo] = [shard_of(name, self.shards) for name in names]
            return self.author_shard[owners.author]
        return self._conversation_shards(owners, batch.num_rows)

    def _conversation_shards(self, owners: Owners, n: int) -> I64:
        assert self.shards is not None
        if self.by_rank is None or self.rank is None:
            self.by_rank = np.asarray(pc.sort_indices(self.index.member_ids).to_numpy(), np.int64)
            self.rank = np.empty(len(self.by_rank), np.int64)
            self.rank[self.by_rank] = np.arange(len(self.by_rank))
        m = self.index.n_members
        rows = np.concatenate((np.arange(n), owners.parent))
        members = np.concatenate((owners.author, owners.recipient))
        keys = np.unique(rows * m + self.rank[members])  # by row, then member id order
        offsets = np.zeros(n + 1, np.int32)
        np.cumsum(np.bincount(keys // m, minlength=n), out=offsets[1:])
        names = self.index.member_ids.take(pa.array(self.by_rank[keys % m]))
        lists = pa.ListArray.from_arrays(pa.array(offsets), names)
        keys = pc.binary_join(lists, CONVERSATION_SEPARATOR)
        encoded = pc.dictionary_encode(keys)
        table = np.array(
            [shard_of(key, self.shards) for key in encoded.dictionary.to_pylist()], np.int64
        )
        return table[np.asarray(encoded.indices.to_numpy(), np.int64)]

    def finish(self) -> tuple[list[dict[str, Any]], str, pa.Table, dict[str, Any] | None]:
        files = self.writer.close()
        ids = (
            pa.concat_arrays([a.cast(pa.large_string()) for a in self.ids])
            if self.ids
            else pa.array([], pa.large_string())
        )
        root = records_root(ids)
        counted = np.flatnonzero((self.as_author > 0) | (self.as_participant > 0))
        member_shards: pa.Array = pa.nulls(len(counted), pa.list_(pa.int32()))
        shard_info: dict[str, Any] | None = None
        if self.shards is not None:
            pairs = (
                np.unique(np.concatenate(self.member_shards))
                if self.member_shards
                else np.zeros(0, np.int64)
            )
            members, shard = pairs // self.shards, (pairs % self.shards).astype(np.int32)
            member_shards = _lists_by_member(counted, members, shard)
            shard_info = self._write_assignment(members, shard)
        table = pa.table(
            {
                "member_id": self.index.member_ids.take(pa.array(counted)).cast(pa.string()),
                "as_author": self.as_author[counted],
                "as_participant": self.as_participant[counted],
                "shards": member_shards,
            }
        ).sort_by("member_id")
        return files, root, table, shard_info

    def _write_assignment(self, members: I64, shard: npt.NDArray[np.int32]) -> dict[str, Any]:
        assert self.shards is not None
        table = pa.table(
            {
                "member_id": self.index.member_ids.take(pa.array(members)).cast(pa.string()),
                "shard": pa.array(shard, pa.int32()),
            }
        ).sort_by([("member_id", "ascending"), ("shard", "ascending")])
        path = self.writer.directory / SHARDS_NAME
        pq.write_table(table, path, **WRITER_OPTIONS)
        per_shard = np.bincount(shard, minlength=self.shards)
        return {
            "n": self.shards,
            "by": self.shard_by,
            "members": {str(s): int(c) for s, c in enumerate(per_shard) if c},
            "assignment": {"path": SHARDS_NAME, "sha256": _sha256_file(path)},
        }


def _lists_by_member(counted: I64, members: I64, shard: npt.NDArray[np.int32]) -> pa.Array:
    """list<int32> of shards for each of ``counted`` (pairs are sorted by member)."""
    # every counted member has at least one pair and every pair's member is counted
    per_member = np.searchsorted(members, counted, side="right") - np.searchsorted(
        members, counted, side="left"
    )
    offsets = np.zeros(len(counted) + 1, np.int32)
    np.cumsum(per_member, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(shard, pa.int32()))


# ------------------------------------------------------------------------ build


def _temp_dir(out_dir: Path) -> Path:
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{out_dir.name}.tmp-{secrets.token_hex(6)}"
    tmp.mkdir()
    return tmp


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


@dataclass(frozen=True, slots=True)
class _Gated:
    """The gate's results over a whole source, in source order."""

    included: Iterator[tuple[pa.RecordBatch, Owners]]
    finish: Callable[[], tuple[dict[str, int], dict[str, int], dict[str, int]]]


@dataclass(frozen=True, slots=True)
class _BatchGated:
    """One source batch gated: its included rows and what it adds to the counts."""

    included: pa.RecordBatch
    owners: Owners
    rows: int
    reasons: dict[str, int]
    redactions: dict[str, int]
    exclusions: dict[str, int]


def _gate_one(
    batch: pa.RecordBatch,
    index: GateIndex,
    *,
    columns: Columns,
    redactor: Redactor | None,
    width: int,
) -> _BatchGated:
    """``gate_batch`` and everything the build needs from it; the same in every process."""
    out = gate_batch(batch, index, columns=columns, redactor=redactor)
    reasons: dict[str, int] = {}
    _count_reasons(reasons, out.batch.column(REASON), out.assessment.code, redactor)
    keep = out.eligible
    included = out.batch.select(list(range(width)))
    if not keep.all():
        included = included.filter(pa.array(keep))
    return _BatchGated(
        included=included,
        owners=Owners.of_rows(out.assessment, keep),
        rows=batch.num_rows,
        reasons=reasons,
        redactions=dict(out.redactions),
        exclusions=dict(out.exclusions),
    )


# What each worker process of a parallel build holds: set once by ``_init_worker``.
_worker_state: tuple[GateIndex, Columns, Redactor | None, int] | None = None


def _init_worker(state: bytes) -> None:
    global _worker_state
    _worker_state = pickle.loads(state)


def _gate_in_worker(batch: pa.RecordBatch) -> _BatchGated:
    if _worker_state is None:  # pragma: no cover - the pool always runs the initializer
        raise RuntimeError("gate worker used before it was initialized")
    index, columns, redactor, width = _worker_state
    return _gate_one(batch, index, columns=columns, redactor=redactor, width=width)


def parallel_workers(
    workers: int | None, *, redactor: Redactor | None, rows: int, batch_rows: int
) -> int:
    """How many worker processes a local build uses (1: gate in the calling process).

    Workers only pay when a redactor runs: the consent checks cost a small fraction of
    reading and writing a batch, which stays in the calling process. ``workers=None``
    picks the CPUs available, at most ``MAX_AUTO_WORKERS``, for a source of more than
    ``AUTO_MIN_BATCHES`` batches (starting the workers and sending them the index and
    the redactor costs two to three seconds with a 200,000-member directory, which a
    smaller build does not win back); an explicit number is used as given.
    """
    if redactor is None:
        return 1
    if workers is not None:
        return workers
    if rows <= AUTO_MIN_BATCHES * batch_rows:
        return 1
    return max(1, min(_cpus(), MAX_AUTO_WORKERS))


def _cpus() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def _gate_locally(
    source: Source,
    index: GateIndex,
    *,
    redactor: Redactor | None,
    batch_rows: int,
    progress: Progress | None,
    workers: int,
) -> _Gated:
    reasons: dict[str, int] = {}
    redactions: dict[str, int] = {}
    exclusions: dict[str, int] = {}
    width = len(source.schema)

    def gated_batches() -> Iterator[_BatchGated]:
        if workers <= 1:
            for batch in source.batches(batch_rows=batch_rows):
                yield _gate_one(
                    batch, index, columns=source.columns, redactor=redactor, width=width
                )
        else:
            yield from _gate_in_pool(source, index, redactor, batch_rows, workers)

    def stream() -> Iterator[tuple[pa.RecordBatch, Owners]]:
        done = 0
        batches = gated_batches()
        try:
            for one in batches:
                _add_counts(reasons, one.reasons)
                _add_counts(redactions, one.redactions)
                _add_counts(exclusions, one.exclusions)
                yield one.included, one.owners
                done += one.rows
                if progress is not None:
                    progress(done, source.rows)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    return _Gated(stream(), lambda: (reasons, redactions, exclusions))


def _gate_in_pool(
    source: Source,
    index: GateIndex,
    redactor: Redactor | None,
    batch_rows: int,
    workers: int,
) -> Iterator[_BatchGated]:
    """Gate batches in ``workers`` processes, yielding results in source order.

    The calling process reads and (through the sink) writes; workers gate and redact.
    Results are taken in submission order, so the sink sees exactly the sequence of a
    serial build and writes byte-identical parts. At most ``IN_FLIGHT_PER_WORKER`` batches
    per worker are read ahead, which bounds memory. Workers are spawned, not forked: the
    calling process may hold Arrow's thread pools, which a fork does not carry safely (so,
    as with any spawned pool, a script calling this needs an ``if __name__ ==
    "__main__":`` guard).
    """
    # pickled once, not once per worker: a redactor with a large directory takes a while
    state = pickle.dumps((index, source.columns, redactor, len(source.schema)), protocol=5)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(state,),
    )
    pending: deque[Future[_BatchGated]] = deque()
    try:
        for batch in source.batches(batch_rows=batch_rows):
            pending.append(pool.submit(_gate_in_worker, batch))
            if len(pending) >= workers * IN_FLIGHT_PER_WORKER:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _count_reasons(
    into: dict[str, int], reason: pa.Array, code: npt.NDArray[np.int8], redactor: Redactor | None
) -> None:
    if redactor is None:
        for i, n in enumerate(np.bincount(code, minlength=OK + 1)[:OK]):
            if n:
                into[REASONS[i]] = into.get(REASONS[i], 0) + int(n)
        return
    for item in pc.value_counts(reason.drop_null()).to_pylist():
        into[item["values"]] = into.get(item["values"], 0) + int(item["counts"])


def _add_counts(into: dict[str, int], more: Mapping[str, int]) -> None:
    for key, n in more.items():
        into[key] = into.get(key, 0) + int(n)


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
    tmp = _temp_dir(out)
    logger.info("gate build started: %d source files, %d rows", len(opened.files), opened.rows)
    try:
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
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
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
    sink = _Sink(tmp, source, index, shards=shards, shard_by=shard_by, row_group_rows=batch_rows)
    if engine == "spark":
        from consentgate.gate.spark import gate_source_on_spark

        gated = gate_source_on_spark(
            source, index, redactor=redactor, batch_rows=batch_rows, progress=progress
        )
    else:
        gated = _gate_locally(
            source,
            index,
            redactor=redactor,
            batch_rows=batch_rows,
            progress=progress,
            workers=parallel_workers(
                workers, redactor=redactor, rows=source.rows, batch_rows=batch_rows
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
    )
    digest = write_manifest(tmp, manifest)
    return BuildResult(
        out_dir=tmp,
        manifest=manifest,
        manifest_sha256=digest,
        member_counts=member_counts,
        counts=counts,
    )


def owners_of_included(batch: pa.RecordBatch, index: GateIndex, *, source: Source) -> Owners:
    """Owners of rows already known to be included (used by the Spark runner)."""
    assessment = assess(batch, index, columns=source.columns)
    return Owners.of_rows(assessment, np.ones(batch.num_rows, bool))
