"""What a build accumulates from the included rows, and how the runners hand them over.

The local runner (``consentgate.gate.local``) gates a source and returns a ``Gated``: the
included rows, in source order, each batch with its ``Owners`` and the rows' positions in
the source. The ``Sink`` takes them in that order (the Spark runner runs one ``Sink`` per
block of source records, in its tasks, see ``consentgate.gate.spark``):
it assigns each row its shard (``consentgate.sharding``: by author, or by conversation),
rewrites the owner columns as the dataset's ``OwnerColumns`` say (pseudonyms or nothing
for a third party), writes the rows through a ``PartWriter``, counts every member's
included records, and at the end writes the member -> shard assignment
(``shards.parquet``, beside ``data/``; with pseudonyms in place of member ids for a third
party, left out when its owner columns are dropped).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from consentgate.files import sha256_file
from consentgate.gate.batch import Assessment
from consentgate.gate.lookup import GateIndex
from consentgate.gate.manifest import SHARDS_NAME
from consentgate.gate.owners import DROPPED, KEPT, OwnerColumns, Pseudonymizer
from consentgate.gate.parts import WRITER_OPTIONS, PartWriter, block_rows
from consentgate.gate.record_ids import RUN_IDS, RecordIds
from consentgate.gate.source import Source
from consentgate.sharding import CONVERSATION_SEPARATOR, ShardBy, shard_of

__all__ = [
    "SHARD_COLUMN",
    "Gated",
    "Owners",
    "Progress",
    "Sink",
    "shard_info",
    "write_assignment",
]

Progress = Callable[[int, int | None], None]
"""Called with (records gated so far, records in the source if known)."""

SHARD_COLUMN = "shard"

I64 = npt.NDArray[np.int64]


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
        keys = unique_ints(self.parent[other] * n_members + self.recipient[other])
        return keys // n_members, keys % n_members


def unique_ints(values: I64) -> I64:
    """The distinct values, sorted: ``np.unique`` for int64 by a sort and a mask. The
    keys here arrive grouped by row (nearly sorted), where a stable sort (radix/timsort)
    is close to linear, and numpy 2's hash-based ``np.unique`` costs ~50x more."""
    if len(values) == 0:
        return np.zeros(0, np.int64)
    ordered = np.sort(values, kind="stable")
    keep = np.empty(len(ordered), np.bool_)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


@dataclass(frozen=True, slots=True)
class Gated:
    """The gate's results over a whole source, in source order: included rows, their
    owners and their positions in the source (row numbers counted over all files)."""

    included: Iterator[tuple[pa.RecordBatch, Owners, I64]]
    finish: Callable[[], tuple[dict[str, int], dict[str, int], dict[str, int]]]


