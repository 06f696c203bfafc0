"""Use cases for what a withdrawal sets in motion: models, disclosures, remediation orders,
dataset remediation, model retraining, deletion notices, and the member's access report.

Like ``workspace`` and ``builds``, these take an engine and values and return values; the
CLI renders them. Orders are opened by the consent ledger itself (``workspace`` calls
``store.remediation.open_for_events`` in the transaction that stores the events); the
functions here do the work and close them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from consentgate import auditlog, proofs, workspace
from consentgate import consent as core
from consentgate.errors import Conflict, InvalidInput, NotFound, RecipientRefused, UsageError
from consentgate.gate.batch import Columns, prepare
from consentgate.gate.manifest import MANIFEST_NAME, read_manifest
from consentgate.policy import Scope, settings_touching
from consentgate.remediation.datasets import remediate_parts, sha256_file
from consentgate.remediation.deadlines import DeadlineRules
from consentgate.remediation.notices import (
    DeletionNotice,
    NoticeDataset,
    notice_id_for,
    record_ref,
    ref_key,
    sign_notice,
)
from consentgate.remediation.orders import ModelFacts
from consentgate.snapshot import ConsentSnapshot
from consentgate.store import audit as store_audit
from consentgate.store import ledger, registry
from consentgate.store import remediation as store
from consentgate.taxonomy import FIRST_PARTY
from consentgate.timestamps import format_timestamp, utcnow

logger = logging.getLogger(__name__)
Clock = Callable[[], datetime]

UNLEARNING = ("sisa", "retrain", "retire")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_SUFFIX = re.compile(r"^(.*)-r(\d+)$")


def _ts(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


# --------------------------------------------------------------------------- datasets on disk


def _manifest_of(ds: Mapping[str, Any]) -> dict[str, Any]:
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


def _part_files(ds: Mapping[str, Any], shards: Iterable[int] | None = None) -> list[Path]:
    """The dataset's Parquet parts (only those of ``shards``, when given)."""
    manifest = _manifest_of(ds)
    wanted = None if shards is None else {f"shard-{s:05d}-" for s in shards}
    return [
        Path(str(ds["path"])) / str(f["path"])
        for f in manifest["files"]
        if wanted is None or str(f["path"])[:12] in wanted
    ]


def _dataset(conn: sa.Connection, dataset_id: str) -> dict[str, Any]:
    ds = registry.get_dataset(conn, dataset_id)
    if ds is None:
        raise NotFound("dataset", dataset_id)
    return ds


# --------------------------------------------------------------------------- models


def rules_from(settings: Any) -> DeadlineRules:
    """Deadline rules from ``consentgate.config.Settings`` (the CLI's edge)."""
    return DeadlineRules(
        withdrawal_days=settings.withdrawal_deadline_days,
        erasure_days=settings.erasure_deadline_days,
        opt_out_business_days=settings.opt_out_deadline_business_days,
    )


def _check_trained_shards(
    datasets: Sequence[Mapping[str, Any]], trained_shards: Sequence[int] | None, unlearning: str
) -> list[str]:
    problems = []
    counts = {int(d["shards"]) for d in datasets if d["shards"] is not None}
    unsharded = [d["dataset_id"] for d in datasets if d["shards"] is None]
    if unlearning == "sisa":
        if unsharded:
            problems.append(
                f"--unlearning sisa needs sharded datasets; not sharded: {', '.join(unsharded)}"
            )
        if len(counts) > 1:
            problems.append(f"--unlearning sisa needs one shard count, got {sorted(counts)}")
    if trained_shards is not None:
        if unsharded:
            problems.append("--trained-shards needs sharded datasets")
        top = min(counts) if counts else 0
        bad = [s for s in trained_shards if not 0 <= s < top]
        if bad:
            problems.append(f"--trained-shards: {bad} outside 0..{top - 1}")
    return problems


