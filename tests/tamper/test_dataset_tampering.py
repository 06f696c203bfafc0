"""Each way of tampering with a registered dataset, and the check that catches it (issue 16.3).

For every case: ``verify-dataset DIR`` exits 1 naming the check, ``audit verify
--datasets`` exits 1, and ``remediate`` refuses to start from the dataset. The untouched
dataset verifies (so none of these checks fails on its own). SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import CliResult, build_args

Cli = Callable[..., CliResult]
pytestmark = pytest.mark.postgres


def _flip_byte(d: Path) -> None:
    part = sorted((d / "data").glob("*.parquet"))[0]
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0x01
    part.write_bytes(bytes(data))


def _replace_part(d: Path) -> None:
    """Another valid Parquet file with the same schema and one row fewer."""
    part = sorted((d / "data").glob("*.parquet"))[0]
    table = pq.read_table(part)
    pq.write_table(table.slice(0, table.num_rows - 1), part)


def _delete_part(d: Path) -> None:
    sorted((d / "data").glob("*.parquet"))[0].unlink()


def _add_part(d: Path) -> None:
    part = sorted((d / "data").glob("*.parquet"))[0]
    shutil.copy(part, d / "data" / "part-99999.parquet")


def _edit_shards(d: Path) -> None:
    path = d / "shards.parquet"
    table = pq.read_table(path)
    shard = pa.array([(s + 1) % 4 for s in table.column("shard").to_pylist()], pa.int32())
    pq.write_table(table.set_column(1, "shard", shard), path)


def _edit_manifest(change: Callable[[dict], None]) -> Callable[[Path], None]:  # type: ignore[type-arg]
    def edit(d: Path) -> None:
        path = d / "manifest.json"
        manifest = json.loads(path.read_text())
        change(manifest)
        path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    return edit


def _counts(m: dict) -> None:  # type: ignore[type-arg]
    m["counts"]["excluded"]["no_consent"] += 1
    m["counts"]["input"] += 1


def _records_root(m: dict) -> None:  # type: ignore[type-arg]
    m["records_root"] = "00" * 32


def _members_root(m: dict) -> None:  # type: ignore[type-arg]
    m["members_root"] = "00" * 32


def _dataset_id(m: dict) -> None:  # type: ignore[type-arg]
    m["dataset_id"] = "0" * 64


def _use(m: dict) -> None:  # type: ignore[type-arg]
    """Changing a field the id depends on and recomputing the id: a different dataset."""
    from consentgate.gate.manifest import dataset_id_of

    m["recipient"] = "acme-ai"
    m["dataset_id"] = dataset_id_of(m)


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "flipped byte in a part": (_flip_byte, "part_sha256"),
    "part replaced by another valid Parquet file": (_replace_part, "part_sha256"),
    "part deleted": (_delete_part, "part_missing"),
    "part added": (_add_part, "unlisted_file"),
    "shards.parquet edited": (_edit_shards, "shard_map"),
    "manifest counts edited": (_edit_manifest(_counts), "manifest_sha256"),
    "manifest records_root edited": (_edit_manifest(_records_root), "records_root"),
    "manifest members_root edited": (_edit_manifest(_members_root), "members_root"),
    "manifest dataset_id edited": (_edit_manifest(_dataset_id), "manifest"),
    "manifest re-identified as another dataset": (_edit_manifest(_use), "registered"),
}


@pytest.fixture
def dataset(cli: Cli, world: Path, tmp_path: Path) -> Path:
    out = tmp_path / "posts"
    r = cli(*build_args(world, out, "--shards", "4", "--json"))
    assert r.exit_code == 0, r.stderr
    return out


def test_an_untouched_dataset_verifies(cli: Cli, dataset: Path) -> None:
    r = cli("verify-dataset", str(dataset), "--json")
    assert r.exit_code == 0, r.stderr
    report = r.json()
    assert report["ok"] and report["records"] == 2 and report["findings"] == []
    assert {"part_sha256", "records_root", "members_root", "log_entry", "shard_map"} <= set(
        report["checks_passed"]
    )
    assert cli("audit", "verify", "--datasets").exit_code == 0


@pytest.mark.parametrize("case", sorted(CASES))
def test_tampering_is_caught(cli: Cli, dataset: Path, case: str) -> None:
    tamper, check = CASES[case]
    registered = cli("datasets", "--json").json()[0]["dataset_id"]
    tamper(dataset)
    r = cli("verify-dataset", str(dataset), "--json")
    assert r.exit_code == 1
    found = {f["check"] for f in r.json()["findings"]}
    assert check in found, (case, found)
    text = cli("verify-dataset", str(dataset))
    assert text.exit_code == 1 and f"[{check}]" in text.stderr and "Traceback" not in text.stderr
    audit = cli("audit", "verify", "--datasets")
    assert audit.exit_code == 1 and "does NOT verify" in audit.stderr
    refused = cli("remediate", registered)
    assert refused.exit_code == 1 and "Traceback" not in refused.stderr
    assert "does not verify; refusing to start from it" in refused.stderr
    assert f"[{check}]" in refused.stderr
