"""Result dataclasses built from store rows: the one place a row (a mapping from the store)
becomes the frozen value a use case returns."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def from_row(cls: type[T], row: Mapping[str, Any], **extra: Any) -> T:
    """An instance of the dataclass ``cls`` with each field taken from ``extra``, else from
    ``row`` (a missing one is a ``KeyError``: a row and its result must agree); lists become
    tuples, so that the result is immutable one level down."""
    values = {**row, **extra}
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    return cls(**{f.name: _frozen(values[f.name]) for f in fields})


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