def _check_artifact(artifact: Path, datasets: Sequence[Mapping[str, Any]]) -> str:
    """Check a SISA model directory was trained on exactly these datasets' parts; returns
    the SHA-256 of its manifest."""
    from consentgate.unlearn import load_model, read_rows, shard_fingerprint

    model = load_model(artifact)
    files: list[Path] = []
    for ds in datasets:
        files += _part_files(ds)
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
) -> dict[str, Any]:
    """Record a model version trained on ``dataset_ids`` (``models register``).

    A second registration of ``name`` is its next version and supersedes the previous
    active one; that one's open orders close if the new version holds none of their
    members, else the registration is refused. Members with dataset orders on these
    datasets get model orders right away: the model holds their data too.
    """
    problems = []
    if not _NAME.fullmatch(name):
        problems.append(f"NAME: {name!r} (letters, digits, '.', '_', '-'; at most 200)")
    if unlearning not in UNLEARNING:
        problems.append(f"--unlearning: {unlearning!r} (want {'|'.join(UNLEARNING)})")
    if not dataset_ids:
        problems.append("--dataset: at least one dataset is needed")
    if problems:
        raise InvalidInput("cannot register the model", problems)
    at = now()
    with engine.begin() as conn:
        datasets = [_dataset(conn, d) for d in dict.fromkeys(dataset_ids)]
        problems = _check_trained_shards(datasets, trained_shards, unlearning)
        if problems:
            raise InvalidInput("cannot register the model", problems)
        digest = _check_artifact(artifact, datasets) if artifact is not None else None
        trained = sorted(set(trained_shards)) if trained_shards is not None else None
        previous = store.latest_model(conn, name)
        version = store.next_model_version(conn, name)
        values = {
            "model_id": f"{name}@v{version}",
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
            store.follow_dataset_orders(conn, d["dataset_id"], model=facts, at=at)
    logger.info("model registered (version %d, %d datasets)", version, len(datasets))
    return values


def _supersede_model(
    conn: sa.Connection, old_id: str, new: Mapping[str, Any], *, at: datetime
) -> None:
    orders = store.list_orders(conn, kind="model", target=old_id, pending=True)
    if orders:
        members = {
            m
            for ms in store.order_members(conn, [o["order_id"] for o in orders]).values()
            for m in ms
        }
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


def list_models(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = store.list_models(conn)
        links = store.model_dataset_ids(conn, [r["model_id"] for r in rows])
        pending = store.list_orders(conn, kind="model", pending=True)
    open_by_model: dict[str, int] = {}
    for o in pending:
        open_by_model[o["target"]] = open_by_model.get(o["target"], 0) + 1
    return [
        {
            **r,
            "datasets": links[r["model_id"]],
            "open_orders": open_by_model.get(r["model_id"], 0),
        }
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
) -> dict[str, Any]:
    """Train a SISA model (``consentgate.unlearn``) on sharded datasets, save it at
    ``artifact`` and register it with ``--unlearning sisa`` (Python API; the demo uses it)."""
    from consentgate.unlearn import save_model, train_shards

    with engine.connect() as conn:
        datasets = [_dataset(conn, d) for d in dataset_ids]
    problems = _check_trained_shards(datasets, None, "sisa")
    if problems:
        raise InvalidInput("cannot train a SISA model", problems)
    files: list[Path] = []
    for ds in datasets:
        files += _part_files(ds)
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


# --------------------------------------------------------------------------- disclosures


def disclose(
    engine: sa.Engine,
    dataset_id: str,
    *,
    recipient: str,
    at: datetime | None = None,
    now: Clock = utcnow,
) -> dict[str, Any]:
    """Record that a dataset built for a third party was delivered to it (``disclose``).

    Refused for a recipient the dataset was not built for, for ``first_party``, for a
    superseded version, and when the policy no longer allows the recipient for the use.
    """
    stamp = now()
    when = at or stamp
    with engine.begin() as conn:
        ds = _dataset(conn, dataset_id)
        if recipient == FIRST_PARTY:
            raise InvalidInput("first_party is not a third party: nothing to disclose")
        if ds["recipient"] != recipient:
            raise RecipientRefused(
                f"dataset {dataset_id} was built for {ds['recipient']!r}; only a dataset built "
                f"for {recipient!r} (consent checked for it) may be disclosed to it"
            )
        if ds["status"] != "active":
            raise Conflict(f"dataset {dataset_id} is {ds['status']}; disclose its current version")
        workspace.check_recipient(ledger.load_history(conn), ds["use"], recipient, when)
        values = store.record_disclosure(
            conn,
            dataset_id=dataset_id,
            recipient=recipient,
            records=int(ds["records"]),
            members=int(ds["members"]),
            at=stamp,
            source="cli",
            disclosed_at=when,
        )
        store.follow_dataset_orders(conn, dataset_id, recipient=recipient, at=stamp)
    return values


def list_disclosures(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return store.list_disclosures(conn)


# --------------------------------------------------------------------------- orders


def list_orders(
    engine: sa.Engine,
    *,
    overdue: bool = False,
    include_done: bool = False,
    now: Clock = utcnow,
) -> list[dict[str, Any]]:
    """Remediation orders by deadline (``remediation``): pending ones, or every one; with
    ``overdue`` only pending orders past their deadline. Each lists its member ids."""
    at = now()
    with engine.connect() as conn:
        rows = store.list_orders(conn, pending=not include_done or overdue)
        members = store.order_members(conn, [r["order_id"] for r in rows])
    out = []
    for r in rows:
        late = r["status"] != "done" and r["deadline"] < at
        if overdue and not late:
            continue
        out.append({**r, "overdue": late, "member_ids": members[r["order_id"]]})
    return out


def open_for_policy(
    engine: sa.Engine,
    old_version: str | None,
    new_version: str,
    *,
    rules: DeadlineRules | None = None,
    now: Clock = utcnow,
) -> list[str]:
    """Orders for the scopes ``new_version`` drops against ``old_version`` (to be called
    when a version is published; returns the order ids)."""
    at = now()
    with engine.begin() as conn:
        history = ledger.load_history(conn)
        new = history.get(new_version)
        if new is None:
            raise NotFound("policy version", new_version)
        old = history.get(old_version) if old_version else None
        if old_version and old is None:
            raise NotFound("policy version", old_version)
        return store.open_for_policy(conn, old, new, at=at, rules=rules or DeadlineRules())


# --------------------------------------------------------------------------- remediate


@dataclass(frozen=True, slots=True)
class Remediated:
    """What ``remediate`` did to one dataset."""

    dataset_id: str
    new_dataset_id: str | None
    out: Path | None
    records_before: int
    records_removed: int
    parts_rewritten: tuple[str, ...]
    parts_kept: tuple[str, ...]
    parts_removed: tuple[str, ...]
    shards_touched: tuple[int, ...]
    orders_closed: tuple[str, ...]
    purged: bool
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id,
            "new_dataset_id": self.new_dataset_id,
            "out": None if self.out is None else str(self.out),
            "records_before": self.records_before,
            "records_removed": self.records_removed,
            "parts_rewritten": list(self.parts_rewritten),
            "parts_kept": list(self.parts_kept),
            "parts_removed": list(self.parts_removed),
            "shards_touched": list(self.shards_touched),
            "orders_closed": list(self.orders_closed),
            "purged": self.purged,
            "seconds": round(self.seconds, 3),
        }


def fresh_snapshot(
    engine: sa.Engine,
    *,
    use: str,
    recipient: str,
    as_of: datetime,
    known_at: datetime,
    at: datetime,
) -> ConsentSnapshot:
    """The consent snapshot a remediation re-checks against, recorded with an audit entry.

    Unlike a build's, it does not refuse a recipient whose contract has ended: removing
    data is always allowed.
    """
    with engine.begin() as conn:
        history = ledger.load_history(conn)
        categories = history.scope_categories(use, recipient)
        settings = settings_touching(history, [Scope(use, c, recipient) for c in categories])
        snap = core.compute_snapshot(
            members=ledger.members_table(conn),
            events=ledger.events_table(conn, as_of=as_of, known_at=known_at, settings=settings),
            history=history,
            use=use,
            recipient=recipient,
            as_of=as_of,
            known_at=known_at,
        )
        ledger.record_snapshot(conn, snap, sha256=snap.sha256, at=at)
    return snap


def _next_path(path: Path) -> Path:
    match = _SUFFIX.match(path.name)
    stem, n = (match.group(1), int(match.group(2))) if match else (path.name, 0)
    candidate = path.with_name(f"{stem}-r{n + 1}")
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{stem}-r{n + 1}")
    return candidate


def _reason(orders: Sequence[Mapping[str, Any]]) -> str:
    triggers = sorted({t for o in orders for t in o["triggers"]})
    if not triggers:
        return "re-check: eligibility re-evaluated without open orders"
    return "remediation of " + ", ".join(triggers) + f" ({len(orders)} orders)"


def remediate(
    engine: sa.Engine,
    dataset_id: str,
    *,
    as_of: datetime | None = None,
    out: Path | None = None,
    purge: bool = False,
    column_map: Mapping[str, str] | None = None,
    batch_rows: int = 65_536,
    now: Clock = utcnow,
) -> Remediated:
    """Write a new version of ``dataset_id`` without the records whose eligibility no
    longer holds (``remediate``), register it, mark the old one superseded and close the
    dataset's orders. ``purge`` deletes the old version's files afterwards.
    """
    started = time.perf_counter()
    at = now()
    with engine.connect() as conn:
        ds = _dataset(conn, dataset_id)
        if ds["status"] != "active":
            newer = store.successor(conn, dataset_id)
            raise Conflict(
                f"dataset {dataset_id} is {ds['status']}"
                + (f"; its current version is {newer}" if newer else "")
            )
        orders = store.list_orders(conn, kind="dataset", target=dataset_id, pending=True)
        if purge:
            unsent = [
                o["order_id"]
                for o in store.list_orders(conn, kind="notice", pending=True)
                if o["status"] == "open" and dataset_id in o["datasets"]
            ]
            if unsent:
                raise Conflict(
                    f"{len(unsent)} deletion notice(s) for this dataset are not sent yet; "
                    "run `consentgate notices send` before --purge (they list its records)"
                )
    old_manifest = _manifest_of(ds)
    snap = fresh_snapshot(
        engine,
        use=ds["use"],
        recipient=ds["recipient"],
        as_of=as_of or at,
        known_at=at,
        at=at,
    )
    src = Path(str(ds["path"]))
    target = out or _next_path(src)
    result = remediate_parts(
        src,
        target,
        old_manifest=old_manifest,
        snapshot=snap,
        index=prepare(snap),
        columns=Columns.from_map(column_map),
        reason=_reason(orders),
        batch_rows=batch_rows,
    )
    order_ids = [str(o["order_id"]) for o in orders]
    try:
        with engine.begin() as conn:
            if result.changed:
                manifest, manifest_sha = proofs.commit_members(
                    conn,
                    target,
                    result.manifest,
                    result.member_counts.column("member_id").to_pylist(),
                )
                registry.register_dataset(
                    conn,
                    manifest=manifest,
                    manifest_sha256=manifest_sha,
                    path=str(target.resolve()),
                    member_counts=result.member_counts,
                    at=at,
                    supersedes=dataset_id,
                )
                registry.set_dataset_status(conn, dataset_id, "superseded", at=at)
            ordered = {m for ms in store.order_members(conn, order_ids).values() for m in ms}
            still = ordered & set(result.member_counts.column("member_id").to_pylist())
            store.close_orders(
                conn,
                order_ids,
                at=at,
                evidence={
                    "dataset_version": result.manifest["dataset_id"],
                    "records_removed": result.removed,
                    "parts_rewritten": len(result.parts_rewritten) + len(result.parts_removed),
                    "parts_kept": len(result.parts_kept),
                    "shards_touched": list(result.shards_touched),
                    "as_of": format_timestamp(snap.as_of),
                    "members_still_eligible": len(still),
                },
            )
    except BaseException:
        if result.changed:
            shutil.rmtree(target, ignore_errors=True)
        raise
    purged = False
    if purge and result.changed:
        _purge(engine, ds, at=at)
        purged = True
    logger.info(
        "dataset remediated: %d of %d records removed, %d parts rewritten, %d kept",
        result.removed,
        result.counts.input,
        len(result.parts_rewritten) + len(result.parts_removed),
        len(result.parts_kept),
    )
    return Remediated(
        dataset_id=dataset_id,
        new_dataset_id=result.manifest["dataset_id"] if result.changed else None,
        out=target if result.changed else None,
        records_before=result.counts.input,
        records_removed=result.removed,
        parts_rewritten=result.parts_rewritten,
        parts_kept=result.parts_kept if result.changed else (),
        parts_removed=result.parts_removed,
        shards_touched=result.shards_touched,
        orders_closed=tuple(order_ids),
        purged=purged,
        seconds=time.perf_counter() - started,
    )


def _purge(engine: sa.Engine, ds: Mapping[str, Any], *, at: datetime) -> None:
    path = Path(str(ds["path"]))
    if (path / MANIFEST_NAME).is_file():
        shutil.rmtree(path)
    with engine.begin() as conn:
        registry.set_dataset_status(conn, str(ds["dataset_id"]), "purged", at=at)


# --------------------------------------------------------------------------- retrain


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
    from consentgate.unlearn import read_rows

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
    from consentgate.unlearn import load_model, save_model
    from consentgate.unlearn.features import feature_columns

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
        datasets = [_dataset(conn, d) for d in current]
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
    files: list[Path] = []
    for ds in datasets:
        files += _part_files(ds)
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
    new_id = f"{model['name']}@v{version}"
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
    try:
        with engine.begin() as conn:
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
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    logger.info(
        "model retrained: %d of %d shards", len(evidence["shards_retrained"]), old.shard_count
    )
    return Retrained(model_id, "retrained", new_id, target, order_ids, evidence)


def _retrain(old: Any, files: Sequence[Path], test: pa.Table, *, full: bool) -> dict[str, Any]:
    """SISA retrain (changed shards only) or a full retrain; the evidence, with the new
    model under ``_model``."""
    from sklearn.base import clone

    from consentgate.unlearn import retrain as sisa_retrain
    from consentgate.unlearn import train_shards

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


# --------------------------------------------------------------------------- notices


@dataclass(frozen=True, slots=True)
class SentNotice:
    notice_id: str
    recipient: str
    path: Path
    records: int
    datasets: tuple[str, ...]
    deadline: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "notice_id": self.notice_id,
            "recipient": self.recipient,
            "path": str(self.path),
            "records": self.records,
            "datasets": list(self.datasets),
            "deadline": format_timestamp(self.deadline),
        }


def _member_record_ids(
    ds: Mapping[str, Any], shards: Mapping[str, list[int] | None], columns: Columns
) -> list[str]:
    """Ids of the dataset's records owned (as author or recipient) by these members,
    reading only the parts of their shards."""
    members = pa.array(sorted(shards), pa.string())
    wanted: set[int] | None = None
    if ds["shards"] is not None:
        wanted = {s for ss in shards.values() for s in ss or ()}
    files = _part_files(ds, wanted)
    out: list[str] = []
    for f in files:
        pf = pq.ParquetFile(f)
        table = pf.read(columns=[columns.id, columns.author_id, columns.recipient_ids])
        hit = np.asarray(
            pc.is_in(table.column(columns.author_id), value_set=members)
            .fill_null(False)
            .to_numpy(zero_copy_only=False),
            bool,
        )
        lists = table.column(columns.recipient_ids).combine_chunks()
        if not pa.types.is_null(lists.type) and len(lists):
            flat = pc.is_in(pc.list_flatten(lists), value_set=members).fill_null(False)
            parents = pc.filter(pc.list_parent_indices(lists), flat).to_numpy(zero_copy_only=False)
            hit[np.asarray(parents, np.int64)] = True
        out += table.column(columns.id).filter(pa.array(hit)).to_pylist()
    return out


def _signer(engine: sa.Engine, key_file: Path) -> Any:
    from consentgate.checkpoint import load_signer

    if not key_file.exists():
        auditlog.ensure_signing_key(engine, key_file)
    return load_signer(key_file)


def _write_atomically(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    data = text.encode("utf-8")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()


def send_notices(
    engine: sa.Engine,
    *,
    key_file: Path,
    outbox: Path,
    column_map: Mapping[str, str] | None = None,
    now: Clock = utcnow,
) -> list[SentNotice]:
    """Write one signed deletion notice per recipient with open notice orders to
    ``outbox`` (``notices send``); the orders become ``sent`` until acknowledged."""
    from consentgate.store import transparency as store_tlog
    from consentgate.transparency import log_origin

    signer = _signer(engine, key_file)
    columns = Columns.from_map(column_map)
    at = now()
    with engine.begin() as conn:
        orders = [
            o for o in store.list_orders(conn, kind="notice", pending=True) if o["status"] == "open"
        ]
        members = store.order_members(conn, [o["order_id"] for o in orders])
        issuer = log_origin(store_tlog.ensure_workspace_id(conn))
        secret = store_audit.workspace_secret(conn)
        plans = []
        for o in orders:
            ds_rows = [_dataset(conn, d) for d in o["datasets"]]
            shard_maps = [
                store.member_shards(conn, d["dataset_id"], members[o["order_id"]]) for d in ds_rows
            ]
            newer = {d["dataset_id"]: store.successor(conn, d["dataset_id"]) for d in ds_rows}
            plans.append((o, ds_rows, shard_maps, newer))
    sent = []
    for o, ds_rows, shard_maps, newer in plans:
        recipient = str(o["target"])
        key = ref_key(secret, recipient)
        parts = []
        for ds, shards in zip(ds_rows, shard_maps, strict=True):
            later = newer[ds["dataset_id"]]
            if not members[o["order_id"]] or ds["status"] == "purged":
                parts.append(NoticeDataset(ds["dataset_id"], all_records=True, superseded_by=later))
                continue
            ids = _member_record_ids(ds, shards, columns) if shards else []
            refs = tuple(record_ref(key, i) for i in ids)
            parts.append(NoticeDataset(ds["dataset_id"], refs, superseded_by=later))
        notice = DeletionNotice(
            notice_id=notice_id_for(recipient, [o["order_id"]], at),
            issuer=issuer,
            recipient=recipient,
            issued_at=at,
            deadline=o["deadline"],
            legal_basis=tuple(o["legal_basis"]),
            datasets=tuple(parts),
            ref_key=key,
            orders=(str(o["order_id"]),),
        )
        path = outbox / f"{notice.notice_id}.json"
        digest = _write_atomically(path, sign_notice(notice, signer))
        try:
            with engine.begin() as conn:
                store.insert_notice(
                    conn,
                    {
                        "notice_id": notice.notice_id,
                        "recipient": recipient,
                        "issued_at": at,
                        "deadline": notice.deadline,
                        "path": str(path.resolve()),
                        "sha256": digest,
                        "records": notice.records,
                        "datasets": [d.dataset_id for d in parts],
                        "status": "sent",
                        "acknowledged_at": None,
                        "ack_note": None,
                    },
                    at=at,
                )
                store.close_orders(
                    conn, [str(o["order_id"])], at=at, status="sent", notice_id=notice.notice_id
                )
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        sent.append(
            SentNotice(
                notice.notice_id,
                recipient,
                path,
                notice.records,
                tuple(d.dataset_id for d in parts),
                notice.deadline,
            )
        )
    logger.info("deletion notices sent: %d", len(sent))
    return sent


def list_notices(engine: sa.Engine, *, now: Clock = utcnow) -> list[dict[str, Any]]:
    """Notices with their status: ``sent``, ``overdue`` (unacknowledged past the
    deadline) or ``acknowledged``."""
    at = now()
    with engine.connect() as conn:
        rows = store.list_notices(conn)
    return [
        {**r, "status": "overdue" if r["status"] == "sent" and r["deadline"] < at else r["status"]}
        for r in rows
    ]


def acknowledge_notice(
    engine: sa.Engine, notice_id: str, *, note: str | None = None, now: Clock = utcnow
) -> dict[str, Any]:
    """Record the recipient's confirmation (``notices ack``); its orders are done."""
    at = now()
    with engine.begin() as conn:
        row = store.get_notice(conn, notice_id)
        if row is None:
            raise NotFound("notice", notice_id)
        if row["status"] == "acknowledged":
            return row
        row = store.acknowledge_notice(conn, notice_id, at=at, note=note)
        orders = [
            o["order_id"]
            for o in store.list_orders(conn, kind="notice", target=row["recipient"], pending=True)
            if o["notice_id"] == notice_id
        ]
        store.close_orders(
            conn, orders, at=at, evidence={"notice_id": notice_id, "acknowledged_at": _ts(at)}
        )
    return row


# --------------------------------------------------------------------------- DSAR


def dsar(engine: sa.Engine, member_id: str, *, now: Clock = utcnow) -> dict[str, Any]:
    """The member's access report (``report dsar``): consents and their history, the
    datasets, models and recipients that hold or held their data, and every remediation
    order opened for them, with its status. Nothing about other members."""
    at = now()
    with engine.connect() as conn:
        member = ledger.get_member(conn, member_id)
        if member is None:
            raise NotFound("member", member_id)
        history = ledger.load_history(conn)
        events = ledger.member_events(conn, member_id)
        held = registry.member_impact(conn, member_id)
        dataset_ids = [h["dataset_id"] for h in held]
        models = store.models_trained_on(conn, dataset_ids)
        disclosed = store.list_disclosures(conn, dataset_ids)
        orders = store.member_orders(conn, member_id)
        notices = {n["notice_id"]: n for n in store.list_notices(conn)}
    latest = history.latest()
    settings = (
        list(
            dict.fromkeys(
                [*(s.id for s in latest.settings), *(e.setting for e in events if e.setting)]
            )
        )
        if latest
        else []
    )
    labels = {s.id: s.label for v in history.versions for s in v.settings}
    consents = []
    for sid in settings:
        d = core.setting_status(member, sid, events=events, history=history, at=at, known_at=at)
        consents.append(
            {
                "setting": sid,
                "label": labels.get(sid, ""),
                "state": d.state,
                "covers_from": _ts(d.covers_from),
                "policy_version": d.policy_version,
            }
        )
    return {
        "member_id": member_id,
        "jurisdiction": member.jurisdiction,
        "generated_at": format_timestamp(at),
        "consents": consents,
        "events": [
            {
                "event_id": e.event_id,
                "type": e.type.value,
                "setting": e.setting,
                "policy_version": e.policy_version,
                "effective_at": _ts(e.effective_at),
                "recorded_at": _ts(e.recorded_at),
                "covers_from": _ts(e.covers_from),
                "source": e.source,
            }
            for e in events
        ],
        "datasets": [
            {
                "dataset_id": h["dataset_id"],
                "use": h["use"],
                "recipient": h["recipient"],
                "as_of": _ts(h["as_of"]),
                "status": h["status"],
                "holds_now": h["status"] == "active",
                "as_author": h["as_author"],
                "as_participant": h["as_participant"],
                "shards": h["shards"],
            }
            for h in held
        ],
        "models": [
            {
                "model_id": m["model_id"],
                "status": m["status"],
                "unlearning": m["unlearning"],
                "deployed_to": m["deployed_to"],
                "datasets": m["via"],
            }
            for m in models
        ],
        "recipients": [
            {
                "recipient": d["recipient"],
                "dataset_id": d["dataset_id"],
                "disclosed_at": _ts(d["disclosed_at"]),
                "records": d["records"],
            }
            for d in disclosed
        ],
        "remediation": [
            {
                "order_id": o["order_id"],
                "kind": o["kind"],
                "action": o["action"],
                "target": o["target"],
                "shard": o["shard"],
                "trigger": o["trigger"],
                "legal_basis": o["legal_basis"],
                "deadline": _ts(o["deadline"]),
                "status": o["status"],
                "overdue": o["status"] != "done" and o["deadline"] < at,
                "opened_at": _ts(o["opened_at"]),
                "closed_at": _ts(o["closed_at"]),
                "notice_id": o["notice_id"],
                "notice_status": notices[o["notice_id"]]["status"]
                if o["notice_id"] in notices
                else None,
            }
            for o in orders
        ],
    }
