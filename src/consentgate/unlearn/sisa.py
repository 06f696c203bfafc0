"""SISA training: one model per shard, majority vote, and retraining only what changed.

SISA (Bourtoule et al., "Machine Unlearning", IEEE S&P 2021) makes forgetting exact and
cheap: each shard of a dataset trains its own model and the ensemble votes, so deleting a
member's rows means retraining only the shards that held them. The result is the model
that would have been trained had the member never been in the data — no approximation.

That promise needs determinism, which this module enforces:

* rows of a shard are sorted by record id before training, so the order in which parts
  were written or filtered never matters;
* each shard gets its own seed, derived from the model seed and the shard index only
  (``random_state`` is set on the estimator when it has one);
* a shard's *fingerprint* is SHA-256 over its sorted record ids (each id as a 4-byte
  big-endian length then its UTF-8), so ``retrain`` can tell which shards changed.

Fingerprints cover record ids, not content: records are immutable in consentgate and a
remediation only removes rows. A record rewritten in place under the same id would not
be noticed.

Hand-written because scikit-learn has no sharded ensemble: ``VotingClassifier`` fits all
its members together and cannot retrain one of them. Estimators are plain scikit-learn
classifiers (imported lazily; ``pip install consentgate[unlearn]``).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from consentgate.errors import InvalidInput, SchemaMismatch
from consentgate.gate.manifest import MANIFEST_NAME, part_paths
from consentgate.gate.parts import DATA_DIR
from consentgate.unlearn.features import (
    Features,
    as_features,
    feature_columns,
    featurize,
)

__all__ = [
    "Label",
    "RetrainResult",
    "Shard",
    "ShardChange",
    "ShardedModel",
    "read_rows",
    "retrain",
    "shard_fingerprint",
    "train_shards",
]

Label = int | str
Source: TypeAlias = pa.Table | str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def shard_fingerprint(record_ids: Iterable[str]) -> str:
    """SHA-256 (hex) over the sorted record ids, each as 4-byte length + UTF-8."""
    digest = hashlib.sha256()
    for record_id in sorted(record_ids):
        data = record_id.encode("utf-8")
        digest.update(len(data).to_bytes(4, "big"))
        digest.update(data)
    return digest.hexdigest()


def _shard_seed(seed: int, index: int) -> int:
    """A 32-bit seed that depends on the model seed and the shard index only."""
    digest = hashlib.sha256(f"consentgate.sisa:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True, slots=True)
class Shard:
    """One trained shard. An empty shard abstains; a one-class shard votes its class."""

    index: int
    fingerprint: str
    rows: int
    seed: int
    estimator: Any = None
    constant: Label | None = None

    def predict(self, X: Any) -> npt.NDArray[Any] | None:
        """This shard's labels for ``X``, or None when it abstains (no training rows)."""
        if self.estimator is not None:
            return np.asarray(self.estimator.predict(X))
        if self.constant is not None:
            return np.full(X.shape[0], self.constant, dtype=object)
        return None


