"""The gate on Spark (local mode) decides exactly as the local runner does."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gate_data as gd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from consentgate.gate.batch import ELIGIBLE, REASON, evaluate, prepare
from consentgate.gate.run import BuildResult, build_dataset

pytestmark = pytest.mark.spark

SPEC = gd.RecordSpec(n_records=2_500, n_members=300, unknown_fraction=0.01)
SNAPSHOT = gd.snapshot(gd.SnapshotSpec(n_members=300))


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark")
    pytest.importorskip("pandas", reason="PySpark's mapInArrow needs pandas (pyspark[sql])")
    from pyspark import cloudpickle

    from consentgate.gate.spark import local_session

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # ship the test redactor
    session = local_session()
    yield session
    session.stop()


@pytest.fixture(scope="module")
def records() -> pa.Table:
    return gd.record_table(SPEC)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, records: pa.Table) -> Path:
    """Two files, so that Spark's split order differs from the source order."""
    directory = tmp_path_factory.mktemp("src")
    pq.write_table(records.slice(0, 600), directory / "a.parquet", row_group_size=200)
    pq.write_table(records.slice(600), directory / "b.parquet", row_group_size=500)
    return directory


def build(source: Path, out: Path, *, batch_rows: int = 256, **kw: Any) -> BuildResult:
    return build_dataset(
        source,
        snapshot=SNAPSHOT,
        out_dir=out,
        use=SNAPSHOT.use,
        recipient=SNAPSHOT.recipient,
        as_of=SNAPSHOT.as_of,
        batch_rows=batch_rows,
        **kw,
    )


def test_spark_build_equals_local_build(spark: Any, source: Path, tmp_path: Path) -> None:
    local = build(source, tmp_path / "local", shards=3)
    on_spark = build(source, tmp_path / "spark", shards=3, runner="spark")
    assert on_spark.counts == local.counts
    assert on_spark.manifest["records_root"] == local.manifest["records_root"]
    assert on_spark.manifest["files"] == local.manifest["files"]  # byte-identical parts
    assert on_spark.dataset_id == local.dataset_id
    assert on_spark.member_counts.equals(local.member_counts)


def test_spark_reads_a_dataset_in_one_line(spark: Any, source: Path, tmp_path: Path) -> None:
    """Issue 13: Spark loads the data directory alone, with the parts' schema."""
    built = build(source, tmp_path / "ds", shards=2)
    frame = spark.read.parquet(str(built.out_dir / "data"))
    assert frame.count() == built.counts.included > 0
    expected = pq.read_table(built.out_dir / "data")
    assert frame.columns == expected.column_names
    assert sorted(r["id"] for r in frame.select("id").collect()) == sorted(
        expected["id"].to_pylist()
    )


def test_gate_spark_dataframe_equals_evaluate(spark: Any, source: Path, records: pa.Table) -> None:
    from consentgate.gate.spark import gate_spark_dataframe

    index = prepare(SNAPSHOT)
    gated = gate_spark_dataframe(spark.read.parquet(str(source)), index=index)
    assert gated.columns == [*records.column_names, ELIGIBLE, REASON]
    got = {
        r["id"]: (r[ELIGIBLE], r[REASON]) for r in gated.select("id", ELIGIBLE, REASON).collect()
    }
    local = evaluate(records.combine_chunks().to_batches()[0], index)
    expected = {
        i: (e, r)
        for i, e, r in zip(
            local["id"].to_pylist(),
            local[ELIGIBLE].to_pylist(),
            local[REASON].to_pylist(),
            strict=True,
        )
    }
    assert got == expected
    assert sum(e for e, _ in got.values()) > 0


