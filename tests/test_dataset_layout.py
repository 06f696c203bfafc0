"""Issue 13: a built dataset loads in one line with the tools ML and data teams run.

``data/`` holds the parts alone (one schema); metadata (manifest, shard map, Croissant,
card) sits beside it. Spark's one-liner is in test_gate_spark.py (it needs Java).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from conftest import CliResult, build_args

Cli = Callable[..., CliResult]


@pytest.fixture
def dataset(cli: Cli, world: Path, tmp_path: Path) -> tuple[Path, pa.Table]:
    out = tmp_path / "posts"
    r = cli(*build_args(world, out, "--shards", "2", "--json"))
    assert r.exit_code == 0, r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    expected = pa.concat_tables(pq.read_table(out / f["path"]) for f in manifest["files"])
    assert expected.num_rows == manifest["counts"]["included"] > 0
    return out, expected


def _ids(values: list[object]) -> list[str]:
    return sorted(str(v) for v in values)


def test_data_holds_the_parts_alone_and_metadata_sits_beside(
    dataset: tuple[Path, pa.Table],
) -> None:
    out, _ = dataset
    assert {p.name for p in out.iterdir()} == {
        "data",
        "manifest.json",
        "shards.parquet",
        "croissant.json",
        "README.md",
    }
    assert all(p.suffix == ".parquet" for p in (out / "data").iterdir())


def test_pandas_and_pyarrow(dataset: tuple[Path, pa.Table]) -> None:
    pandas = pytest.importorskip("pandas")
    out, expected = dataset
    frame = pandas.read_parquet(out / "data")
    assert _ids(frame["id"].tolist()) == _ids(expected["id"].to_pylist())
    table = pads.dataset(out / "data").to_table()
    assert table.schema.remove_metadata().equals(expected.schema.remove_metadata())
    assert table.num_rows == expected.num_rows


def test_duckdb(dataset: tuple[Path, pa.Table]) -> None:
    duckdb = pytest.importorskip("duckdb")
    out, expected = dataset
    rows = duckdb.sql(f"SELECT id FROM read_parquet('{out / 'data'}/*.parquet')").fetchall()
    assert _ids([r[0] for r in rows]) == _ids(expected["id"].to_pylist())


def test_hugging_face_datasets(
    dataset: tuple[Path, pa.Table], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")
    out, expected = dataset
    cache = str(tmp_path / "hf-cache")
    by_dir = datasets.load_dataset("parquet", data_dir=str(out / "data"), cache_dir=cache)
    assert _ids(by_dir["train"]["id"]) == _ids(expected["id"].to_pylist())
    # The dataset card's `configs` point `datasets` at data/ when given the directory itself.
    by_card = datasets.load_dataset(str(out), cache_dir=cache)
    assert _ids(by_card["train"]["id"]) == _ids(expected["id"].to_pylist())


@pytest.mark.parametrize("scheme", ["s3", "gs", "hdfs", "abfs"])
def test_a_remote_out_is_refused_and_no_scheme_folder_appears(
    cli: Cli, world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    monkeypatch.chdir(tmp_path)
    r = cli(*build_args(world, Path("x"))[:-1], f"{scheme}://bucket/x")
    assert r.exit_code == 2
    assert f"{scheme}:// is not configured" in r.stderr
    assert not (tmp_path / f"{scheme}:").exists()
    assert cli("datasets", "--json").json() == []


def test_a_file_uri_out_writes_a_local_dataset(cli: Cli, world: Path, tmp_path: Path) -> None:
    out = tmp_path / "via-uri"
    r = cli(*build_args(world, Path("x"))[:-1], out.as_uri(), "--json")
    assert r.exit_code == 0, r.stderr
    assert (out / "manifest.json").is_file() and r.json()["out"] == str(out)


def test_commands_take_a_unique_id_prefix(cli: Cli, world: Path, tmp_path: Path) -> None:
    r = cli(*build_args(world, tmp_path / "posts", "--json"))
    dataset_id = r.json()["dataset_id"]
    short = cli("disclose", dataset_id[:3], "--to", "acme-ai")
    assert short.exit_code == 2 and "at least 4" in short.stderr
    unknown = cli("remediate", "0000" if not dataset_id.startswith("0000") else "ffff")
    assert unknown.exit_code == 1 and "not found" in unknown.stderr
    nothing = cli("remediate", dataset_id[:6], "--json")
    assert nothing.exit_code == 0 and nothing.json()["dataset_id"] == dataset_id


def _posts_parquet(world: Path, out: Path, rename: dict[str, str] | None = None) -> Path:
    """The world's public posts as Parquet without a recipients column (optionally renamed)."""
    rows = [json.loads(line) for line in world.read_text().splitlines()]
    posts = [r for r in rows if r["category"] == "user.content.public"]
    table = pa.table(
        {
            "id": [r["id"] for r in posts],
            "category": [r["category"] for r in posts],
            "author_id": [r["author_id"] for r in posts],
            "created_at": pa.array(
                [r["created_at"].replace("Z", "+00:00") for r in posts], pa.string()
            ).cast(pa.timestamp("us", tz="UTC")),
            "text": [r["text"] for r in posts],
        }
    )
    if rename:
        table = table.rename_columns([rename.get(n, n) for n in table.column_names])
    pq.write_table(table, out)
    return out