@dataclass(frozen=True, slots=True)
class ShardedModel:
    """A SISA ensemble: ``shards[i]`` was trained on exactly the rows with shard == i."""

    shards: tuple[Shard, ...]
    features: Features
    label: str
    classes: tuple[Label, ...]
    prototype: Any = field(repr=False)
    seed: int
    shard_column: str = "shard"
    id_column: str = "id"

    @property
    def shard_count(self) -> int:
        return len(self.shards)

    @property
    def fingerprints(self) -> tuple[str, ...]:
        return tuple(s.fingerprint for s in self.shards)

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards)

    def featurize(self, table: pa.Table) -> Any:
        """The feature matrix of a table with this model's feature columns."""
        return featurize(self.features, table)

    def votes(self, X: Any) -> npt.NDArray[np.int64]:
        """Votes per row and class (columns in ``classes`` order); X is a table or a matrix."""
        if not self.classes:
            raise InvalidInput("the model has no training rows", ["rows: 0"])
        matrix = self.featurize(X) if isinstance(X, pa.Table) else X
        n = matrix.shape[0]
        index = {c: i for i, c in enumerate(self.classes)}
        counts = np.zeros((n, len(self.classes)), dtype=np.int64)
        for shard in self.shards:
            predicted = shard.predict(matrix)
            if predicted is None:
                continue
            uniques, inverse = np.unique(predicted, return_inverse=True)
            columns = np.array([index[_plain(u)] for u in uniques], dtype=np.int64)
            np.add.at(counts, (np.arange(n), columns[inverse.reshape(-1)]), 1)
        return counts

    def predict(self, X: Any) -> npt.NDArray[Any]:
        """Majority vote of the shards; a tie goes to the smallest tied label."""
        winners = np.argmax(self.votes(X), axis=1)
        labels: npt.NDArray[Any] = _label_array(self.classes)[winners]
        return labels

    def score(self, X: Any, y: Any = None) -> float:
        """Accuracy; with a table and no ``y`` the labels come from its label column."""
        if y is None:
            if not isinstance(X, pa.Table):
                raise InvalidInput("score needs labels", ["y: missing"])
            y = _labels(X, self.label)
        truth = np.asarray(y)
        if len(truth) == 0:
            raise InvalidInput("cannot score on no rows", ["y: empty"])
        return float(np.mean(self.predict(X) == truth))

    def estimator_params(self) -> dict[str, Any]:
        """The estimator's class and parameters, JSON-ready (non-scalar values as repr)."""
        kind = type(self.prototype)
        params = self.prototype.get_params(deep=False)
        simple = (str, int, float, bool, type(None))
        return {
            "class": f"{kind.__module__}.{kind.__qualname__}",
            "params": {k: v if isinstance(v, simple) else repr(v) for k, v in params.items()},
        }


@dataclass(frozen=True, slots=True)
class ShardChange:
    """A shard whose record ids changed, before and after."""

    index: int
    fingerprint_before: str
    fingerprint_after: str
    rows_before: int
    rows_after: int


@dataclass(frozen=True, slots=True)
class RetrainResult:
    """The new model and the evidence of what retraining it took."""

    model: ShardedModel
    changes: tuple[ShardChange, ...]
    rows_trained: int
    rows_total: int
    seconds: float
    accuracy_before: float | None = None
    accuracy_after: float | None = None

    @property
    def retrained(self) -> tuple[int, ...]:
        return tuple(c.index for c in self.changes)

    @property
    def unchanged(self) -> tuple[int, ...]:
        changed = set(self.retrained)
        return tuple(s.index for s in self.model.shards if s.index not in changed)

    def evidence(self) -> dict[str, Any]:
        """A JSON-ready record of the retraining, for a model registry."""
        return {
            "shards_retrained": list(self.retrained),
            "shard_count": self.model.shard_count,
            "rows_trained": self.rows_trained,
            "rows_total": self.rows_total,
            "seconds": round(self.seconds, 6),
            "accuracy_before": self.accuracy_before,
            "accuracy_after": self.accuracy_after,
            "fingerprints": list(self.model.fingerprints),
            "changes": [
                {
                    "shard": c.index,
                    "fingerprint_before": c.fingerprint_before,
                    "fingerprint_after": c.fingerprint_after,
                    "rows_before": c.rows_before,
                    "rows_after": c.rows_after,
                }
                for c in self.changes
            ],
        }


@dataclass(frozen=True, slots=True)
class _Part:
    """The rows of one shard: indices into the table, sorted by record id."""

    rows: npt.NDArray[np.int64]
    fingerprint: str


def read_rows(source: Source, columns: Sequence[str]) -> pa.Table:
    """``columns`` of a table, a Parquet file, a directory of parts, or a list of files."""
    if isinstance(source, pa.Table):
        missing = [c for c in columns if c not in source.column_names]
        if missing:
            raise SchemaMismatch("columns are missing", [f"{c}: missing" for c in missing])
        return source.select(list(columns))
    import pyarrow.dataset as ds

    if isinstance(source, str | os.PathLike):
        files = [str(p) for p in _parquet_files(Path(source))]
    else:
        files = [str(p) for p in source]
    if not files:
        raise InvalidInput("no Parquet parts to train on", [f"{source}: no *.parquet"])
    try:
        return ds.dataset(files, format="parquet").to_table(columns=list(columns))
    except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError) as exc:
        raise SchemaMismatch(f"cannot read training columns: {exc}", files[:3]) from exc


