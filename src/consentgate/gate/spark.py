"""The gate on PySpark: the same batch function through ``DataFrame.mapInArrow``.

``gate_spark_dataframe`` is the entry point for Spark users: it broadcasts the
``GateIndex`` and returns the DataFrame with ``_eligible`` and ``_reason`` added, computed
by ``consentgate.gate.batch.gate_batch`` on each Arrow batch — the very function the local
runner uses, so both engines decide identically.

``gate_source_on_spark`` backs ``build_dataset(engine="spark")``: Spark reads the source
(Parquet; JSONL is parsed by the local reader and handed to Spark as Arrow so that both
engines parse it the same way), gates it, and the included rows are collected back to the
driver in source order (Parquet's ``_metadata.row_index``) so that the local writer
produces byte-identical parts. That collects the included rows into driver memory: for
datasets larger than the driver, use ``gate_spark_dataframe`` and write with Spark.

pyspark is imported only inside these functions; importing this module never needs it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from consentgate.errors import UsageError
from consentgate.gate.batch import ELIGIBLE, REASON, Redactor, gate_batch
from consentgate.gate.columns import DEFAULT_COLUMNS, Columns
from consentgate.gate.lookup import GateIndex
from consentgate.gate.sink import Gated, Owners, Progress, owners_of_included

if TYPE_CHECKING:
    from consentgate.gate.source import Source

__all__ = ["gate_source_on_spark", "gate_spark_dataframe", "local_session"]

_FILE = "_cg_file"
_ROW = "_cg_row"
_SUMMARY = "_cg_summary"


def _require_spark() -> None:
    # pyspark's Arrow functions (mapInArrow, toArrow) refuse to run without pandas
    if find_spec("pyspark") is None or find_spec("pandas") is None:
        raise UsageError(
            "engine 'spark' needs PySpark and pandas: pip install 'consentgate[spark]'"
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


def _gated_schema(schema: Any, *extra: tuple[str, Any], nullable: bool = False) -> Any:
    from pyspark.sql.types import BooleanType, StringType, StructField, StructType

    fields = [StructField(f.name, f.dataType, True) if nullable else f for f in schema.fields]
    fields.append(StructField(ELIGIBLE, BooleanType(), True))
    fields.append(StructField(REASON, StringType(), True))
    fields += [StructField(name, kind, True) for name, kind in extra]
    return StructType(fields)


def gate_spark_dataframe(
    df: Any,
    *,
    index: GateIndex,
    columns: Columns = DEFAULT_COLUMNS,
    redactor: Redactor | None = None,
) -> Any:
    """``df`` plus ``_eligible`` and ``_reason``, computed by ``gate_batch`` on Spark."""
    broadcast = df.sparkSession.sparkContext.broadcast(index)

    def gate(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        shared = broadcast.value
        for batch in batches:
            out = gate_batch(batch, shared, columns=columns, redactor=redactor).batch
            yield out

    return df.mapInArrow(gate, _gated_schema(df.schema))


def _summary_rows(schema: pa.Schema, summary: dict[str, Any]) -> pa.RecordBatch:
    arrays = [pa.nulls(1, field.type) for field in schema]
    arrays[schema.get_field_index(_SUMMARY)] = pa.array([json.dumps(summary)], pa.string())
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _build_stream(df: Any, index: GateIndex, columns: Columns, redactor: Redactor | None) -> Any:
    """Included rows, plus one summary row per batch (reason counts, redaction counts)."""
    from pyspark.sql.types import StringType

    broadcast = df.sparkSession.sparkContext.broadcast(index)

    def gate(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        shared = broadcast.value
        for batch in batches:
            out = gate_batch(batch, shared, columns=columns, redactor=redactor)
            reasons = pc.value_counts(out.batch.column(REASON).drop_null()).to_pylist()
            summary = {
                "input": batch.num_rows,
                "reasons": {item["values"]: item["counts"] for item in reasons},
                "redactions": {k: int(v) for k, v in out.redactions.items()},
                "exclusions": {k: int(v) for k, v in out.exclusions.items()},
            }
            kept = out.batch.filter(pa.array(out.eligible))
            kept = kept.append_column(_SUMMARY, pa.nulls(kept.num_rows, pa.string()))
            yield kept
            yield _summary_rows(kept.schema, summary)

    schema = _gated_schema(df.schema, (_SUMMARY, StringType()), nullable=True)
    return df.mapInArrow(gate, schema)


def _spark_frame(session: Any, source: Source, batch_rows: int) -> tuple[Any, list[Path]]:
    from pyspark.sql import functions as F

    if source.format == "parquet":
        df = session.read.parquet(*[str(p.resolve()) for p in source.files])
        df = df.select(
            "*",
            *[  # issue 13: a column the source lacks (recipient_ids of posts) as nulls
                F.lit(None).cast("array<string>").alias(name) for name in source.absent
            ],
            F.col("_metadata.file_path").alias(_FILE),
            F.col("_metadata.row_index").alias(_ROW),
        )
        return df, [p.resolve() for p in source.files]
    parts = []
    offset = 0
    for batch in source.batches(batch_rows=batch_rows):
        n = batch.num_rows
        parts.append(
            batch.append_column(_FILE, pa.array([""] * n, pa.string())).append_column(
                _ROW, pa.array(np.arange(offset, offset + n), pa.int64())
            )
        )
        offset += n
    table = pa.Table.from_batches(parts)
    return session.createDataFrame(table), []


def gate_source_on_spark(
    source: Source,
    index: GateIndex,
    *,
    redactor: Redactor | None,
    batch_rows: int,
    progress: Progress | None,
) -> Gated:
    """Gate ``source`` on a local Spark session; included rows come back in source order."""
    _require_spark()
    from pyspark.sql import SparkSession

    created = SparkSession.getActiveSession() is None
    session = local_session()
    try:
        df, files = _spark_frame(session, source, batch_rows)
        collected = _build_stream(df, index, source.columns, redactor).toArrow()
    finally:
        if created:
            session.stop()
    summaries = collected.filter(pc.is_valid(collected[_SUMMARY]))
    rows = collected.filter(pc.is_null(collected[_SUMMARY]))
    reasons: dict[str, int] = {}
    redactions: dict[str, int] = {}
    exclusions: dict[str, int] = {}
    for text in summaries[_SUMMARY].to_pylist():
        summary = json.loads(text)
        for into, key in (
            (reasons, "reasons"),
            (redactions, "redactions"),
            (exclusions, "exclusions"),
        ):
            for name, n in summary[key].items():
                into[name] = into.get(name, 0) + int(n)
    rows = _in_source_order(rows, files)
    table = _to_source_schema(rows, source)
    if progress is not None:
        progress(source.rows, source.rows)

    def stream() -> Iterator[tuple[pa.RecordBatch, Owners]]:
        for batch in table.to_batches(max_chunksize=batch_rows):
            yield batch, owners_of_included(batch, index, source=source)

    return Gated(stream(), lambda: (reasons, redactions, exclusions))


def _in_source_order(rows: pa.Table, files: list[Path]) -> pa.Table:
    if files:
        number = {str(p): i for i, p in enumerate(files)}
        paths = rows[_FILE].combine_chunks()
        encoded = pc.dictionary_encode(paths)
        lut = np.array(
            [
                number[str(Path(unquote(urlparse(u).path)).resolve())]
                for u in encoded.dictionary.to_pylist()
            ],
            np.int64,
        )
        file_index = lut[np.asarray(encoded.indices.to_numpy(zero_copy_only=False), np.int64)]
    else:
        file_index = np.zeros(rows.num_rows, np.int64)
    order = np.lexsort((np.asarray(rows[_ROW].to_numpy(), np.int64), file_index))
    return rows.take(pa.array(order))


def _to_source_schema(rows: pa.Table, source: Source) -> pa.Table:
    table = rows.select(source.schema.names)
    return table.cast(source.schema)
