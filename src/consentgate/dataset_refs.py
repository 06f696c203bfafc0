"""Naming a registered dataset on the command line: its full id or a unique id prefix.

A prefix must be at least 4 hexadecimal digits and match exactly one registered dataset;
an ambiguous prefix is refused with the number of matches, an unknown one with NotFound.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from consentgate.errors import NotFound, UsageError
from consentgate.store import registry

__all__ = ["MIN_PREFIX", "resolve_dataset"]

MIN_PREFIX = 4
_HEX = re.compile(r"[0-9a-f]+")


def resolve_dataset(engine: sa.Engine, ref: str) -> str:
    """The full id of the one registered dataset whose id is or starts with ``ref``."""
    text = ref.strip().lower()
    if not _HEX.fullmatch(text) or len(text) < MIN_PREFIX:
        raise UsageError(
            f"a dataset is named by its id or a unique prefix of at least {MIN_PREFIX} "
            "hexadecimal digits"
        )
    with engine.connect() as conn:
        ids = [str(r["dataset_id"]) for r in registry.list_datasets(conn)]
    matches = [i for i in ids if i.startswith(text)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound("dataset", text)
    raise UsageError(f"dataset prefix {text!r} matches {len(matches)} datasets; give more digits")