def _parquet_files(path: Path) -> list[Path]:
    """The data files of a path: a dataset directory's parts (its ``data/``, never the
    shard map beside it; a dataset of the older flat layout: the parts its manifest
    lists), the ``*.parquet`` files of any other directory, or the file itself."""
    if not path.is_dir():
        return [path]
    data = path / DATA_DIR
    if data.is_dir():
        return sorted(data.rglob("*.parquet"))
    if (path / MANIFEST_NAME).is_file():
        return part_paths(path)
    return sorted(path.rglob("*.parquet"))


def _plain(value: Any) -> Label:
    """A numpy scalar label as a plain Python value (dict keys, JSON)."""
    result: Label = value.item() if isinstance(value, np.generic) else value
    return result


def _label_array(values: Sequence[Label]) -> npt.NDArray[Any]:
    if values and isinstance(values[0], str):
        return np.array(list(values), dtype=object)
    return np.array(list(values), dtype=np.int64)


def _labels(table: pa.Table, label: str) -> npt.NDArray[Any]:
    column = table.column(label)
    if column.null_count:
        raise InvalidInput("labels may not be null", [f"{label}: {column.null_count} null"])
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return np.asarray(column.to_numpy(), dtype=np.int64)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return np.array(column.to_pylist(), dtype=object)
    raise SchemaMismatch("labels must be integers or strings", [f"{label}: {kind}"])


def _split(
    table: pa.Table, *, shard_column: str, id_column: str, shard_count: int | None
) -> list[_Part]:
    """Rows per shard, sorted by record id, with each shard's fingerprint."""
    shards, ids = table.column(shard_column), table.column(id_column)
    if not pa.types.is_integer(shards.type):
        raise SchemaMismatch(
            "the shard column must hold integers", [f"{shard_column}: {shards.type}"]
        )
    if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
        raise SchemaMismatch("record ids must be strings", [f"{id_column}: {ids.type}"])
    if shards.null_count or ids.null_count:
        raise InvalidInput("shard and record id may not be null", [f"{shard_column}/{id_column}"])
    if pc.count_distinct(ids).as_py() != table.num_rows:
        raise InvalidInput("record ids must be unique", [f"{id_column}: duplicates"])
    keys = table.select([shard_column, id_column])
    order = pc.sort_indices(keys, sort_keys=[(shard_column, "ascending"), (id_column, "ascending")])
    shard_of_row = np.asarray(shards.to_numpy(), dtype=np.int64)[order.to_numpy()]
    seen = int(shard_of_row[-1]) + 1 if len(shard_of_row) else 0
    count = seen if shard_count is None else shard_count
    if len(shard_of_row) and (shard_of_row[0] < 0 or seen > count):
        found = f"{int(shard_of_row[0])}..{seen - 1}"
        raise InvalidInput("shard outside 0..S-1", [f"{shard_column}: {found}, S={count}"])
    sorted_ids = ids.take(order).to_pylist()
    bounds = np.searchsorted(shard_of_row, np.arange(count + 1))
    rows = order.to_numpy().astype(np.int64)
    return [
        _Part(rows[a:b], shard_fingerprint(sorted_ids[a:b])) for a, b in itertools.pairwise(bounds)
    ]


