"""Naming a registered dataset on the command line: its full id, a unique id prefix, or
its human name.

* A prefix must be at least 4 hexadecimal digits and match exactly one registered dataset;
  an ambiguous prefix is refused with the number of matches, an unknown one with NotFound.
* A name (``build --name``) is recorded in the manifest (``name``; not part of the dataset
  id) and carried to remediated versions; it names the dataset's current version (the one
  not superseded). A name is 1-64 characters of ``a-z 0-9 . _ -``, starts with a letter or
  digit and holds at least one character that is not a hexadecimal digit, so that it can
  never be read as an id prefix. No migration is needed: names are read from the
  registered datasets' manifests.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from consentgate.errors import InvalidInput, NotFound, UsageError
from consentgate.gate.manifest import MANIFEST_NAME
from consentgate.store import registry

__all__ = ["MIN_PREFIX", "check_name", "name_owner", "resolve_dataset"]

MIN_PREFIX = 4
_HEX = re.compile(r"[0-9a-f]+")
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def check_name(name: str) -> str:
    """``name`` if it is a valid dataset name, else ``UsageError`` naming the rule."""
    if not _NAME.fullmatch(name) or _HEX.fullmatch(name):
        raise UsageError(
            "--name: 1-64 characters of a-z 0-9 . _ -, starting with a letter or digit, "
            "with at least one character that is not a hexadecimal digit"
        )
    return name


def _named(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    found = []
    for row in rows:
        try:
            manifest = json.loads((Path(str(row["path"])) / MANIFEST_NAME).read_text("utf-8"))
        except (OSError, ValueError):
            continue  # a purged or moved dataset has no readable manifest: no name
        if manifest.get("name") == name:
            found.append(row)
    return found


def name_owner(engine: sa.Engine, name: str) -> str | None:
    """The id of the current registered dataset called ``name`` (None when none is)."""
    with engine.connect() as conn:
        rows = [r for r in registry.list_datasets(conn) if r["status"] != "superseded"]
    named = _named(rows, name)
    if len(named) > 1:  # pragma: no cover - build refuses a second owner
        raise InvalidInput(f"dataset name {name!r} is held by {len(named)} current datasets")
    return str(named[0]["dataset_id"]) if named else None


def resolve_dataset(engine: sa.Engine, ref: str) -> str:
    """The full id of the one registered dataset that ``ref`` names (id, prefix or name)."""
    text = ref.strip().lower()
    if not _HEX.fullmatch(text):
        if _NAME.fullmatch(text):
            owner = name_owner(engine, text)
            if owner is not None:
                return owner
            raise NotFound("dataset", text)
        raise UsageError(
            "a dataset is named by its id, a unique id prefix of at least "
            f"{MIN_PREFIX} hexadecimal digits, or its name"
        )
    if len(text) < MIN_PREFIX:
        raise UsageError(f"a dataset id prefix needs at least {MIN_PREFIX} hexadecimal digits")
    with engine.connect() as conn:
        ids = [str(r["dataset_id"]) for r in registry.list_datasets(conn)]
    matches = [i for i in ids if i.startswith(text)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound("dataset", text)
    raise UsageError(f"dataset prefix {text!r} matches {len(matches)} datasets; give more digits")