def test_spark_build_from_jsonl_equals_local(spark: Any, records: pa.Table, tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    with path.open("w") as f:
        for row in records.to_pylist():
            f.write(json.dumps(row, default=lambda t: t.isoformat()) + "\n")
    local = build(path, tmp_path / "local")
    on_spark = build(path, tmp_path / "spark", runner="spark")
    assert on_spark.manifest == local.manifest


@dataclass(frozen=True)
class Redacted:
    texts: pa.Array
    excluded: pa.Array
    redactions: dict[str, int]
    exclusions: dict[str, int]


class UpperRedactor:
    def apply(self, texts: pa.Array, participants: pa.Array | None) -> Redacted:
        hit = pc.match_substring(texts, "budget")
        return Redacted(
            texts=pc.utf8_upper(texts),
            excluded=pc.if_else(hit, "sensitive_content:finance", pa.scalar(None, pa.string())),
            redactions={"WORD": len(texts)},
            exclusions={"finance": pc.sum(hit).as_py() or 0},
        )


def test_spark_build_with_a_redactor_equals_local(spark: Any, source: Path, tmp_path: Path) -> None:
    local = build(source, tmp_path / "local", redactor=UpperRedactor())
    on_spark = build(source, tmp_path / "spark", redactor=UpperRedactor(), runner="spark")
    assert local.manifest["counts"]["excluded"]["sensitive_content:finance"] > 0
    assert on_spark.manifest == local.manifest


# ---------------------------------------------------------------- executors write the parts


def _spark_conf(spark: Any, **conf: str) -> dict[str, str | None]:
    before = {k: spark.conf.get(k, None) for k in conf}
    for k, v in conf.items():
        spark.conf.set(k, v)
    return before


def _restore(spark: Any, before: dict[str, str | None]) -> None:
    for k, v in before.items():
        if v is None:
            spark.conf.unset(k)
        else:
            spark.conf.set(k, v)


@pytest.mark.parametrize(
    "conf",
    [
        {"spark.sql.shuffle.partitions": "1", "spark.sql.adaptive.enabled": "false"},
        {
            "spark.sql.shuffle.partitions": "7",
            "spark.sql.files.maxPartitionBytes": "4096",
            "spark.sql.adaptive.enabled": "false",
            "spark.sql.autoBroadcastJoinThreshold": "-1",  # the snapshot join shuffles
        },
    ],
    ids=["one-partition", "many-partitions-shuffle-join"],
)
def test_spark_parts_do_not_depend_on_partitioning(
    spark: Any, source: Path, tmp_path: Path, conf: dict[str, str]
) -> None:
    """Several blocks (batch_rows 32: blocks of 512 source records), split differently."""
    local = build(source, tmp_path / "local", shards=3, batch_rows=32)
    before = _spark_conf(spark, **conf)
    try:
        on_spark = build(source, tmp_path / "spark", shards=3, runner="spark", batch_rows=32)
    finally:
        _restore(spark, before)
    assert len(local.manifest["files"]) > 3 * 2  # several blocks per shard
    assert on_spark.manifest == local.manifest
    assert on_spark.member_counts.equals(local.member_counts)
    for f in local.manifest["files"]:
        assert (tmp_path / "spark" / f["path"]).read_bytes() == (
            tmp_path / "local" / f["path"]
        ).read_bytes()


def test_spark_build_conversation_shards_and_pseudonyms_equal_local(
    spark: Any, source: Path, tmp_path: Path
) -> None:
    from consentgate.gate.owners import OwnerColumns

    owners = OwnerColumns.for_recipient(b"k" * 32, SNAPSHOT.recipient, drop=False)
    kw: dict[str, Any] = {"shards": 4, "shard_by": "conversation", "owner_columns": owners}
    local = build(source, tmp_path / "local", batch_rows=64, **kw)
    on_spark = build(source, tmp_path / "spark", batch_rows=64, runner="spark", **kw)
    assert on_spark.manifest == local.manifest
    assert on_spark.member_counts.equals(local.member_counts)
    assigned = pq.read_table(tmp_path / "spark" / "shards.parquet")
    assert assigned.equals(pq.read_table(tmp_path / "local" / "shards.parquet"))


def test_spark_build_with_nothing_included_equals_local(
    spark: Any, source: Path, tmp_path: Path
) -> None:
    nobody = gd.snapshot(gd.SnapshotSpec(n_members=0))
    kw: dict[str, Any] = {
        "snapshot": nobody,
        "use": nobody.use,
        "recipient": nobody.recipient,
        "as_of": nobody.as_of,
        "batch_rows": 64,
    }
    local = build_dataset(source, out_dir=tmp_path / "local", **kw)
    on_spark = build_dataset(source, out_dir=tmp_path / "spark", runner="spark", **kw)
    assert local.counts.included == 0
    assert on_spark.manifest == local.manifest
    assert [f["path"] for f in on_spark.manifest["files"]] == ["data/part-00000.parquet"]


def test_spark_build_of_posts_without_a_recipients_column_equals_local(
    spark: Any, records: pa.Table, tmp_path: Path
) -> None:
    posts = records.drop_columns(["recipient_ids"])
    pq.write_table(posts, tmp_path / "posts.parquet", row_group_size=300)
    local = build(tmp_path / "posts.parquet", tmp_path / "local", batch_rows=64)
    on_spark = build(tmp_path / "posts.parquet", tmp_path / "spark", batch_rows=64, runner="spark")
    assert local.counts.included > 0
    assert on_spark.manifest == local.manifest