class Sink:
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
        owners: OwnerColumns | None = None,
        id_run: int = RUN_IDS,
    ) -> None:
        """``id_run``: record ids held in memory before a sorted run is spilled (see
        ``RecordIds``; into ``directory/.record-ids``, removed by ``finish``)."""
        self.index = index
        self.source = source
        self.shards = shards
        self.shard_by = shard_by
        self.owners = owners or OwnerColumns()
        self.pseudonymizer = Pseudonymizer(self.owners, source.columns, index.member_ids)
        self.input_schema = source.schema
        schema = self.owners.schema(source.schema, source.columns)
        self.data_schema = schema
        if shards is not None:
            schema = schema.append(pa.field(SHARD_COLUMN, pa.int32(), nullable=False))
        self.schema = schema
        self.writer = PartWriter(directory, schema, sharded=shards is not None, rows=row_group_rows)
        self.block_rows = block_rows(row_group_rows)
        m = index.n_members
        self.as_author = np.zeros(m, np.int64)
        self.as_participant = np.zeros(m, np.int64)
        self.member_shards: list[I64] = []
        self.ids = RecordIds(directory / ".record-ids", run_ids=id_run)
        self.pairs_kept = 0
        self.author_shard = np.full(m, -1, np.int64)
        self.rank: I64 | None = None
        self.by_rank: I64 | None = None

    def add(self, batch: pa.RecordBatch, owners: Owners, positions: I64) -> None:
        """Take included rows (input columns only), their owners and source positions
        (increasing)."""
        n = batch.num_rows
        if n == 0:
            return
        self.ids.add(batch.column(self.source.columns.id))
        m = self.index.n_members
        self.as_author += np.bincount(owners.author, minlength=m)
        p_rows, p_members = owners.participants(m)
        if len(p_members):
            self.as_participant += np.bincount(p_members, minlength=m)
        written = self.pseudonymizer.apply(batch, self.data_schema, owners.author, owners.recipient)
        block = np.asarray(positions, np.int64) // self.block_rows
        if self.shards is None:
            if block[0] == block[-1]:
                self.writer.add(written, 0, int(block[0]))
                return
            shard = np.zeros(n, np.int64)
        else:
            shard = self._shards(batch, owners)
            pairs = np.concatenate(
                (owners.author * self.shards + shard, p_members * self.shards + shard[p_rows])
            )
            self.member_shards.append(unique_ints(pairs))
            self._compact_pairs()
            written = written.append_column(
                self.schema.field(SHARD_COLUMN), pa.array(shard.astype(np.int32))
            )
        # by block, then shard; source order within each (lexsort is stable)
        order = np.lexsort((shard, block))
        key = block[order] * (self.shards or 1) + shard[order]
        bounds = np.flatnonzero(np.diff(key)) + 1
        for part in np.split(np.arange(n), bounds):
            if len(part):
                rows = order[part]
                first = rows[0]
                self.writer.add(written.take(pa.array(rows)), int(shard[first]), int(block[first]))

    def _compact_pairs(self) -> None:
        """Keep the (member, shard) pairs deduplicated once they double, so that they
        grow with the distinct pairs, not with the records."""
        held = sum(len(p) for p in self.member_shards)
        if held > 2 * self.pairs_kept + (1 << 20):
            self.member_shards = [unique_ints(np.concatenate(self.member_shards))]
            self.pairs_kept = len(self.member_shards[0])

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
        keys = unique_ints(rows * m + self.rank[members])  # by row, then member id order
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
        root = self.ids.root()
        table, members, shard = self.member_table()
        shard_info = self._write_assignment(members, shard) if self.shards is not None else None
        return files, root, table, shard_info

    def finish_block(self) -> tuple[list[dict[str, Any]], pa.Table, pa.Array]:
        """The parts written (none when nothing was included), the member counts and the
        included record ids (unsorted; the sink must not have spilled them): the Spark
        runner's per-block ``finish``; roots and the shard assignment are the driver's,
        from every block's results."""
        if self.ids.runs:
            raise AssertionError("finish_block on a sink that spilled its record ids")
        ids = self.ids.held().cast(pa.string())
        self.ids.discard()
        return self.writer.close(empty_part_if_none=False), self.member_table()[0], ids

    def member_table(self) -> tuple[pa.Table, I64, npt.NDArray[np.int32]]:
        """Member counts (see ``BuildResult.member_counts``) and the (member, shard) pairs."""
        counted = np.flatnonzero((self.as_author > 0) | (self.as_participant > 0))
        member_shards: pa.Array = pa.nulls(len(counted), pa.list_(pa.int32()))
        members = np.zeros(0, np.int64)
        shard = np.zeros(0, np.int32)
        if self.shards is not None:
            pairs = (
                unique_ints(np.concatenate(self.member_shards))
                if self.member_shards
                else np.zeros(0, np.int64)
            )
            members, shard = pairs // self.shards, (pairs % self.shards).astype(np.int32)
            member_shards = _lists_by_member(counted, members, shard)
        table = pa.table(
            {
                "member_id": self.index.member_ids.take(pa.array(counted)).cast(pa.string()),
                "as_author": self.as_author[counted],
                "as_participant": self.as_participant[counted],
                "shards": member_shards,
            }
        ).sort_by("member_id")
        return table, members, shard

    def _write_assignment(self, members: I64, shard: npt.NDArray[np.int32]) -> dict[str, Any]:
        assert self.shards is not None
        ids = self.index.member_ids.take(pa.array(members)).cast(pa.string())
        return shard_info(
            self.writer.directory, self.shards, self.shard_by, self.owners, ids, shard
        )


def shard_info(
    directory: Path,
    shards: int,
    shard_by: ShardBy,
    owners: OwnerColumns,
    member_ids: pa.Array,
    shard: npt.NDArray[np.int32],
) -> dict[str, Any]:
    """The manifest's ``shards`` for the (member, shard) pairs; writes the assignment."""
    per_shard = np.bincount(shard, minlength=shards)
    info: dict[str, Any] = {
        "n": shards,
        "by": shard_by,
        "members": {str(s): int(c) for s, c in enumerate(per_shard) if c},
    }
    if owners.treatment == DROPPED:
        return info
    ids = member_ids.cast(pa.string())
    if owners.treatment != KEPT:
        ids = pa.array(owners.pseudonyms(ids.to_pylist()), pa.string())
    info["assignment"] = write_assignment(directory, ids, shard)
    return info


def write_assignment(
    directory: Path, member_ids: pa.Array, shard: npt.NDArray[Any]
) -> dict[str, str]:
    """Write the member -> shard map (``shards.parquet``); its manifest entry."""
    table = pa.table({"member_id": member_ids, "shard": pa.array(shard, pa.int32())}).sort_by(
        [("member_id", "ascending"), ("shard", "ascending")]
    )
    path = directory / SHARDS_NAME
    pq.write_table(table, path, **WRITER_OPTIONS)
    return {"path": SHARDS_NAME, "sha256": sha256_file(path)}


def _lists_by_member(counted: I64, members: I64, shard: npt.NDArray[np.int32]) -> pa.Array:
    """list<int32> of shards for each of ``counted`` (pairs are sorted by member)."""
    # every counted member has at least one pair and every pair's member is counted
    per_member = np.searchsorted(members, counted, side="right") - np.searchsorted(
        members, counted, side="left"
    )
    offsets = np.zeros(len(counted) + 1, np.int32)
    np.cumsum(per_member, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(shard, pa.int32()))
