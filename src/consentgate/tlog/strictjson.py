"""Strict JSON for files people verify offline (receipts, proofs): no repeated fields,
no NaN/Infinity, and integers that are not booleans. A lenient parser would let two
readers see two different documents in the same bytes.
"""

from __future__ import annotations

import json
from typing import Any


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        raise ValueError("a field is repeated")
    return doc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid value")


def loads(text: str | bytes) -> Any:
    """``json.loads`` that refuses repeated fields and NaN/Infinity (``ValueError``)."""
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


def is_int(value: object) -> bool:
    """An integer, and not a boolean (``True`` is an ``int`` in Python)."""
    return isinstance(value, int) and not isinstance(value, bool)
