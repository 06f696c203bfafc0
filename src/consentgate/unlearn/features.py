"""Turning rows of a gated dataset into a feature matrix, the same way every time.

Two featurizers, both stateless so that a shard retrained alone sees exactly the features
it would have seen in a full training run (a fitted vocabulary would couple the shards):

* ``ColumnFeatures`` — numeric columns as they are; a list column (e.g. the 64 pixels of
  a digits image) contributes one feature per element and must have a fixed length;
* ``TextFeatures`` — message text through scikit-learn's ``HashingVectorizer``: no
  fitting, no vocabulary file, no download; a sparse matrix of hashed token counts.

Both are values that serialise to the JSON manifest of a saved model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from consentgate.errors import InvalidInput, SchemaMismatch

__all__ = [
    "ColumnFeatures",
    "Features",
    "TextFeatures",
    "as_features",
    "features_from_json",
    "features_to_json",
    "featurize",
]


@dataclass(frozen=True, slots=True)
class ColumnFeatures:
    """Numeric columns (scalar, or fixed-length lists of numbers), concatenated in order."""

    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TextFeatures:
    """Hashed token counts of one text column (``HashingVectorizer``, L2-normalised)."""

    column: str = "text"
    n_features: int = 2**16
    ngram_max: int = 1


Features = ColumnFeatures | TextFeatures


def as_features(value: Features | Sequence[str] | str) -> Features:
    """Accept a featurizer, or column names as a shorthand for ``ColumnFeatures``."""
    if isinstance(value, ColumnFeatures | TextFeatures):
        return value
    columns = (value,) if isinstance(value, str) else tuple(value)
    if not columns:
        raise InvalidInput("no feature columns given", ["features: empty"])
    return ColumnFeatures(columns)


def feature_columns(features: Features) -> list[str]:
    """The input columns a featurizer reads."""
    if isinstance(features, TextFeatures):
        return [features.column]
    return list(features.columns)


def featurize(features: Features, table: pa.Table) -> Any:
    """The feature matrix of ``table``: a dense float64 array or a scipy CSR matrix."""
    missing = [c for c in feature_columns(features) if c not in table.column_names]
    if missing:
        raise SchemaMismatch("feature columns are missing", [f"{c}: missing" for c in missing])
    if isinstance(features, TextFeatures):
        return _hashed_text(features, table.column(features.column))
    parts = [_numeric_block(name, table.column(name)) for name in features.columns]
    if len(parts) == 1:
        return parts[0]
    return np.hstack(parts)


def _hashed_text(features: TextFeatures, column: pa.ChunkedArray) -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer

    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        raise SchemaMismatch("text column must hold strings", [f"{features.column}: {column.type}"])
    texts = pc.fill_null(column, "").to_pylist()
    vectorizer = HashingVectorizer(
        n_features=features.n_features,
        ngram_range=(1, features.ngram_max),
        alternate_sign=False,
        norm="l2",
        dtype=np.float64,
    )
    return vectorizer.transform(texts)


def _numeric_block(name: str, column: pa.ChunkedArray) -> npt.NDArray[np.float64]:
    kind = column.type
    if column.null_count:
        raise InvalidInput(
            "feature columns may not hold nulls", [f"{name}: {column.null_count} null"]
        )
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return np.asarray(column.to_numpy(), dtype=np.float64).reshape(-1, 1)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        lists = column.combine_chunks()
        lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
        width = int(lengths[0]) if len(lengths) else 0
        if len(lengths) and (lengths != width).any():
            raise SchemaMismatch("list feature columns need one length", [f"{name}: ragged"])
        values = pc.list_flatten(lists)
        if values.null_count:
            raise InvalidInput("feature lists may not hold nulls", [f"{name}: null element"])
        flat = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
        return flat.reshape(len(lengths), width)
    raise SchemaMismatch("feature columns must be numeric", [f"{name}: {kind}"])


def features_to_json(features: Features) -> dict[str, Any]:
    """A JSON-ready description, the inverse of ``features_from_json``."""
    if isinstance(features, TextFeatures):
        return {
            "kind": "text",
            "column": features.column,
            "n_features": features.n_features,
            "ngram_max": features.ngram_max,
        }
    return {"kind": "columns", "columns": list(features.columns)}


def features_from_json(data: Mapping[str, Any]) -> Features:
    """Rebuild a featurizer from its manifest description."""
    kind = data.get("kind")
    if kind == "text":
        return TextFeatures(
            column=str(data["column"]),
            n_features=int(data["n_features"]),
            ngram_max=int(data["ngram_max"]),
        )
    if kind == "columns":
        return ColumnFeatures(tuple(str(c) for c in data["columns"]))
    raise InvalidInput("unknown featurizer in model manifest", [f"features.kind: {kind!r}"])
