"""Issue 13: OpenLineage RunEvents, off by default, checked against the OpenLineage JSON
schema (vendored in tests/vendor/openlineage with its licence; no network)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import CliResult, build_args
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

Cli = Callable[..., CliResult]

VENDOR = Path(__file__).parent / "vendor" / "openlineage"
FACET_SCHEMA = (
    Path(__file__).parent.parent / "src" / "consentgate" / "ecosystem" / "ConsentgateRunFacet.json"
)
MEMBERS = {"u1", "u2", "e1", "e2", "ghost"}


def _registry() -> Registry:
    resources = []
    for path in [*VENDOR.glob("*.json"), FACET_SCHEMA]:
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


REGISTRY = _registry()


def _validate(instance: Any, ref: str) -> None:
    """Validate against ``ref`` (a schema URL with a fragment), resolving from the vendored files."""
    Draft202012Validator({"$ref": ref}, registry=REGISTRY).validate(instance)


def check_event(event: dict[str, Any]) -> None:
    """The event against OpenLineage.json, and every facet against its own schema."""
    _validate(event, "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent")
    facets: list[dict[str, Any]] = [
        *event["run"].get("facets", {}).values(),
        *event["job"].get("facets", {}).values(),
    ]
    for ds in event.get("inputs", []) + event.get("outputs", []):
        facets += [*ds.get("facets", {}).values(), *ds.get("outputFacets", {}).values()]
    for facet in facets:
        _validate(facet, facet["_schemaURL"])  # unknown schema URLs fail to resolve


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def lineage_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "lineage.jsonl"
    config = {"transport": {"type": "file", "log_file_path": str(path), "append": True}}
    monkeypatch.setenv("CONSENTGATE_OPENLINEAGE", json.dumps(config))
    return path


def test_a_build_emits_start_and_complete_that_fit_the_schema(
    cli: Cli, world: Path, tmp_path: Path, lineage_file: Path
) -> None:
    out = tmp_path / "acme"
    assert cli(*build_args(world, out, "--shards", "2", recipient="acme-ai")).exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    start, complete = _events(lineage_file)
    for event in (start, complete):
        check_event(event)
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"]
    assert [(i["namespace"], i["name"]) for i in complete["inputs"]] == [
        ("file", str(world.resolve()))
    ]
    output = complete["outputs"][0]
    assert (output["namespace"], output["name"]) == ("file", str(out.resolve()))
    facet = complete["run"]["facets"]["consentgate"]
    assert facet["datasetId"] == manifest["dataset_id"]
    assert facet["counts"] == manifest["counts"]
    assert facet["recordsRoot"] == manifest["records_root"]
    assert facet["membersRoot"] == manifest["members_root"]
    assert (facet["use"], facet["recipient"], facet["asOf"]) == (
        "train_ai_system",
        "acme-ai",
        manifest["as_of"],
    )
    tags = {(t["key"], t.get("field")): t["value"] for t in output["facets"]["tags"]["tags"]}
    assert tags[("pii", "author_id")] == "pseudonymized"
    assert tags[("pii", "text")] == "redacted"
    assert tags[("consent_scope", None)] == "train_ai_system/acme-ai"
    columns = output["facets"]["columnLineage"]["fields"]
    assert columns["author_id"]["inputFields"][0]["transformations"][0]["masking"] is True
    assert columns["id"]["inputFields"][0]["transformations"][0]["subtype"] == "IDENTITY"
    assert sorted(f["name"] for f in output["facets"]["schema"]["fields"]) == sorted(columns)
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == manifest["counts"]["included"]
    assert not MEMBERS & set(_strings(complete)), "no member id may appear in an event"


def test_remediation_and_disclosure_are_runs_too(
    cli: Cli, world: Path, tmp_path: Path, lineage_file: Path
) -> None:
    out = tmp_path / "posts"
    r = cli(*build_args(world, out, "--json"))
    dataset_id = r.json()["dataset_id"]
    acme = cli(*build_args(world, tmp_path / "acme", "--json", recipient="acme-ai"))
    d = cli("disclose", acme.json()["dataset_id"][:8], "--to", "acme-ai")
    assert d.exit_code == 0, d.stderr
    assert (
        cli("consent", "record", "u1", "--type", "withdraw", "--setting", "ai_training_posts")
    ).exit_code == 0
    rem = cli("remediate", dataset_id[:10], "--json")
    assert rem.exit_code == 0, rem.stderr
    events = _events(lineage_file)
    for event in events:
        check_event(event)
    completes = [e for e in events if e["eventType"] == "COMPLETE"]
    kinds = [e["run"]["facets"]["consentgate"]["kind"] for e in completes]
    assert kinds == ["build", "build", "disclosure", "remediation"]
    disclosure, remediation = completes[2:]
    assert disclosure["outputs"][0]["namespace"] == "consentgate-recipient"
    assert disclosure["inputs"][0]["name"] == str((tmp_path / "acme").resolve())
    assert remediation["inputs"][0]["name"] == str(out.resolve())
    new = remediation["run"]["facets"]["consentgate"]
    assert new["datasetId"] == rem.json()["new_dataset_id"]
    assert new["counts"]["included"] == r.json()["counts"]["included"] - 1


def test_lineage_is_off_by_default(cli: Cli, world: Path, tmp_path: Path) -> None:
    assert cli(*build_args(world, tmp_path / "posts")).exit_code == 0
    assert not list(tmp_path.glob("*lineage*")) and not list(Path.cwd().glob("*lineage*"))


def test_a_configuration_without_transport_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from consentgate.config import Settings

    monkeypatch.setenv("CONSENTGATE_OPENLINEAGE", '{"url": "http://x"}')
    with pytest.raises(ValidationError, match="transport"):
        Settings()


def test_the_schema_check_is_live() -> None:
    """A RunEvent without its run id, or a facet off its schema, is refused."""
    from jsonschema import ValidationError

    event = {
        "eventTime": "2024-11-01T00:00:00Z",
        "producer": "https://github.com/consentgate/consentgate",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {},
        "job": {"namespace": "consentgate", "name": "consentgate.build"},
    }
    with pytest.raises(ValidationError, match="runId"):
        check_event(event)
    facet = {
        "_producer": "x",
        "_schemaURL": "https://consentgate.dev/spec/facets/1-0-0/ConsentgateRunFacet.json#/$defs/ConsentgateRunFacet",
        "kind": "build",
    }
    with pytest.raises(ValidationError):
        check_event(
            {
                **event,
                "run": {
                    "runId": "0190c9e0-7b6a-7c0e-9b0e-2f1e3c4d5e6f",
                    "facets": {"consentgate": facet},
                },
            }
        )


class _Collector(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).bodies.append(self.rfile.read(length))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_http_transport_posts_to_a_loopback_endpoint(
    cli: Cli, world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _Collector.bodies = []
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        config = {"transport": {"type": "http", "url": url, "compression": None}}
        monkeypatch.setenv("CONSENTGATE_OPENLINEAGE", json.dumps(config))
        assert cli(*build_args(world, tmp_path / "posts")).exit_code == 0
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    events = [json.loads(b) for b in _Collector.bodies]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        check_event(event)
