"""The gate on PySpark: the same batch function, the parts written by the executors.

``build_on_spark`` backs ``build_dataset(runner="spark")``; the driver never holds the
records. Spark reads the source (Parquet; JSONL is parsed by the local reader and handed
to Spark as Arrow, so that both runners parse it the same way — that one path does pass
through the driver) and numbers every record by its position in the source (the file's
offset plus Parquet's ``_metadata.row_index``). Each record belongs to the block
``position // block_rows`` (``consentgate.gate.parts``: the canonical part layout).

The consent snapshot is not shipped as a Python object: the driver writes the index's
per-member states (``lookup.state_table``) as Parquet, and Spark joins it with the
distinct (block, owner) pairs of the records — a broadcast hash join while it is small, a
shuffle join beyond, as Spark decides (Spark scans only the owner columns for it). The
blocks are then co-grouped with their owners' states (``applyInArrow``); each task reads
its block's records from the Parquet files itself (``read_block``: only the row groups
that hold them, so the records are never shuffled; a JSONL source's records are grouped
by Spark instead, and sorted by position), rebuilds a
small index of the block's owners (``lookup.subset_index``), gates the block with
``gate_batch`` through ``consentgate.gate.local.gate_one`` (the very code of the local
runner), and writes the block's parts through the same ``Sink``, straight into the
staging directory (which must be on a file system every executor shares). A task
returns only a summary: its parts (path, rows, SHA-256), counts by reason, redaction
counts, its members' counts and its included record ids. Spark writes these summaries to
a scratch directory; from them the driver takes the part list and the counts, the member
counts (aggregated by Spark: one row per member with an included record) and the
records root (the ids sorted by Spark, streamed through a ``CompactRange`` one file at a
time). The result is byte-identical to the local runner's whatever the partitioning.

``gate_spark_dataframe`` is the entry point for Spark users who write with Spark
themselves: it returns the DataFrame with ``_eligible`` and ``_reason`` added, joining the
consent states the same way (groups of a hash of the record id instead of blocks).

pyspark is imported only inside these functions; importing this module never needs it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from consentgate.errors import InvalidInput, UsageError
from consentgate.gate.batch import ELIGIBLE, REASON, Redactor, gate_batch
from consentgate.gate.columns import DEFAULT_COLUMNS, Columns
from consentgate.gate.local import gate_one
from consentgate.gate.lookup import GateIndex, state_table, subset_index
from consentgate.gate.manifest import root_of_sorted_ids
from consentgate.gate.owners import OwnerColumns
from consentgate.gate.parts import block_rows, empty_part
from consentgate.gate.record_ids import chunks_as_bytes
from consentgate.gate.sink import SHARD_COLUMN, Progress, Sink, shard_info
from consentgate.gate.source import Source
from consentgate.sharding import ShardBy

__all__ = ["SparkBuilt", "build_on_spark", "gate_spark_dataframe", "local_session"]

_POS = "_cg_pos"
_BLOCK = "_cg_block"
_OWNER_BLOCK = "_cg_owner_block"
_MEMBER = "member_id"

# What a block's task returns: one "block" row (summary JSON), one "member" row per member
# with an included record in the block, one "id" row per included record.
_OUT = pa.schema(
    [
        ("kind", pa.string()),
        ("block", pa.int64()),
        ("summary", pa.string()),
        ("member_id", pa.string()),
        ("as_author", pa.int64()),
        ("as_participant", pa.int64()),
        ("shards", pa.list_(pa.int32())),
        ("record_id", pa.string()),
    ]
)


def _require_spark() -> None:
    # pyspark's Arrow functions (mapInArrow, toArrow) refuse to run without pandas
    if find_spec("pyspark") is None or find_spec("pandas") is None:
        raise UsageError(
            "runner 'spark' needs PySpark and pandas: pip install 'consentgate[spark]'"
        )


def local_session(*, cores: int = 2) -> Any:
    """The active SparkSession, or a quiet ``local[cores]`` one (UTC, no UI)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    # PySpark picks the Python of its workers from this variable when the context starts
    # (the spark.pyspark.python setting does not reach UDF workers): use this interpreter.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("consentgate-gate")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(max(cores, 1)))
        .config("spark.driver.memory", "4g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def _gated_schema(schema: Any) -> Any:
    from pyspark.sql.types import BooleanType, StringType, StructField, StructType

    fields = list(schema.fields)
    fields.append(StructField(ELIGIBLE, BooleanType(), True))
    fields.append(StructField(REASON, StringType(), True))
    return StructType(fields)


def gate_spark_dataframe(
    df: Any,
    *,
    index: GateIndex,
    columns: Columns = DEFAULT_COLUMNS,
    redactor: Redactor | None = None,
    states: Any = None,
) -> Any:
    """``df`` plus ``_eligible`` and ``_reason``, computed by ``gate_batch`` on Spark.

    The consent states are joined, not broadcast as a Python object: ``states`` is a
    DataFrame of ``lookup.state_table(index)`` (for instance read from Parquet, for a
    snapshot too large to pass through the driver; default: made from ``index`` by the
    driver). Records are co-grouped with their owners' states in groups of a hash of the
    record id (``columns.id``); each group is gated with a small index of its owners. The
    row order of the result is Spark's.
    """
    from pyspark.sql import functions as F

    session = df.sparkSession
    if states is None:
        states = session.createDataFrame(state_table(index))
    groups = max(1, df.rdd.getNumPartitions()) * 4
    keyed = df.withColumn(_BLOCK, F.pmod(F.xxhash64(F.col(columns.id)), F.lit(groups)))
    owner_states = _owner_states(keyed, states, columns)
    template = subset_index(index, state_table(index).slice(0, 0))
    names = list(df.columns)

    def gate(records: pa.Table, group_states: pa.Table) -> pa.Table:
        small = subset_index(template, group_states)
        data = records.select(names)
        out = [
            gate_batch(batch, small, columns=columns, redactor=redactor).batch
            for batch in data.to_batches()
        ]
        if not out:  # a group without records (cannot happen: its states come from them)
            schema = data.schema.append(pa.field(ELIGIBLE, pa.bool_()))
            return schema.append(pa.field(REASON, pa.string())).empty_table()
        return pa.Table.from_batches(out)

    return (
        keyed.groupBy(_BLOCK)
        .cogroup(owner_states.groupBy(_OWNER_BLOCK))
        .applyInArrow(gate, _gated_schema(df.schema))
    )


def _owner_states(records: Any, states: Any, columns: Columns) -> Any:
    """Each (group, owner) pair of ``records`` (grouped by ``_BLOCK``) with the owner's
    consent states: a join on member id, broadcast or shuffled as Spark decides. Owners
    not in ``states`` have no row (they are unknown members)."""
    from pyspark.sql import functions as F

    pairs = (
        records.select(
            F.col(_BLOCK).alias(_OWNER_BLOCK),  # a new column: the co-group's sides differ
            F.explode(_owner_ids(records, columns)).alias(_MEMBER),
        )
        .where(F.col(_MEMBER).isNotNull())
        .distinct()
    )
    return pairs.join(states, _MEMBER)


@dataclass(frozen=True, slots=True)
class SparkBuilt:
    """What the driver gathered from the tasks' summaries (the parts are on disk)."""

    files: list[dict[str, Any]]
    records_root: str
    member_counts: pa.Table
    shards: dict[str, Any] | None
    input: int
    included: int
    reasons: dict[str, int]
    redactions: dict[str, int]
    exclusions: dict[str, int]


def build_on_spark(
    directory: Path,
    source: Source,
    index: GateIndex,
    *,
    shards: int | None,
    shard_by: ShardBy,
    owners: OwnerColumns,
    redactor: Redactor | None,
    row_group_rows: int,
    progress: Progress | None,
) -> SparkBuilt:
    """Gate ``source`` on Spark (the active session, or a local one) and have the tasks
    write its parts into ``directory``; return what the manifest needs."""
    _require_spark()
    from pyspark.sql import SparkSession

    created = SparkSession.getActiveSession() is None
    session = local_session()
    # inside the staging directory: removed below, or with it when the build dies
    scratch = directory / ".spark-scratch"
    try:
        built = _build(
            session,
            directory,
            scratch,
            source,
            index,
            shards=shards,
            shard_by=shard_by,
            owners=owners,
            redactor=redactor,
            row_group_rows=row_group_rows,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if created:
            session.stop()
    if progress is not None:
        progress(source.rows, source.rows)
    return built


def _records(session: Any, source: Source, row_group_rows: int) -> Any:
    """The source as a DataFrame with each record's position (``_cg_pos``) in the source."""
    from pyspark.sql import functions as F

    if source.format == "parquet":
        frames = []
        offset = 0
        for path in source.files:
            df = session.read.parquet(str(path.resolve()))
            frames.append(
                df.select(
                    "*",
                    *[  # a column the source lacks (recipient_ids of posts) as nulls
                        F.lit(None).cast("array<string>").alias(name) for name in source.absent
                    ],
                    (F.col("_metadata.row_index") + F.lit(offset)).alias(_POS),
                )
            )
            offset += pq.ParquetFile(path).metadata.num_rows
        out = frames[0]
        for frame in frames[1:]:
            out = out.unionByName(frame)
        return out
    parts = []
    offset = 0
    for batch in source.batches(batch_rows=row_group_rows):
        n = batch.num_rows
        parts.append(batch.append_column(_POS, pa.array(np.arange(offset, offset + n), pa.int64())))
        offset += n
    table = pa.Table.from_batches(parts) if parts else source.schema.empty_table()
    if not parts:
        table = table.append_column(_POS, pa.array([], pa.int64()))
    return session.createDataFrame(table)


def _owner_ids(df: Any, columns: Columns) -> Any:
    """array<string> of each record's owners: the author, then the recipients."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType

    author = F.array(F.col(columns.author_id).cast("string"))
    recipients = df.schema[columns.recipient_ids].dataType
    if not isinstance(recipients, ArrayType):
        return author
    listed = F.coalesce(
        F.col(columns.recipient_ids).cast("array<string>"), F.array().cast("array<string>")
    )
    return F.concat(author, listed)


def _build(
    session: Any,
    directory: Path,
    scratch: Path,
    source: Source,
    index: GateIndex,
    *,
    shards: int | None,
    shard_by: ShardBy,
    owners: OwnerColumns,
    redactor: Redactor | None,
    row_group_rows: int,
) -> SparkBuilt:
    from pyspark.sql import functions as F

    size = block_rows(row_group_rows)
    records = _records(session, source, row_group_rows)
    records = records.withColumn(_BLOCK, F.floor(F.col(_POS) / F.lit(size)).cast("long"))
    scratch.mkdir(parents=True, exist_ok=True)
    states_path = scratch / "states.parquet"
    pq.write_table(state_table(index), states_path)
    states = session.read.parquet(str(states_path))
    owner_states = _owner_states(records, states, source.columns)
    write = _block_task(
        directory,
        source,
        template=subset_index(index, state_table(index).slice(0, 0)),
        shards=shards,
        shard_by=shard_by,
        owners=owners,
        redactor=redactor,
        row_group_rows=row_group_rows,
    )
    if source.format == "parquet":
        # Spark scans only the owner columns (for the join); each task reads its block's
        # records from the source files itself, so the records are never shuffled.
        n_blocks = -(-source.rows // size)
        tasks = max(1, min(n_blocks, session.sparkContext.defaultParallelism * 4))
        blocks = session.range(0, n_blocks, 1, tasks).withColumnRenamed("id", _BLOCK)
    else:
        blocks = records  # JSONL: the records themselves (parsed by the driver) are grouped
    out = (
        blocks.groupBy(_BLOCK)
        .cogroup(owner_states.groupBy(_OWNER_BLOCK))
        .applyInArrow(write, _spark_schema(_OUT))
    )
    summaries_path = scratch / "summaries"
    out.write.parquet(str(summaries_path))
    results = session.read.parquet(str(summaries_path))
    built = _gather(results, shards)
    files = built.pop("files")
    if not files:  # no record included: the one empty part, with the dataset's schema
        schema = owners.schema(source.schema, source.columns)
        if shards is not None:
            schema = schema.append(pa.field(SHARD_COLUMN, pa.int32(), nullable=False))
        files = [empty_part(directory, schema)]
    root, n_ids = _sorted_root(results, scratch / "ids")
    if n_ids != built["included"]:
        raise AssertionError(f"{n_ids} record ids for {built['included']} included records")
    member_counts = _member_counts(results, shards is not None)
    info = None
    if shards is not None:
        lengths = pc.list_value_length(member_counts["shards"]).fill_null(0)
        ids = pc.take(member_counts["member_id"], _repeat(lengths))
        shard = pc.list_flatten(member_counts["shards"]).to_numpy().astype(np.int32)
        info = shard_info(directory, shards, shard_by, owners, ids.combine_chunks(), shard)
    return SparkBuilt(
        files=files,
        records_root=root,
        member_counts=member_counts,
        shards=info,
        **built,
    )


def read_block(source: Source, start: int, stop: int) -> pa.Table:
    """Source records [start, stop) of a Parquet source (positions over all its files),
    read with pyarrow, only the row groups that hold them; in the source's schema."""
    pieces = []
    offset = 0
    for path in source.files:
        pf = pq.ParquetFile(path)
        rows = pf.metadata.num_rows
        lo, hi = max(start, offset), min(stop, offset + rows)
        if lo < hi:
            groups, first, seen = [], None, offset
            for g in range(pf.metadata.num_row_groups):
                n = pf.metadata.row_group(g).num_rows
                if seen < hi and seen + n > lo:
                    groups.append(g)
                    first = seen if first is None else first
                seen += n
            assert first is not None
            table = pf.read_row_groups(groups).slice(lo - first, hi - lo)
            if table.column(source.columns.id).null_count:
                raise InvalidInput(
                    f"{path}: column {source.columns.id!r} (record id) has null values"
                )
            for name in source.absent:  # as the local reader: a lacking column as nulls
                if name not in table.column_names:
                    kind = source.schema.field(name).type
                    table = table.append_column(name, pa.nulls(table.num_rows, kind))
            table = table.select(source.schema.names)
            pieces.append(pa.Table.from_arrays(table.columns, schema=source.schema))
        offset += rows
        if offset >= stop:
            break
    if not pieces:
        return source.schema.empty_table()
    return pa.concat_tables(pieces)


def _repeat(lengths: Any) -> pa.Array:
    counts = np.asarray(lengths.to_numpy(), np.int64)
    return pa.array(np.repeat(np.arange(len(counts)), counts))


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def _block_task(
    directory: Path,
    source: Source,
    *,
    template: GateIndex,
    shards: int | None,
    shard_by: ShardBy,
    owners: OwnerColumns,
    redactor: Redactor | None,
    row_group_rows: int,
) -> Any:
    """The function each task runs on one block: its records and its owners' states."""
    columns = source.columns
    width = len(source.schema)

    size = block_rows(row_group_rows)

    def write(records: pa.Table, states: pa.Table) -> pa.Table:
        if records.num_rows == 0:
            return _OUT.empty_table()
        block = int(records[_BLOCK][0].as_py())
        if _POS not in records.column_names:  # one row naming the block: read it here
            data = read_block(source, block * size, (block + 1) * size)
            positions = np.arange(block * size, block * size + data.num_rows, dtype=np.int64)
        else:
            positions = np.asarray(records[_POS].to_numpy(), np.int64)
            if len(positions) > 1 and not (np.diff(positions) > 0).all():
                order = np.argsort(positions, kind="stable")
                records, positions = records.take(pa.array(order)), positions[order]
            data = records.select(source.schema.names).cast(source.schema)
        index = subset_index(template, states)
        sink = Sink(
            directory,
            source,
            index,
            shards=shards,
            shard_by=shard_by,
            row_group_rows=row_group_rows,
            owners=owners,
            id_run=data.num_rows + 1,  # a block's ids stay in memory, never spilled
        )
        reasons: dict[str, int] = {}
        redactions: dict[str, int] = {}
        exclusions: dict[str, int] = {}
        done = 0
        for batch in data.to_batches(max_chunksize=row_group_rows):
            one = gate_one(batch, index, columns=columns, redactor=redactor, width=width)
            for into, more in (
                (reasons, one.reasons),
                (redactions, one.redactions),
                (exclusions, one.exclusions),
            ):
                for key, n in more.items():
                    into[key] = into.get(key, 0) + int(n)
            sink.add(one.included, one.owners, positions[done + one.kept])
            done += batch.num_rows
        files, members, ids = sink.finish_block()
        summary = {
            "files": files,
            "input": data.num_rows,
            "included": len(ids),
            "reasons": reasons,
            "redactions": redactions,
            "exclusions": exclusions,
        }
        n_members, n_ids = members.num_rows, len(ids)
        kinds = ["block"] + ["member"] * n_members + ["id"] * n_ids
        nulls_m = pa.nulls(n_members + n_ids)

        def pad(head: pa.Array, middle: pa.Array, tail: pa.Array, kind: pa.DataType) -> pa.Array:
            return pa.concat_arrays([head.cast(kind), middle.cast(kind), tail.cast(kind)])

        one_null = pa.nulls(1)
        id_nulls = pa.nulls(n_ids)
        member_nulls = pa.nulls(n_members)
        table = pa.table(
            {
                "kind": pa.array(kinds, pa.string()),
                "block": pa.array(np.full(1 + n_members + n_ids, block), pa.int64()),
                "summary": pa.concat_arrays(
                    [pa.array([json.dumps(summary)], pa.string()), nulls_m.cast(pa.string())]
                ),
                "member_id": pad(
                    one_null, members["member_id"].combine_chunks(), id_nulls, pa.string()
                ),
                "as_author": pad(
                    one_null, members["as_author"].combine_chunks(), id_nulls, pa.int64()
                ),
                "as_participant": pad(
                    one_null, members["as_participant"].combine_chunks(), id_nulls, pa.int64()
                ),
                "shards": pad(
                    one_null, members["shards"].combine_chunks(), id_nulls, pa.list_(pa.int32())
                ),
                "record_id": pad(pa.nulls(1), member_nulls, ids, pa.string()),
            },
            schema=_OUT,
        )
        return table

    return write


def _gather(results: Any, shards: int | None) -> dict[str, Any]:
    from pyspark.sql import functions as F

    rows = results.where(F.col("kind") == "block").select("summary").toArrow()
    files: list[dict[str, Any]] = []
    totals = {"input": 0, "included": 0}
    sums: dict[str, dict[str, int]] = {"reasons": {}, "redactions": {}, "exclusions": {}}
    for text in rows.column("summary").to_pylist():
        summary = json.loads(text)
        files.extend(summary["files"])
        for key in totals:
            totals[key] += int(summary[key])
        for key, into in sums.items():
            for name, n in summary[key].items():
                into[name] = into.get(name, 0) + int(n)
    files.sort(key=lambda f: str(f["path"]))
    return {"files": files, **totals, **sums}


def _sorted_root(results: Any, path: Path) -> tuple[str, int]:
    """The records root: Spark sorts the ids (range-partitioned, so its output files in
    name order hold them in order); the driver streams them one batch at a time."""
    from pyspark.sql import functions as F

    ids = results.where(F.col("kind") == "id").select("record_id")
    ids.orderBy(F.col("record_id").cast("binary")).write.parquet(str(path))
    files = sorted(path.glob("part-*.parquet"))

    def chunks() -> Iterator[pa.Array]:
        for file in files:
            for batch in pq.ParquetFile(file).iter_batches(batch_size=65_536):
                yield batch.column(0)

    return root_of_sorted_ids(chunks_as_bytes(chunks()))


def _member_counts(results: Any, sharded: bool) -> pa.Table:
    """One row per member with an included record (as the local runner's ``Sink``)."""
    from pyspark.sql import functions as F

    members = results.where(F.col("kind") == "member")
    shards = (
        F.array_sort(F.array_distinct(F.flatten(F.collect_list("shards"))))
        if sharded
        else F.lit(None).cast("array<int>")
    )
    table = (
        members.groupBy(_MEMBER)
        .agg(
            F.sum("as_author").alias("as_author"),
            F.sum("as_participant").alias("as_participant"),
            shards.alias("shards"),
        )
        .toArrow()
    )
    schema = pa.schema(
        [
            ("member_id", pa.string()),
            ("as_author", pa.int64()),
            ("as_participant", pa.int64()),
            ("shards", pa.list_(pa.int32())),
        ]
    )
    return table.select(schema.names).cast(schema).sort_by("member_id").combine_chunks()
