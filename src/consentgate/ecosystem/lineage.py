"""OpenLineage RunEvents for builds, remediations, retrains and disclosures.

Off by default. ``Settings.openlineage`` (env ``CONSENTGATE_OPENLINEAGE``, JSON) holds
``{"transport": {...}}`` in openlineage-python's own transport configuration: ``{"type":
"file", "log_file_path": "lineage.jsonl", "append": true}``, ``{"type": "console"}`` or
``{"type": "http", "url": "..."}``. Each run gives a START and a COMPLETE event with one
run id. The COMPLETE event carries:

* inputs (the source files, or the dataset a remediation, retrain or disclosure read) and
  the output (the dataset directory, the model, or the recipient);
* on the output: the ``schema``, ``columnLineage`` (each column from the source column the
  manifest's column map names; owner columns MASKED when pseudonymized, ``text`` a
  masking transformation when redacted), ``tags`` (``pii`` per column, ``consent_scope``),
  ``version`` (the dataset id) and ``outputStatistics`` (rows);
* the run facet ``consentgate`` (schema ``ConsentgateRunFacet.json`` shipped beside this
  module): kind, dataset id, use, recipient, as-of, policy versions, snapshot hash, counts
  by reason, ``records_root`` and ``members_root`` — never a member id or content.

Building the event is pure (``run_events``); ``emit`` is the only adapter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import attr
import pyarrow as pa
import pyarrow.parquet as pq
from openlineage.client import event_v2 as ol
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    dataset_version_dataset,
    job_type_job,
    output_statistics_output_dataset,
    schema_dataset,
    tags_dataset,
)
from openlineage.client.generated.base import RunFacet
from openlineage.client.uuid import generate_new_uuid

from consentgate.gate.manifest import MANIFEST_NAME
from consentgate.timestamps import format_timestamp

__all__ = [
    "CONSENTGATE_FACET_SCHEMA",
    "PRODUCER",
    "ConsentgateRunFacet",
    "LineageRun",
    "emit",
    "emit_dataset_run",
    "local_dataset",
    "run_events",
]

PRODUCER = "https://github.com/consentgate/consentgate"
CONSENTGATE_FACET_SCHEMA = (
    "https://consentgate.dev/spec/facets/1-0-0/ConsentgateRunFacet.json#/$defs/ConsentgateRunFacet"
)
OWNER_COLUMNS = ("author_id", "recipient_ids")
JOB_NAMES = {
    "build": "consentgate.build",
    "remediation": "consentgate.remediate",
    "retrain": "consentgate.retrain",
    "disclosure": "consentgate.disclose",
}


@attr.define
class ConsentgateRunFacet(RunFacet):
    """What consent decided in this run (counts and roots only, no member ids)."""

    kind: str
    datasetId: str
    use: str
    recipient: str
    asOf: str
    policyVersions: list[str]
    snapshotSha256: str
    counts: dict[str, Any]
    recordsRoot: str
    membersRoot: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return CONSENTGATE_FACET_SCHEMA


@dataclass(frozen=True)
class LineageRun:
    """One run to describe: what it read and wrote, and the manifest it produced or used."""

    kind: str  # build | remediation | retrain | disclosure
    manifest: Mapping[str, Any]
    inputs: Sequence[tuple[str, str]]  # (namespace, name)
    output: tuple[str, str]
    schema: pa.Schema | None = None
    started_at: datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


def _consent_facet(run: LineageRun) -> ConsentgateRunFacet:
    m = run.manifest
    return ConsentgateRunFacet(
        kind=run.kind,
        datasetId=str(m["dataset_id"]),
        use=str(m["use"]),
        recipient=str(m["recipient"]),
        asOf=str(m["as_of"]),
        policyVersions=[str(v) for v in m["policy_versions"]],
        snapshotSha256=str(m["snapshot_sha256"]),
        counts=dict(m["counts"]),
        recordsRoot=str(m["records_root"]),
        membersRoot=m.get("members_root"),
        producer=PRODUCER,
    )


def _pii(manifest: Mapping[str, Any]) -> dict[str, str]:
    """The ``pii`` tag value of each personal column, as the manifest describes it."""
    owners = manifest.get("owner_columns") or {}
    treatment = str(owners.get("treatment", "kept"))
    treatment = "member_id" if treatment == "kept" else treatment
    tags = dict.fromkeys(owners.get("columns", OWNER_COLUMNS), treatment)
    if treatment == "dropped":
        tags = {}
    tags["text"] = "redacted" if "redaction" in manifest else "free_text"
    return tags


def _column_lineage(
    run: LineageRun, schema: pa.Schema
) -> column_lineage_dataset.ColumnLineageDatasetFacet:
    mapping = dict(run.manifest.get("columns") or {})
    pii = _pii(run.manifest)
    fields: dict[str, column_lineage_dataset.Fields] = {}
    for f in schema:
        if f.name == "shard" and run.manifest.get("shards"):
            source = mapping.get(str(run.manifest["shards"]["by"]) + "_id", "author_id")
            kind, subtype, masking = "INDIRECT", "GROUP_BY", False
        else:
            source = f.name
            treatment = pii.get(next((k for k, v in mapping.items() if v == f.name), f.name))
            masked = treatment in ("pseudonymized", "redacted")
            kind, subtype, masking = (
                ("DIRECT", "TRANSFORMATION", True) if masked else ("DIRECT", "IDENTITY", False)
            )
        fields[f.name] = column_lineage_dataset.Fields(
            inputFields=[
                column_lineage_dataset.InputField(
                    namespace=ns,
                    name=name,
                    field=source,
                    transformations=[
                        column_lineage_dataset.Transformation(
                            type=kind, subtype=subtype, masking=masking
                        )
                    ],
                )
                for ns, name in run.inputs
            ]
        )
    return column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields, producer=PRODUCER)


def _output(run: LineageRun) -> ol.OutputDataset:
    m = run.manifest
    facets: dict[str, Any] = {
        "version": dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=str(m["dataset_id"]), producer=PRODUCER
        ),
    }
    tags = [
        tags_dataset.TagsDatasetFacetFields(key="pii", value=value, source="CONSENTGATE", field=col)
        for col, value in sorted(_pii(m).items())
    ]
    tags.append(
        tags_dataset.TagsDatasetFacetFields(
            key="consent_scope", value=f"{m['use']}/{m['recipient']}", source="CONSENTGATE"
        )
    )
    tags += [
        tags_dataset.TagsDatasetFacetFields(key=k, value=v, source="CONSENTGATE")
        for k, v in sorted(run.tags.items())
    ]
    facets["tags"] = tags_dataset.TagsDatasetFacet(tags=tags, producer=PRODUCER)
    if run.schema is not None:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(name=f.name, type=str(f.type))
                for f in run.schema
            ],
            producer=PRODUCER,
        )
        facets["columnLineage"] = _column_lineage(run, run.schema)
    stats = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
        rowCount=int(m["counts"]["included"]), producer=PRODUCER
    )
    return ol.OutputDataset(
        namespace=run.output[0],
        name=run.output[1],
        facets=facets,
        outputFacets={"outputStatistics": stats},
    )


def run_events(
    run: LineageRun, *, run_id: UUID, now: datetime, job_namespace: str = "consentgate"
) -> list[ol.RunEvent]:
    """The START and COMPLETE events of one run."""
    job = ol.Job(
        namespace=job_namespace,
        name=JOB_NAMES[run.kind],
        facets={
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH",
                integration="CONSENTGATE",
                jobType=run.kind.upper(),
                producer=PRODUCER,
            )
        },
    )
    inputs = [ol.InputDataset(namespace=ns, name=name) for ns, name in run.inputs]
    start = ol.RunEvent(
        eventType=ol.RunState.START,
        eventTime=format_timestamp(run.started_at or now),
        run=ol.Run(runId=str(run_id)),
        job=job,
        inputs=inputs,
        producer=PRODUCER,
    )
    complete = ol.RunEvent(
        eventType=ol.RunState.COMPLETE,
        eventTime=format_timestamp(now),
        run=ol.Run(runId=str(run_id), facets={"consentgate": _consent_facet(run)}),
        job=job,
        inputs=inputs,
        outputs=[_output(run)],
        producer=PRODUCER,
    )
    return [start, complete]


def emit(config: Mapping[str, Any], events: Sequence[ol.RunEvent]) -> None:
    """Send events through the transport ``config["transport"]`` names (openlineage-python)."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport import get_default_factory

    transport = get_default_factory().create(dict(config["transport"]))
    client = OpenLineageClient(transport=transport)
    for event in events:
        client.emit(event)
    client.close()


def local_dataset(path: Path) -> tuple[str, str]:
    """The OpenLineage (namespace, name) of a local file or directory."""
    return "file", str(path.resolve())


def emit_dataset_run(
    config: Mapping[str, Any] | None,
    kind: str,
    directory: Path,
    *,
    inputs: Sequence[tuple[str, str]],
    output: tuple[str, str] | None = None,
    started_at: datetime | None = None,
    now: datetime,
    tags: Mapping[str, str] | None = None,
) -> bool:
    """Emit a run about the dataset at ``directory`` when ``config`` is set; True if sent."""
    if not config:
        return False
    manifest = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
    files = manifest.get("files") or []
    schema = pq.read_schema(directory / files[0]["path"]).remove_metadata() if files else None
    run = LineageRun(
        kind=kind,
        manifest=manifest,
        inputs=inputs,
        output=output or local_dataset(directory),
        schema=schema,
        started_at=started_at,
        tags=dict(tags or {}),
    )
    emit(config, run_events(run, run_id=generate_new_uuid(), now=now))
    return True