def _fit_shard(model: ShardedModel, table: pa.Table, index: int, part: _Part) -> Shard:
    """Train shard ``index`` on its rows (already sorted by record id)."""
    from sklearn.base import clone

    seed = _shard_seed(model.seed, index)
    rows = table.take(pa.array(part.rows))
    if rows.num_rows == 0:
        return Shard(index, part.fingerprint, 0, seed)
    y = _labels(rows, model.label)
    distinct = np.unique(y)
    if len(distinct) == 1:
        return Shard(index, part.fingerprint, rows.num_rows, seed, constant=_plain(distinct[0]))
    estimator = clone(model.prototype)
    if "random_state" in estimator.get_params(deep=False):
        estimator.set_params(random_state=seed)
    estimator.fit(featurize(model.features, rows), y)
    return Shard(index, part.fingerprint, rows.num_rows, seed, estimator=estimator)


def _classes(table: pa.Table, label: str) -> tuple[Label, ...]:
    return tuple(_plain(v) for v in np.unique(_labels(table, label)))


def train_shards(
    table_or_parts: Source,
    *,
    features: Features | Sequence[str] | str,
    label: str,
    estimator_factory: Callable[[], Any],
    seed: int,
    shard_column: str = "shard",
    id_column: str = "id",
    shards: int | None = None,
) -> ShardedModel:
    """Train one estimator per shard (``shards`` = S; default: the largest shard + 1).

    ``estimator_factory`` returns an unfitted scikit-learn classifier; it is called once
    and the result is cloned per shard, with ``random_state`` set to the shard's seed.
    """
    spec = as_features(features)
    columns = [id_column, shard_column, label, *feature_columns(spec)]
    table = read_rows(table_or_parts, list(dict.fromkeys(columns)))
    parts = _split(table, shard_column=shard_column, id_column=id_column, shard_count=shards)
    model = ShardedModel(
        shards=(),
        features=spec,
        label=label,
        classes=_classes(table, label),
        prototype=estimator_factory(),
        seed=seed,
        shard_column=shard_column,
        id_column=id_column,
    )
    trained = tuple(_fit_shard(model, table, i, part) for i, part in enumerate(parts))
    return _replace_shards(model, trained, model.classes)


def _replace_shards(
    model: ShardedModel, shards: tuple[Shard, ...], classes: tuple[Label, ...]
) -> ShardedModel:
    return ShardedModel(
        shards=shards,
        features=model.features,
        label=model.label,
        classes=classes,
        prototype=model.prototype,
        seed=model.seed,
        shard_column=model.shard_column,
        id_column=model.id_column,
    )


def retrain(
    model: ShardedModel,
    new_table: Source,
    *,
    holdout: pa.Table | tuple[Any, Any] | None = None,
) -> RetrainResult:
    """Retrain only the shards whose fingerprint changed; the others are kept as they are.

    ``new_table`` is the dataset's new version (same shards, same columns). ``holdout``
    (a table with the label column, or ``(X, y)``) gives accuracy before and after;
    ``seconds`` covers reading, fingerprinting and training, not the scoring.
    """
    columns = [model.id_column, model.shard_column, model.label, *feature_columns(model.features)]
    start = time.perf_counter()
    table = read_rows(new_table, list(dict.fromkeys(columns)))
    parts = _split(
        table,
        shard_column=model.shard_column,
        id_column=model.id_column,
        shard_count=model.shard_count,
    )
    shards: list[Shard] = []
    changes: list[ShardChange] = []
    for old, part in zip(model.shards, parts, strict=True):
        if old.fingerprint == part.fingerprint:
            shards.append(old)
            continue
        shards.append(_fit_shard(model, table, old.index, part))
        changes.append(
            ShardChange(old.index, old.fingerprint, part.fingerprint, old.rows, len(part.rows))
        )
    new_model = _replace_shards(model, tuple(shards), _classes(table, model.label))
    seconds = time.perf_counter() - start
    before = after = None
    if holdout is not None:
        X, y = (holdout, None) if isinstance(holdout, pa.Table) else holdout
        before, after = model.score(X, y), new_model.score(X, y)
    return RetrainResult(
        model=new_model,
        changes=tuple(changes),
        rows_trained=sum(c.rows_after for c in changes),
        rows_total=table.num_rows,
        seconds=seconds,
        accuracy_before=before,
        accuracy_after=after,
    )
