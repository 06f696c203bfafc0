"""Gather what the training-content summary needs from the ledger and the datasets.

The model and its datasets come from the registry; each dataset's manifest is read from
its directory and checked against the registered ``manifest_sha256``; text bytes and
categories are measured from the parts (Arrow compute, reading two columns).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.dataset as pads
import sqlalchemy as sa

from consentgate.ecosystem.summary import DatasetFacts, training_summary
from consentgate.errors import InvalidInput, NotFound
from consentgate.gate.manifest import MANIFEST_NAME
from consentgate.store import registry
from consentgate.store import remediation as store
from consentgate.timestamps import format_timestamp, utcnow

__all__ = ["summary_for_model"]


def _facts(row: dict[str, Any]) -> DatasetFacts:
    import json

    directory = Path(str(row["path"]))
    raw = (directory / MANIFEST_NAME).read_bytes()
    if hashlib.sha256(raw).hexdigest() != row["manifest_sha256"]:
        raise InvalidInput(
            f"{directory / MANIFEST_NAME}: does not match the registered manifest_sha256"
        )
    manifest = json.loads(raw)
    text = str(manifest.get("columns", {}).get("text", "text"))
    category = str(manifest.get("columns", {}).get("category", "category"))
    data = pads.dataset(directory / "data", format="parquet")
    names = set(data.schema.names)
    text_bytes = 0
    found: set[str] = set()
    for batch in data.to_batches(columns=[c for c in (text, category) if c in names]):
        if text in batch.schema.names:
            text_bytes += int(pc.sum(pc.binary_length(batch.column(text))).as_py() or 0)
        if category in batch.schema.names:
            found.update(v for v in pc.unique(batch.column(category)).to_pylist() if v)
    return DatasetFacts(
        manifest=manifest,
        manifest_sha256=str(row["manifest_sha256"]),
        text_bytes=text_bytes,
        categories=sorted(found),
    )


def summary_for_model(engine: sa.Engine, model: str) -> dict[str, Any]:
    """The summary for ``model`` (a model id ``name@vN``, or a name: its latest version)."""
    with engine.connect() as conn:
        row = store.get_model(conn, model) or store.latest_model(conn, model)
        if row is None:
            raise NotFound("model", model)
        ids = store.model_dataset_ids(conn, [row["model_id"]])[row["model_id"]]
        rows = [registry.get_dataset(conn, i) for i in ids]
    facts = [_facts(r) for r in rows if r is not None]
    return training_summary(row, facts, generated_at=format_timestamp(utcnow()))
