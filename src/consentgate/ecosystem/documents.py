"""Write a dataset's public documents (Croissant, dataset card) beside its manifest.

``documenting(publish)`` wraps a publisher (``consentgate.workspace.publication``) so that the
documents are written into the staged directory before it is published: they appear at
the dataset's path together with its parts and manifest, never later.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from consentgate.ecosystem.card import CARD_NAME, dataset_card
from consentgate.ecosystem.croissant import CROISSANT_NAME, croissant
from consentgate.files import fsync_directory, fsync_file
from consentgate.gate.manifest import MANIFEST_NAME

__all__ = ["documenting", "write_documents"]

Publisher = Callable[[Path, Path], bool]


def _manifest_and_schema(directory: Path) -> tuple[dict[str, Any], Any]:
    manifest = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
    schema = pq.read_schema(directory / manifest["files"][0]["path"]).remove_metadata()
    return manifest, schema


def write_documents(directory: Path, *, name: str | None = None) -> list[Path]:
    """Write ``croissant.json`` and ``README.md`` into a dataset directory; their paths."""
    manifest, schema = _manifest_and_schema(directory)
    name = name or manifest.get("name")
    doc = croissant(manifest, schema, name=name)
    paths = [directory / CROISSANT_NAME, directory / CARD_NAME]
    paths[0].write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths[1].write_text(dataset_card(manifest, schema, name=name), encoding="utf-8")
    return paths


def documenting(publish: Publisher) -> Publisher:
    """A publisher that first writes the documents into the staged directory."""

    def publish_documented(staged: Path, final: Path) -> bool:
        for path in write_documents(staged):
            fsync_file(path)  # on disk before the dataset is registered, like the parts
        fsync_directory(staged)
        return publish(staged, final)

    return publish_documented
