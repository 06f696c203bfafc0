"""The Spark runner's driver memory does not grow with the data (issue 12).

A Spark driver of 512 MiB (``spark.driver.memory=512m``, local mode, so the executors live
in the same JVM) builds a dataset whose included records take several times that much as
Arrow data, and gets the local runner's ``dataset_id``. Before the executors wrote the
parts, the driver collected every included row (``toArrow``) and could not. The build
runs in a subprocess, because a JVM's heap size is fixed when it starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import gate_data as gd
import pyarrow.parquet as pq
import pytest

from consentgate.gate.run import build_dataset

pytestmark = [pytest.mark.spark, pytest.mark.slow]

DRIVER = 512 * 2**20
SPEC = gd.RecordSpec(n_records=640_000, n_members=20_000, text_bytes=4_000, seed=12)
MEMBERS = gd.SnapshotSpec(n_members=20_000, grant=1.0, withdrawn=0.0, erased=0.0, covers_all=1.0)
BATCH_ROWS = 8_192  # blocks of 131,072 source records: five tasks

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    sys.path.insert(0, sys.argv[1])
    import gate_data as gd
    from pyspark.sql import SparkSession
    from consentgate.gate.run import build_dataset

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.memory", "512m")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    heap = session.sparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory()
    snapshot = gd.snapshot(gd.SnapshotSpec(**json.loads(sys.argv[4])))
    result = build_dataset(
        sys.argv[2], snapshot=snapshot, out_dir=sys.argv[3], use=snapshot.use,
        recipient=snapshot.recipient, as_of=snapshot.as_of, batch_rows=int(sys.argv[5]),
        runner="spark",
    )
    session.stop()
    print(json.dumps({"dataset_id": result.dataset_id, "heap": heap,
                      "included": result.counts.included}))
    """
)


def _write_source(path: Path) -> None:
    writer = None
    for batch in gd.record_batches(SPEC, batch_rows=65_536):
        if writer is None:
            writer = pq.ParquetWriter(path, batch.schema, compression="zstd")
        writer.write_batch(batch, row_group_size=65_536)
    assert writer is not None
    writer.close()


def test_a_512m_spark_driver_builds_data_several_times_larger(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    pytest.importorskip("pandas")
    source = tmp_path / "records.parquet"
    _write_source(source)
    snapshot = gd.snapshot(MEMBERS)
    local = build_dataset(
        source,
        snapshot=snapshot,
        out_dir=tmp_path / "local",
        use=snapshot.use,
        recipient=snapshot.recipient,
        as_of=snapshot.as_of,
        batch_rows=BATCH_ROWS,
    )
    included_bytes = sum(
        pq.read_table(tmp_path / "local" / f["path"]).nbytes for f in local.manifest["files"]
    )
    assert included_bytes > 3 * DRIVER, f"only {included_bytes / 2**20:.0f} MiB included"
    spec = {
        "n_members": MEMBERS.n_members,
        "grant": 1.0,
        "withdrawn": 0.0,
        "erased": 0.0,
        "covers_all": 1.0,
    }
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT,
            str(Path(__file__).parent),
            str(source),
            str(tmp_path / "spark"),
            json.dumps(spec),
            str(BATCH_ROWS),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["heap"] <= DRIVER  # the JVM really had at most 512 MiB
    assert got["included"] == local.counts.included
    assert got["dataset_id"] == local.dataset_id
