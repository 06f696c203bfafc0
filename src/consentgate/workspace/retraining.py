"""Retraining a model whose datasets were remediated: the shards whose data changed
(SISA), a full retrain (``retrain`` tier) or retirement (``retire`` tier), registered as
the model's next version with evidence, closing its orders.

scikit-learn stays an optional extra: ``clone`` is imported inside ``_retrain``, only
when a full retrain runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from consentgate.errors import Conflict, InvalidInput, NotFound, UsageError
from consentgate.files import sha256_file
from consentgate.store import remediation as store
from consentgate.timestamps import Clock, utcnow
from consentgate.unlearn import load_model, read_rows, save_model, train_shards
from consentgate.unlearn import retrain as sisa_retrain
from consentgate.unlearn.features import feature_columns
from consentgate.workspace.dataset_files import parts_of, registered_dataset, removed_on_failure
from consentgate.workspace.models import model_id_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Retrained:
    """What ``retrain`` did to one model."""

    model_id: str
    action: str  # retrained | retired | unchanged
    new_model_id: str | None
    artifact: Path | None
    orders_closed: tuple[str, ...]
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "action": self.action,
            "new_model_id": self.new_model_id,
            "artifact": None if self.artifact is None else str(self.artifact),
            "orders_closed": list(self.orders_closed),
            "evidence": self.evidence,
        }


def _current_version(conn: sa.Connection, dataset_id: str) -> str:
    current = dataset_id
    while (newer := store.successor(conn, current)) is not None:
        current = newer
    return current


def _holdout(
    holdout: Path | None, files: Sequence[Path], columns: Sequence[str], rows: int
) -> tuple[pa.Table, str]:
    if holdout is not None:
        return read_rows(str(holdout), list(columns)), f"holdout {holdout.name}"
    table = read_rows([str(f) for f in files], list(columns))
    order = pc.sort_indices(table.column(columns[0]))
    step = max(1, table.num_rows // rows)
    picked = order.to_numpy()[::step][:rows]
    return table.take(pa.array(picked)), f"a sample of {len(picked)} rows of the remediated data"


def retrain(
    engine: sa.Engine,
    model_id: str,
    *,
    holdout: Path | None = None,
    out: Path | None = None,
    sample_rows: int = 2000,
    now: Clock = utcnow,
) -> Retrained:
    """Close a model's open orders (``retrain``): retrain the shards whose data changed
    (SISA), retrain fully (``retrain`` tier), or retire it (``retire`` tier). The new
    version is registered with evidence: shards retrained, wall time, accuracy before and
    after (on ``holdout``, else on a sample of the remediated data).
    """
    at = now()
    with engine.connect() as conn:
        model = store.get_model(conn, model_id)
        if model is None:
            raise NotFound("model", model_id)
        if model["status"] != "active":
            raise Conflict(f"model {model_id} is {model['status']}")
        orders = store.list_orders(conn, kind="model", target=model_id, pending=True)
        dataset_ids = store.model_dataset_ids(conn, [model_id])[model_id]
        current = [_current_version(conn, d) for d in dataset_ids]
        blocking = [
            d for d in current if store.list_orders(conn, kind="dataset", target=d, pending=True)
        ]
        datasets = [registered_dataset(conn, d) for d in current]
    order_ids = tuple(str(o["order_id"]) for o in orders)
    if not orders:
        return Retrained(model_id, "unchanged", None, None, ())
    if blocking:
        raise Conflict(
            f"dataset(s) {', '.join(blocking)} still have open remediation orders; "
            "run `consentgate remediate DATASET` first"
        )
    if model["unlearning"] == "retire":
        with engine.begin() as conn:
            store.set_model_status(conn, model_id, "retired", at=at)
            store.close_orders(conn, list(order_ids), at=at, evidence={"retired": True})
        return Retrained(model_id, "retired", None, None, order_ids, {"retired": True})
    if model["artifact"] is None:
        raise UsageError(
            f"model {model_id} has no artifact consentgate can retrain; retrain it on the "
            f"datasets' current versions ({', '.join(current)}) and register it as the next "
            f"version of {model['name']!r} (`consentgate models register {model['name']} ...`)"
        )
    artifact = Path(str(model["artifact"]))
    if sha256_file(artifact / "manifest.json") != model["artifact_sha256"]:
        raise InvalidInput(f"{artifact}: the model files differ from the registered ones")
    started = time.perf_counter()
    old = load_model(artifact)
    files = parts_of(datasets)
    columns = [old.id_column, old.label, *feature_columns(old.features)]
    test, tested_on = _holdout(holdout, files, columns, sample_rows)
    result = _retrain(old, files, test, full=model["unlearning"] == "retrain")
    evidence = {**result, "accuracy_on": tested_on}
    if not evidence["shards_retrained"]:
        with engine.begin() as conn:
            store.close_orders(
                conn, list(order_ids), at=at, evidence={**evidence, "model_version": model_id}
            )
        return Retrained(model_id, "unchanged", None, None, order_ids, evidence)
    version = int(model["version"]) + 1
    new_id = model_id_for(model["name"], version)
    target = out or artifact.with_name(f"{model['name']}-v{version}")
    digest = save_model(evidence.pop("_model"), target)
    evidence["wall_seconds"] = round(time.perf_counter() - started, 6)
    values = {
        **{k: model[k] for k in ("name", "unlearning", "trained_shards", "deployed_to")},
        "model_id": new_id,
        "version": version,
        "artifact": str(target.resolve()),
        "artifact_sha256": digest,
        "status": "active",
        "supersedes": model_id,
        "evidence": evidence,
        "created_at": at,
    }
    with removed_on_failure(target), engine.begin() as conn:
        store.insert_model(conn, values, current, at=at)
        store.set_model_status(conn, model_id, "superseded", at=at)
        store.close_orders(
            conn,
            list(order_ids),
            at=at,
            evidence={
                "model_version": new_id,
                "shards_retrained": evidence["shards_retrained"],
            },
        )
    logger.info(
        "model retrained: %d of %d shards", len(evidence["shards_retrained"]), old.shard_count
    )
    return Retrained(model_id, "retrained", new_id, target, order_ids, evidence)


def _retrain(old: Any, files: Sequence[Path], test: pa.Table, *, full: bool) -> dict[str, Any]:
    """SISA retrain (changed shards only) or a full retrain; the evidence, with the new
    model under ``_model``."""
    from sklearn.base import clone  # optional extra: only a full retrain needs it

    sources = [str(f) for f in files]
    if not full:
        result = sisa_retrain(old, sources, holdout=test)
        return {**result.evidence(), "mode": "sisa", "_model": result.model}
    started = time.perf_counter()
    new = train_shards(
        sources,
        features=old.features,
        label=old.label,
        estimator_factory=lambda: clone(old.prototype),
        seed=old.seed,
        shard_column=old.shard_column,
        id_column=old.id_column,
        shards=old.shard_count,
    )
    seconds = time.perf_counter() - started
    changed = [
        i for i, (a, b) in enumerate(zip(old.fingerprints, new.fingerprints, strict=True)) if a != b
    ]
    return {
        "mode": "full",
        "shards_retrained": list(range(new.shard_count)) if changed else [],
        "shard_count": new.shard_count,
        "rows_trained": new.rows if changed else 0,
        "rows_total": new.rows,
        "seconds": round(seconds, 6),
        "accuracy_before": old.score(test),
        "accuracy_after": new.score(test),
        "fingerprints": list(new.fingerprints),
        "_model": new,
    }
