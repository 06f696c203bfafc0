"""The local runner: gate a source in this process or in worker processes.

``gate_locally`` reads the source batch by batch and applies ``gate_batch`` (the same
pure function Spark runs) to each, returning a ``Gated`` stream of the included rows for
the sink. With a redactor, batches may be gated and redacted in a pool of worker
processes (see ``parallel_workers``); their results are consumed in source order, so the
sink sees exactly the sequence of a serial build and the dataset is byte-identical
whatever the number of workers.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from consentgate.gate.batch import OK, REASON, REASONS, Columns, Redactor, gate_batch
from consentgate.gate.lookup import GateIndex
from consentgate.gate.sink import Gated, Owners, Progress
from consentgate.gate.source import Source

__all__ = ["gate_locally", "gate_one", "parallel_workers"]

IN_FLIGHT_PER_WORKER = 2


@dataclass(frozen=True, slots=True)
class _BatchGated:
    """One source batch gated: its included rows and what it adds to the counts."""

    included: pa.RecordBatch
    owners: Owners
    kept: npt.NDArray[np.int64]  # row numbers, within the batch, of the included rows
    rows: int
    reasons: dict[str, int]
    redactions: dict[str, int]
    exclusions: dict[str, int]


def gate_one(
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
        kept=np.flatnonzero(keep),
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
    return gate_one(batch, index, columns=columns, redactor=redactor, width=width)


def parallel_workers(workers: int | None, *, redactor: Redactor | None, batches: int = 1) -> int:
    """How many worker processes a local build uses (1: gate in the calling process).

    Workers only with a redactor (the consent checks cost a small fraction of reading and
    writing a batch, which stays in the calling process). Measured on 2 cores with the
    prefiltered redactor: 2 workers reach 0.45 of the consent-only build's throughput, 1
    process 0.72 — moving batches between processes costs more than it saves. A redactor
    with an NER backend (``redactor.ner``) costs a hundred times more per text that holds a
    candidate name, so then the default is one worker per core, when the source has more
    than one batch (``batches``) to spread.
    """
    if redactor is None:
        return 1
    if workers is not None:
        return workers
    if getattr(redactor, "ner", None) is None or batches <= 1:
        return 1
    return max(1, min(os.cpu_count() or 1, batches))


def gate_locally(
    source: Source,
    index: GateIndex,
    *,
    redactor: Redactor | None,
    batch_rows: int,
    progress: Progress | None,
    workers: int,
) -> Gated:
    reasons: dict[str, int] = {}
    redactions: dict[str, int] = {}
    exclusions: dict[str, int] = {}
    width = len(source.schema)

    def gated_batches() -> Iterator[_BatchGated]:
        if workers <= 1:
            for batch in source.batches(batch_rows=batch_rows):
                yield gate_one(batch, index, columns=source.columns, redactor=redactor, width=width)
        else:
            yield from _gate_in_pool(source, index, redactor, batch_rows, workers)

    def stream() -> Iterator[tuple[pa.RecordBatch, Owners, npt.NDArray[np.int64]]]:
        done = 0
        batches = gated_batches()
        try:
            for one in batches:
                _add_counts(reasons, one.reasons)
                _add_counts(redactions, one.redactions)
                _add_counts(exclusions, one.exclusions)
                yield one.included, one.owners, done + one.kept
                done += one.rows
                if progress is not None:
                    progress(done, source.rows)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    return Gated(stream(), lambda: (reasons, redactions, exclusions))


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
