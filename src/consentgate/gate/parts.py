"""The dataset's Parquet parts: included rows cut into fixed row groups and parts.

The parts, and nothing else, live under ``data/`` in the dataset directory (``DATA_DIR``),
all with one schema, so that ``pandas.read_parquet(dir / "data")``, ``pq.read_table`` or a
``*.parquet`` glob over it load exactly the records; the manifest and the shard map sit
beside ``data/``. A dataset with no included record still has one part, with no rows,
so that readers find its schema.

The canonical part layout (docs/gate.md "Parts"), which every runner produces: the source
is cut into *blocks* of ``block_rows(G) = G * PART_ROW_GROUPS`` consecutive source records
(by position in the source: files in reading order, rows in file order), where G is the
build's ``row_group_rows``. Part k of shard s holds the included records of shard s among
the source records of block k, in source order, written as row groups of G rows (the last
one shorter), and is named ``part-<k>`` (``shard-<s>-part-<k>`` when sharded); a block
with no included record of a shard has no part for it. The cut points depend only on
source positions, never on which records were included before a block, so each block's
parts can be written by whoever gates that block (a Spark task) without knowing anything
about the other blocks, and the same inputs give byte-identical parts however the work
was partitioned. Each row group is written from one contiguous Arrow array with fixed
writer settings (``WRITER_OPTIONS``). Hand-written rather than left to
``pyarrow.dataset.write_dataset`` so that the cut points, the part names and each part's
SHA-256 (for the manifest) stay under this module's control.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from consentgate.files import atomic_directory, sha256_file

__all__ = [
    "DATA_DIR",
    "PART_ROW_GROUPS",
    "WRITER_OPTIONS",
    "PartWriter",
    "atomic_directory",
    "block_rows",
    "empty_part",
    "part_name",
    "sha256_file",
]

DATA_DIR = "data"
"""The dataset directory's sub-directory holding the Parquet parts, and only them."""

PART_ROW_GROUPS = 16
"""Row groups per block of source records; a part holds at most this many."""
WRITER_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "write_statistics": True,
    "write_page_index": False,
    "use_dictionary": True,
}


def part_name(part: int, shard: int | None = None) -> str:
    """A part's path relative to the dataset directory, as the manifest lists it."""
    name = (
        f"part-{part:05d}.parquet"
        if shard is None
        else f"shard-{shard:05d}-part-{part:05d}.parquet"
    )
    return f"{DATA_DIR}/{name}"


def block_rows(row_group_rows: int) -> int:
    """Source records per block (one part per shard and block): ``PART_ROW_GROUPS`` row
    groups' worth."""
    return row_group_rows * PART_ROW_GROUPS


def empty_part(directory: Path, schema: pa.Schema) -> dict[str, Any]:
    """Write the one part of a dataset without records (rows 0, the dataset's schema)."""
    name = part_name(0)
    (directory / DATA_DIR).mkdir(exist_ok=True)
    pq.write_table(schema.empty_table(), directory / name, **WRITER_OPTIONS)
    return {"path": name, "rows": 0, "sha256": sha256_file(directory / name)}


class PartWriter:
    """Writes the included rows of each (block, shard) as one part of fixed row groups.

    Rows arrive in source order: ``add(batch, shard, block)`` with non-decreasing blocks.
    When a later block arrives, every part of the earlier one is finished.
    """

    def __init__(self, directory: Path, schema: pa.Schema, *, sharded: bool, rows: int) -> None:
        self.directory = directory
        (directory / DATA_DIR).mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.sharded = sharded
        self.row_group_rows = rows
        self.block = -1
        self.buffers: dict[int, list[pa.RecordBatch]] = {}
        self.buffered: dict[int, int] = {}
        self.writers: dict[int, tuple[pq.ParquetWriter, str]] = {}
        self.finished: list[tuple[str, int]] = []

    def add(self, batch: pa.RecordBatch, shard: int, block: int) -> None:
        if batch.num_rows == 0:
            return
        if block != self.block:
            if block < self.block:
                raise AssertionError(f"block {block} after block {self.block}: not source order")
            self._end_block()
            self.block = block
        self.buffers.setdefault(shard, []).append(batch)
        self.buffered[shard] = self.buffered.get(shard, 0) + batch.num_rows
        if self.buffered[shard] >= self.row_group_rows:
            self._flush(shard, final=False)

    def _end_block(self) -> None:
        for shard in sorted(self.buffers):
            if self.buffered.get(shard):
                self._flush(shard, final=True)
        for writer, _ in self.writers.values():
            writer.close()
        self.writers.clear()
        self.buffers.clear()
        self.buffered.clear()

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
            name = part_name(self.block, shard if self.sharded else None)
            writer = pq.ParquetWriter(self.directory / name, self.schema, **WRITER_OPTIONS)
            self.writers[shard] = (writer, name)
        writer, name = self.writers[shard]
        writer.write_table(group, row_group_size=self.row_group_rows)
        self.finished.append((name, group.num_rows))

    def close(self, *, empty_part_if_none: bool = True) -> list[dict[str, Any]]:
        """Finish every part; their manifest entries, by name. With no row at all, the one
        empty part (``empty_part_if_none``) or nothing."""
        self._end_block()
        rows: dict[str, int] = {}
        for name, n in self.finished:
            rows[name] = rows.get(name, 0) + n
        if not rows:
            return [empty_part(self.directory, self.schema)] if empty_part_if_none else []
        return [
            {"path": name, "rows": rows[name], "sha256": sha256_file(self.directory / name)}
            for name in sorted(rows)
        ]

    def abort(self) -> None:
        for writer, _ in self.writers.values():
            writer.close()
        self.writers.clear()
