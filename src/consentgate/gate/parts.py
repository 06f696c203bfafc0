"""The dataset's Parquet parts: included rows cut into fixed row groups and parts.

The parts, and nothing else, live under ``data/`` in the dataset directory (``DATA_DIR``),
all with one schema, so that ``pandas.read_parquet(dir / "data")``, ``pq.read_table`` or a
``*.parquet`` glob over it load exactly the records; the manifest and the shard map sit
beside ``data/``. A dataset with no included record still has one part, with no rows,
so that readers find its schema.

Reproducibility rests here: parts are cut from the stream of included rows at fixed row
counts (``row_group_rows`` rows per row group, ``PART_ROW_GROUPS`` row groups per part,
per shard), each row group is written from one contiguous Arrow array, and the writer
settings (``WRITER_OPTIONS``) are fixed, so the same rows give byte-identical parts
however they were chunked on the way in. Hand-written rather than left to
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
    "empty_part",
    "part_name",
    "sha256_file",
]

DATA_DIR = "data"
"""The dataset directory's sub-directory holding the Parquet parts, and only them."""

PART_ROW_GROUPS = 16
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


def empty_part(directory: Path, schema: pa.Schema) -> dict[str, Any]:
    """Write the one part of a dataset without records (rows 0, the dataset's schema)."""
    name = part_name(0)
    (directory / DATA_DIR).mkdir(exist_ok=True)
    pq.write_table(schema.empty_table(), directory / name, **WRITER_OPTIONS)
    return {"path": name, "rows": 0, "sha256": sha256_file(directory / name)}


class PartWriter:
    """Cuts the included rows of each shard into fixed row groups and parts."""

    def __init__(self, directory: Path, schema: pa.Schema, *, sharded: bool, rows: int) -> None:
        self.directory = directory
        (directory / DATA_DIR).mkdir(exist_ok=True)
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
            name = part_name(part, shard if self.sharded else None)
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
        if not rows:
            return [empty_part(self.directory, self.schema)]
        return [
            {"path": name, "rows": rows[name], "sha256": sha256_file(self.directory / name)}
            for name in sorted(rows)
        ]

    def abort(self) -> None:
        for writer, _, _ in self.writers.values():
            writer.close()
        self.writers.clear()
