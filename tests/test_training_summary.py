"""Issue 13: `report training-summary --model M` (EU AI Act Art. 53(1)(d) template)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from conftest import CliResult, build_args

Cli = Callable[..., CliResult]


def _fields(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict) and "status" in node:
        return [node]
    if isinstance(node, dict):
        return [f for v in node.values() for f in _fields(v)]
    return []


def _setup(cli: Cli, world: Path, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "posts"
    r = cli(*build_args(world, out, "--shards", "2", "--json"))
    assert r.exit_code == 0, r.stderr
    dataset_id = r.json()["dataset_id"]
    reg = cli("models", "register", "topics", "--dataset", dataset_id[:8], "--json")
    assert reg.exit_code == 0, reg.stderr
    return dict(json.loads((out / "manifest.json").read_text()))


def test_the_summary_reports_what_the_ledger_knows_and_blanks_the_rest(
    cli: Cli, world: Path, tmp_path: Path
) -> None:
    manifest = _setup(cli, world, tmp_path)
    r = cli("report", "training-summary", "--model", "topics", "--json")
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    size = doc["1_general_information"]["1.3_modalities_and_size"]
    texts = pq.read_table(tmp_path / "posts" / "data")["text"].to_pylist()
    assert size["text"]["utf8_bytes"]["answer"] == sum(len(t.encode()) for t in texts)
    assert size["text"]["records"]["answer"] == manifest["counts"]["included"] == len(texts)
    assert size["text"]["size_band"]["answer"] == "Less than 1 billion tokens"
    assert size["latest_acquisition_date"]["answer"] == manifest["as_of"]
    assert size["languages"] == {
        "answer": None,
        "status": "needs_human_answer",
        "why": "languages are not recorded in the manifests",
    }
    user = doc["2_data_sources"]["2.4_user_data"]
    assert user["records_excluded_by_reason"]["answer"] == {
        k: v for k, v in manifest["counts"]["excluded"].items() if v
    }
    assert user["services_and_categories"]["answer"] == ["user.content.public"]
    assert user["from_user_interactions_with_the_model"]["answer"] is None
    for field in _fields(doc):
        assert field["status"] in ("from_ledger", "needs_human_answer")
        if field["status"] == "needs_human_answer":
            assert field["answer"] is None and field["why"]
        for e in field.get("evidence", []):
            assert e == {
                "dataset_id": manifest["dataset_id"],
                "records_root": manifest["records_root"],
                "members_root": manifest["members_root"],
                "manifest_sha256": e["manifest_sha256"],
            }
    listed = cli("datasets", "--json").json()
    assert {e["manifest_sha256"] for f in _fields(doc) for e in f.get("evidence", [])} == {
        listed[0]["manifest_sha256"]
    }


def test_markdown_marks_blanks_and_names_the_roots(cli: Cli, world: Path, tmp_path: Path) -> None:
    manifest = _setup(cli, world, tmp_path)
    r = cli("report", "training-summary", "--model", "topics@v1")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("# Public summary of training content: topics@v1")
    assert "2.4 user data" in r.stdout and "3.1 opt outs" in r.stdout
    assert "**[to be answered by the provider]**" in r.stdout
    assert manifest["records_root"] in r.stdout and manifest["members_root"] in r.stdout


def test_an_unknown_model_or_a_changed_manifest_is_refused(
    cli: Cli, world: Path, tmp_path: Path
) -> None:
    _setup(cli, world, tmp_path)
    unknown = cli("report", "training-summary", "--model", "nope")
    assert unknown.exit_code == 1 and "not found" in unknown.stderr
    path = tmp_path / "posts" / "manifest.json"
    path.write_text(path.read_text().replace('"counts"', '"counts" ', 1))
    changed = cli("report", "training-summary", "--model", "topics")
    assert changed.exit_code == 1 and "manifest_sha256" in changed.stderr