def test_a_source_of_posts_needs_no_recipients_column(
    cli: Cli, world: Path, tmp_path: Path
) -> None:
    source = _posts_parquet(world, tmp_path / "posts.parquet")
    from_parquet = cli(*build_args(source, tmp_path / "a", "--json"))
    assert from_parquet.exit_code == 0, from_parquet.stderr
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["columns_absent"] == ["recipient_ids"]
    assert manifest["counts"]["included"] == 2  # p1 (u1 default on), p2 (e1 granted)
    data = pq.read_table(tmp_path / "a" / "data")
    assert data["recipient_ids"].null_count == data.num_rows


def test_remediation_reads_the_column_map_from_the_manifest(
    cli: Cli, world: Path, tmp_path: Path
) -> None:
    rename = {"author_id": "writer", "text": "body"}
    source = _posts_parquet(world, tmp_path / "posts.parquet", rename)
    r = cli(
        *build_args(source, tmp_path / "a", "--json"),
        "--map",
        "author_id=writer",
        "--map",
        "text=body",
    )
    assert r.exit_code == 0, r.stderr
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["columns"]["author_id"] == "writer"
    assert (
        cli("consent", "record", "u1", "--type", "withdraw", "--setting", "ai_training_posts")
    ).exit_code == 0
    rem = cli("remediate", r.json()["dataset_id"], "--json")  # no --map
    assert rem.exit_code == 0, rem.stderr
    assert rem.json()["records_removed"] == 1
    kept = pq.read_table(Path(rem.json()["out"]) / "data")
    assert kept.column_names[:3] == ["id", "category", "writer"]


def test_a_dataset_has_a_human_name_that_commands_accept(
    cli: Cli, world: Path, tmp_path: Path
) -> None:
    r = cli(*build_args(world, tmp_path / "a", "--name", "posts-2024", "--json"))
    assert r.exit_code == 0, r.stderr
    dataset_id = r.json()["dataset_id"]
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["name"] == "posts-2024"
    croissant = json.loads((tmp_path / "a" / "croissant.json").read_text())
    assert croissant["name"] == "posts-2024"
    # the name is not part of the id: an unnamed build of the same inputs has the same id
    same = cli(*build_args(world, tmp_path / "b", "--json", as_of="2024-11-01T00:00:00Z"))
    assert same.json()["dataset_id"] == dataset_id and same.json()["registered"] is False
    taken = cli(
        *build_args(world, tmp_path / "c", "--name", "posts-2024", as_of="2024-10-20T00:00:00Z")
    )
    assert taken.exit_code == 1 and "already names dataset" in taken.stderr
    for bad in ("cafe", "Posts", "-x"):
        refused = cli(*build_args(world, tmp_path / "d", "--name", bad))
        assert refused.exit_code == 2 and "--name" in refused.stderr
    assert (
        cli("consent", "record", "u1", "--type", "withdraw", "--setting", "ai_training_posts")
    ).exit_code == 0
    rem = cli("remediate", "posts-2024", "--json")
    assert rem.exit_code == 0, rem.stderr
    assert rem.json()["dataset_id"] == dataset_id
    new_id = rem.json()["new_dataset_id"]
    # the name follows the current version
    again = cli("remediate", "posts-2024", "--json")
    assert again.exit_code == 0 and again.json()["dataset_id"] == new_id
    assert cli("remediate", "no-such-name").exit_code == 1
