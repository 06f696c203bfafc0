"""Issue 13: each dataset carries a Croissant 1.1 file (RAI vocabulary) checked by
mlcroissant, and a Hugging Face-style card, both derived from its manifest."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import CliResult, build_args

Cli = Callable[..., CliResult]

mlc = pytest.importorskip("mlcroissant")
# rdflib 7.6, under mlcroissant 1.1.1, warns that its own ConjunctiveGraph is deprecated.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:rdflib.*")


def _build(cli: Cli, world: Path, out: Path, **kw: str) -> dict[str, Any]:
    r = cli(*build_args(world, out, "--shards", "2", **kw))
    assert r.exit_code == 0, r.stderr
    return dict(json.loads((out / "manifest.json").read_text()))


def _validated(path: Path) -> Any:
    dataset = mlc.Dataset(jsonld=path)
    issues = dataset.metadata.ctx.issues
    assert not issues.errors, issues.report()
    assert not issues.warnings, issues.report()
    return dataset


def test_croissant_validates_and_reads_the_same_records(
    cli: Cli, world: Path, tmp_path: Path
) -> None:
    out = tmp_path / "acme"
    manifest = _build(cli, world, out, recipient="acme-ai")
    doc = json.loads((out / "croissant.json").read_text())
    assert doc["conformsTo"] == "http://mlcommons.org/croissant/1.1"
    assert doc["identifier"] == manifest["dataset_id"]
    pii = " ".join(doc["rai:personalSensitiveInformation"])
    assert "pseudonymized" in pii and manifest["redaction"]["profile_sha256"] in pii
    assert manifest["records_root"] in doc["rai:dataCollection"]
    dataset = _validated(out / "croissant.json")
    ids = sorted(r["records/id"].decode() for r in dataset.records("records"))
    assert ids == sorted(pq.read_table(out / "data")["id"].to_pylist())
    assert len(ids) == manifest["counts"]["included"]


def test_mlcroissant_refuses_a_broken_description(cli: Cli, world: Path, tmp_path: Path) -> None:
    """The validator is live: a field reading from a file set that does not exist is refused."""
    out = tmp_path / "posts"
    _build(cli, world, out)
    doc = json.loads((out / "croissant.json").read_text())
    doc["recordSet"][0]["field"][0]["source"]["fileSet"] = {"@id": "nowhere"}
    broken = out / "broken.json"
    broken.write_text(json.dumps(doc))
    with pytest.raises(mlc.ValidationError):
        mlc.Dataset(jsonld=broken)


def test_the_card_has_front_matter_privacy_and_the_roots(
    cli: Cli, world: Path, tmp_path: Path
) -> None:
    out = tmp_path / "posts"
    manifest = _build(cli, world, out)
    card = (out / "README.md").read_text()
    assert card.startswith("---\n")
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["configs"][0]["data_files"][0]["path"] == "data/*.parquet"
    assert "## Privacy considerations" in card
    for root in (manifest["records_root"], manifest["members_root"], manifest["dataset_id"]):
        assert root in card
    for reason, n in manifest["counts"]["excluded"].items():
        if n:
            assert f"| {reason} | {n} |" in card
    assert "NOT redacted" not in card  # the default build redacts


def test_documents_are_regenerated_for_a_remediated_version(
    cli: Cli, world: Path, tmp_path: Path
) -> None:
    out = tmp_path / "posts"
    manifest = _build(cli, world, out)
    # u1 (an author in the dataset) withdraws; remediation writes a new version.
    assert (
        cli(
            "consent", "record", "u1", "--type", "withdraw", "--setting", "ai_training_posts"
        ).exit_code
        == 0
    )
    r = cli("remediate", manifest["dataset_id"], "--json")
    assert r.exit_code == 0, r.stderr
    new = Path(r.json()["out"])
    doc = json.loads((new / "croissant.json").read_text())
    assert doc["identifier"] == r.json()["new_dataset_id"] != manifest["dataset_id"]
    _validated(new / "croissant.json")
