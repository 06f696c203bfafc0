"""Registered datasets on disk, for the withdrawal use cases: the registry row, its checked
manifest and Parquet parts, and the files a use case writes before the commit that
records them (removed again when that commit fails).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from consentgate.errors import InvalidInput, NotFound
from consentgate.gate.manifest import MANIFEST_NAME, read_manifest
from consentgate.store import registry


def registered_dataset(conn: sa.Connection, dataset_id: str) -> dict[str, Any]:
    ds = registry.get_dataset(conn, dataset_id)
    if ds is None:
        raise NotFound("dataset", dataset_id)
    return ds


def manifest_of(ds: Mapping[str, Any]) -> dict[str, Any]:
    path = Path(str(ds["path"]))
    if not (path / MANIFEST_NAME).is_file():
        raise InvalidInput(f"dataset {ds['dataset_id']}: no manifest at {path} (moved or purged?)")
    manifest = read_manifest(path)
    if manifest["dataset_id"] != ds["dataset_id"]:
        raise InvalidInput(
            f"{path}: holds dataset {manifest['dataset_id']}, not {ds['dataset_id']}"
        )
    data = (path / MANIFEST_NAME).read_bytes()
    if hashlib.sha256(data).hexdigest() != ds["manifest_sha256"]:
        raise InvalidInput(f"{path}: manifest.json differs from the registered one")
    return manifest


def part_files(ds: Mapping[str, Any], shards: Iterable[int] | None = None) -> list[Path]:
    """The dataset's Parquet parts (only those of ``shards``, when given)."""
    manifest = manifest_of(ds)
    wanted = None if shards is None else {f"shard-{s:05d}-" for s in shards}
    return [
        Path(str(ds["path"])) / str(f["path"])
        for f in manifest["files"]
        if wanted is None or Path(str(f["path"])).name[:12] in wanted
    ]


def parts_of(datasets: Iterable[Mapping[str, Any]]) -> list[Path]:
    """Every Parquet part of ``datasets``, dataset by dataset."""
    return [f for ds in datasets for f in part_files(ds)]


@contextmanager
def removed_on_failure(path: Path | None) -> Iterator[None]:
    """Remove ``path`` (a directory tree or a file; nothing when ``None``) if the block
    raises: files written ahead of the transaction that would have recorded them."""
    try:
        yield
    except BaseException:
        if path is not None:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise
