"""The included record ids of a build, gathered for the records root in bounded memory.

``records_root`` (``consentgate.gate.manifest``) is the Merkle root over the included
record ids sorted by their UTF-8 bytes, so every id must be seen before the first leaf is
known. ``RecordIds`` keeps up to ``run_ids`` ids in memory; beyond that it sorts them
(Arrow's ``sort_indices`` on the bytes) and spills them as a sorted run (a Parquet file
in a scratch directory inside the build's staging directory, removed when the root is
computed). The root is then computed by merging the runs (``heapq.merge``, one batch per
run in memory) into a ``CompactRange``, so a local build's memory does not grow with the
number of records. A build that never fills one run computes the root in memory, as
before. Both give the same root (tests/test_gate_run.py).
"""

from __future__ import annotations

import heapq
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from consentgate.gate.manifest import records_root, root_of_sorted_ids

__all__ = ["RUN_IDS", "RecordIds"]

RUN_IDS = 1 << 20
"""Ids kept in memory before a sorted run is spilled."""

_READ_ROWS = 65_536


class RecordIds:
    """Collects ids (``add``), then gives their ``root``; spills to ``scratch``."""

    def __init__(self, scratch: Path, *, run_ids: int = RUN_IDS) -> None:
        self.scratch = scratch
        self.run_ids = run_ids
        self.buffer: list[pa.Array] = []
        self.buffered = 0
        self.runs: list[Path] = []

    def add(self, ids: pa.Array) -> None:
        if len(ids) == 0:
            return
        self.buffer.append(ids.cast(pa.large_binary()))
        self.buffered += len(ids)
        if self.buffered >= self.run_ids:
            self._spill()

    def held(self) -> pa.Array:
        if not self.buffer:
            return pa.array([], pa.large_binary())
        return pa.concat_arrays(self.buffer)

    def _spill(self) -> None:
        ids = self.held()
        ordered = ids.take(pc.sort_indices(ids))
        self.scratch.mkdir(parents=True, exist_ok=True)
        path = self.scratch / f"run-{len(self.runs):06d}.parquet"
        pq.write_table(pa.table({"id": ordered}), path, compression="none")
        self.runs.append(path)
        self.buffer, self.buffered = [], 0

    def root(self) -> str:
        """The records root (hex); refuses duplicate ids. Removes the scratch directory."""
        try:
            if not self.runs:
                return records_root(self.held())
            if self.buffered:
                self._spill()
            merged = heapq.merge(*(_read(path) for path in self.runs))
            return root_of_sorted_ids(merged)[0]
        finally:
            self.buffer, self.buffered = [], 0
            self.discard()

    def discard(self) -> None:
        if self.runs or self.scratch.exists():
            shutil.rmtree(self.scratch, ignore_errors=True)
        self.runs = []


def _read(path: Path) -> Iterator[bytes]:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=_READ_ROWS):
        yield from batch.column(0).to_pylist()


def chunks_as_bytes(chunks: Iterable[pa.Array]) -> Iterator[bytes]:
    for chunk in chunks:
        yield from chunk.cast(pa.large_binary()).to_pylist()
