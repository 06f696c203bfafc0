"""Models trained on consentgate datasets: register a version (checking a SISA artifact
against the datasets' parts), train and register a SISA model, list them.

A registered model follows its datasets' remediation orders: members with dataset orders
get model orders right away, and a new version supersedes the previous one only when it
holds none of that one's pending members.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from consentgate.errors import Conflict, InvalidInput
from consentgate.files import sha256_file
from consentgate.remediation.deadlines import DeadlineRules
from consentgate.remediation.orders import ModelFacts
from consentgate.store import remediation as store
from consentgate.timestamps import Clock, utcnow
from consentgate.unlearn import load_model, read_rows, save_model, shard_fingerprint, train_shards
from consentgate.workspace.dataset_files import parts_of, registered_dataset
from consentgate.workspace.remediation import follow_dataset_orders, members_of
from consentgate.workspace.results import from_row

logger = logging.getLogger(__name__)

UNLEARNING = ("sisa", "retrain", "retire")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def model_id_for(name: str, version: int) -> str:
    return f"{name}@v{version}"


def _check_trained_shards(
    datasets: Sequence[Mapping[str, Any]], trained_shards: Sequence[int] | None, unlearning: str
) -> list[str]:
    problems = []
    counts = {int(d["shards"]) for d in datasets if d["shards"] is not None}
    unsharded = [d["dataset_id"] for d in datasets if d["shards"] is None]
    if unlearning == "sisa":
        if unsharded:
            problems.append(
                f"`unlearning` sisa needs sharded datasets; not sharded: {', '.join(unsharded)}"
            )
        if len(counts) > 1:
            problems.append(f"`unlearning` sisa needs one shard count, got {sorted(counts)}")
    if trained_shards is not None:
        if unsharded:
            problems.append("`trained_shards` needs sharded datasets")
        top = min(counts) if counts else 0
        bad = [s for s in trained_shards if not 0 <= s < top]
        if bad:
            problems.append(f"`trained_shards`: {bad} outside 0..{top - 1}")
    return problems


def _check_artifact(artifact: Path, datasets: Sequence[Mapping[str, Any]]) -> str:
    """Check a SISA model directory was trained on exactly these datasets' parts; returns
    the SHA-256 of its manifest."""
    model = load_model(artifact)
    files = parts_of(datasets)
    rows = read_rows([str(f) for f in files], [model.id_column, model.shard_column])
    shard = np.asarray(rows.column(model.shard_column).to_numpy(), np.int64)
    order = np.argsort(shard, kind="stable")
    ids = rows.column(model.id_column).take(pa.array(order)).to_pylist()
    bounds = np.searchsorted(shard[order], np.arange(len(model.fingerprints) + 1))
    mismatch = [
        s
        for s, trained in enumerate(model.fingerprints)
        if shard_fingerprint(ids[bounds[s] : bounds[s + 1]]) != trained
    ]
    if mismatch or len(model.fingerprints) <= (int(shard.max()) if len(shard) else -1):
        raise InvalidInput(
            f"{artifact}: the model was not trained on these datasets",
            [f"shards {mismatch or 'count'} differ from the datasets' records"],
        )
    return sha256_file(artifact / "manifest.json")


def register_model(
    engine: sa.Engine,
    name: str,
    dataset_ids: Sequence[str],
    *,
    trained_shards: Sequence[int] | None = None,
    unlearning: str = "sisa",
    deployed_to: Sequence[str] = (),
    artifact: Path | None = None,
    evidence: Mapping[str, Any] | None = None,
    rules: DeadlineRules | None = None,
    now: Clock = utcnow,
) -> Model:
    """Record a model version trained on ``dataset_ids`` (``models register``).

    A second registration of ``name`` is its next version and supersedes the previous
    active one; that one's open orders close if the new version holds none of their
    members, else the registration is refused. Members with dataset orders on these
    datasets get model orders right away: the model holds their data too.
    """
    problems = []
    if not _NAME.fullmatch(name):
        problems.append(f"`name`: {name!r} (letters, digits, '.', '_', '-'; at most 200)")
    if unlearning not in UNLEARNING:
        problems.append(f"`unlearning`: {unlearning!r} (want {'|'.join(UNLEARNING)})")
    if not dataset_ids:
        problems.append("`dataset_ids`: at least one dataset is needed")
    if problems:
        raise InvalidInput("cannot register the model", problems)
    at = now()
    with engine.begin() as conn:
        datasets = [registered_dataset(conn, d) for d in dict.fromkeys(dataset_ids)]
        problems = _check_trained_shards(datasets, trained_shards, unlearning)
        if problems:
            raise InvalidInput("cannot register the model", problems)
        digest = _check_artifact(artifact, datasets) if artifact is not None else None
        trained = sorted(set(trained_shards)) if trained_shards is not None else None
        previous = store.latest_model(conn, name)
        version = store.next_model_version(conn, name)
        values = {
            "model_id": model_id_for(name, version),
            "name": name,
            "version": version,
            "unlearning": unlearning,
            "trained_shards": trained,
            "deployed_to": sorted(set(deployed_to)),
            "artifact": str(artifact.resolve()) if artifact is not None else None,
            "artifact_sha256": digest,
            "status": "active",
            "supersedes": previous["model_id"]
            if previous and previous["status"] == "active"
            else None,
            "evidence": dict(evidence) if evidence is not None else None,
            "created_at": at,
        }
        store.insert_model(conn, values, [d["dataset_id"] for d in datasets], at=at)
        if values["supersedes"]:
            _supersede_model(conn, str(values["supersedes"]), values, at=at)
        facts = ModelFacts(
            str(values["model_id"]),
            unlearning,
            frozenset(trained) if trained is not None else None,
        )
        for d in datasets:
            follow_dataset_orders(conn, d["dataset_id"], model=facts, at=at)
    logger.info("model registered (version %d, %d datasets)", version, len(datasets))
    return from_row(Model, values)


@dataclass(frozen=True, slots=True)
class Model:
    """A registered model version (``model_id`` is ``name@vN``): how it forgets
    (``unlearning``), the shards it was trained on (None: all), where it is deployed, its
    artifact and digest, and its status (active, superseded, retired)."""

    model_id: str
    name: str
    version: int
    unlearning: str
    trained_shards: tuple[int, ...] | None
    deployed_to: tuple[str, ...]
    artifact: str | None
    artifact_sha256: str | None
    status: str
    supersedes: str | None
    evidence: Any
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ListedModel(Model):
    """A model version as ``list_models`` lists it: with its datasets and open orders."""

    datasets: tuple[str, ...]
    open_orders: int


def _supersede_model(
    conn: sa.Connection, old_id: str, new: Mapping[str, Any], *, at: datetime
) -> None:
    orders = store.list_orders(conn, kind="model", target=old_id, pending=True)
    if orders:
        members = members_of(conn, [o["order_id"] for o in orders])
        new_datasets = store.model_dataset_ids(conn, [str(new["model_id"])])[str(new["model_id"])]
        held = [
            m
            for m, hs in store.member_holdings(conn, members).items()
            if any(h.dataset_id in new_datasets for h in hs)
        ]
        if held:
            raise Conflict(
                f"{new['model_id']} was trained on data of {len(held)} member(s) with open "
                f"orders against {old_id}; remediate its datasets first"
            )
        store.close_orders(
            conn,
            [o["order_id"] for o in orders],
            at=at,
            evidence={"superseded_by": new["model_id"]},
        )
    store.set_model_status(conn, old_id, "superseded", at=at)


def list_models(engine: sa.Engine) -> list[ListedModel]:
    """Every model version by name and version, with its datasets and open orders.

    >>> from consentgate import workspace
    >>> from consentgate.store.engine import make_engine
    >>> engine = make_engine("sqlite://")
    >>> _ = workspace.init_workspace(engine)
    >>> workspace.list_models(engine)
    []
    """
    with engine.connect() as conn:
        rows = store.list_models(conn)
        links = store.model_dataset_ids(conn, [r["model_id"] for r in rows])
        pending = store.list_orders(conn, kind="model", pending=True)
    open_by_model: dict[str, int] = {}
    for o in pending:
        open_by_model[o["target"]] = open_by_model.get(o["target"], 0) + 1
    return [
        from_row(
            ListedModel,
            r,
            datasets=links[r["model_id"]],
            open_orders=open_by_model.get(r["model_id"], 0),
        )
        for r in rows
    ]


def train_model(
    engine: sa.Engine,
    name: str,
    dataset_ids: Sequence[str],
    *,
    features: Any,
    label: str,
    estimator_factory: Callable[[], Any],
    artifact: Path,
    seed: int = 0,
    deployed_to: Sequence[str] = (),
    rules: DeadlineRules | None = None,
    now: Clock = utcnow,
) -> Model:
    """Train a SISA model (``consentgate.unlearn``) on sharded datasets, save it at
    ``artifact`` and register it with ``--unlearning sisa`` (Python API; the demo uses it)."""
    with engine.connect() as conn:
        datasets = [registered_dataset(conn, d) for d in dataset_ids]
    problems = _check_trained_shards(datasets, None, "sisa")
    if problems:
        raise InvalidInput("cannot train a SISA model", problems)
    files = parts_of(datasets)
    model = train_shards(
        [str(f) for f in files],
        features=features,
        label=label,
        estimator_factory=estimator_factory,
        seed=seed,
        shards=int(datasets[0]["shards"]),
    )
    save_model(model, artifact)
    return register_model(
        engine,
        name,
        dataset_ids,
        unlearning="sisa",
        deployed_to=deployed_to,
        artifact=artifact,
        rules=rules,
        now=now,
    )
