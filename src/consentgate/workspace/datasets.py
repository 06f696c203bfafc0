"""Use cases for training datasets: build through the gate, registry, impact, exposure audit.

Like the other ``workspace`` modules, these take an engine and values and return values; the CLI renders them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from consentgate.dataset_refs import check_name, name_owner  # issue 13: dataset names
from consentgate.ecosystem.documents import documenting  # issue 13: Croissant + card
from consentgate.errors import (
    InvalidInput,
    NotFound,
    RecipientRefused,
    TaxonomyError,
    UsageError,
)
from consentgate.gate.columns import Columns
from consentgate.gate.exposure import ExposureReport, audit_dataset
from consentgate.gate.manifest import MANIFEST_NAME, canonical_json, read_manifest
from consentgate.gate.owners import OwnerColumns
from consentgate.gate.run import BuildResult, Progress, build_dataset
from consentgate.gate.source import Source
from consentgate.remediation.owners import DatasetOwners
from consentgate.store import audit as store_audit
from consentgate.store import ledger, registry
from consentgate.store import remediation as store_remediation
from consentgate.taxonomy import FIRST_PARTY
from consentgate.timestamps import Clock, utcnow
from consentgate.workspace.proofs import member_commitment
from consentgate.workspace.publication import Publication, keep_registered
from consentgate.workspace.results import from_row
from consentgate.workspace.snapshots import build_snapshot, build_snapshots, check_recipient

logger = logging.getLogger(__name__)


def build(
    engine: sa.Engine,
    source: Source,
    *,
    use: str,
    recipient: str,
    out: Path,
    as_of: datetime | None = None,
    shards: int | None = None,
    shard_by: str = "author",
    runner: str = "local",
    redactor: Any = None,
    batch_rows: int = 65_536,
    workers: int | None = None,
    progress: Progress | None = None,
    max_future_share: float = 0.001,
    now: Clock = utcnow,
    name: str | None = None,
) -> BuildResult:
    """Snapshot consent at ``as_of`` and now, gate ``source`` (records opened and checked
    by ``consentgate.gate.source.open_source``, which also maps their columns) into
    ``out``, and register the dataset — the directory appears under ``out`` together with
    its registry row (``consentgate.workspace.publication``).

    A record must be eligible at ``as_of`` (default: now) and at the build time, both as
    known now; ``as_of`` after now is refused, and so is a third party whose contract
    does not allow ``use`` at either time, or a third-party build without a redactor
    (its owner columns must not carry member ids). When the result is identical to a
    registered dataset, nothing is written or registered: the returned result has
    ``published`` False and ``registered`` names that dataset (a verification).
    """
    built_at = now()
    as_of = as_of or built_at
    third_party = recipient != FIRST_PARTY
    if third_party and redactor is None:
        raise UsageError(
            "a dataset for a third party is always redacted and carries no member ids: "
            "building without a redactor is refused (`redactor`: give a redaction profile)"
        )
    check_categories(engine, source)
    at_cutoff, at_build = build_snapshots(
        engine, use=use, recipient=recipient, as_of=as_of, built_at=built_at
    )
    with engine.connect() as conn:
        key = store_audit.workspace_secret(conn)
        existing = registry.find_dataset_at(conn, str(out.resolve())) if out.exists() else None
    if out.exists() and existing is None:
        raise InvalidInput(f"{out}: already exists; a dataset is never overwritten")
    owners = OwnerColumns()
    extra: dict[str, Any] = {}
    if name is not None:  # issue 13: a human name, in the manifest, not in the dataset id
        extra["name"] = check_name(name)
        holder = name_owner(engine, name)
        if holder is not None and (existing is None or existing["dataset_id"] != holder):
            raise InvalidInput(
                f"--name {name!r} already names dataset {holder}; choose another name "
                "(a remediated version keeps its dataset's name)"
            )
    profile = getattr(redactor, "profile", None)  # any Redactor; consentgate's has rules
    if profile is not None:
        extra["redaction"] = {
            "profile": profile.as_dict(),
            "profile_sha256": hashlib.sha256(canonical_json(profile.as_dict())).hexdigest(),
        }
    if third_party:
        drop = profile is not None and profile.owner_columns == "drop"
        owners = OwnerColumns.for_recipient(key, recipient, drop=drop)

    counts_of: list[pa.Table] = []  # the member counts, handed from seal to register

    def seal(manifest: Mapping[str, Any], member_counts: pa.Table) -> dict[str, Any]:
        counts_of.append(member_counts)
        ids = member_counts.column("member_id").to_pylist()
        return member_commitment(key, ids, str(manifest["dataset_id"]))

    def register(
        conn: sa.Connection, manifest: Mapping[str, Any], manifest_sha256: str, path: str
    ) -> None:
        at = now()
        for snap in {id(s): s for s in (at_cutoff, at_build)}.values():
            ledger.record_snapshot(conn, snap, sha256=snap.sha256, at=at)
        registry.register_dataset(
            conn,
            manifest=dict(manifest),
            manifest_sha256=manifest_sha256,
            path=path,
            member_counts=counts_of[0],
            at=at,
        )
        if third_party:  # issue 5: a third-party build is a disclosure
            store_remediation.record_disclosure(
                conn,
                dataset_id=str(manifest["dataset_id"]),
                recipient=recipient,
                records=int(manifest["counts"]["included"]),
                members=counts_of[0].num_rows,
                at=at,
                source="build",
            )

    publication = Publication(engine, register)
    result = build_dataset(
        source,
        snapshot=at_cutoff,
        at_build=at_build,
        out_dir=out,
        use=use,
        recipient=recipient,
        as_of=as_of,
        shards=shards,
        shard_by=shard_by,  # type: ignore[arg-type]
        runner=runner,  # type: ignore[arg-type]
        redactor=redactor,
        batch_rows=batch_rows,
        workers=workers,
        progress=progress,
        owner_columns=owners,
        max_future_share=max_future_share,
        manifest_extra=extra,
        seal=seal,
        publish=documenting(_guard_existing(publication, existing)),  # issue 13
        keep=keep_registered(engine),
        out_may_exist=existing is not None,
    )
    if not result.published:
        logger.info("build identical to a registered dataset: nothing registered")
        return dataclasses.replace(result, registered=publication.identical)
    logger.info(
        "dataset built: %d of %d records included", result.counts.included, result.counts.input
    )
    return result


def _guard_existing(
    publication: Publication, existing: Mapping[str, Any] | None
) -> Callable[[Path, Path], bool]:
    """When ``out`` already holds a registered dataset, this build may only verify it."""

    def publish(staged: Path, final: Path) -> bool:
        if existing is None:
            return publication(staged, final)
        data = json.loads((staged / MANIFEST_NAME).read_text(encoding="utf-8"))
        if data["dataset_id"] == existing["dataset_id"]:
            publication.identical = dict(existing)
            return False
        shutil.rmtree(staged, ignore_errors=True)  # a publisher owns what it refuses
        raise InvalidInput(
            f"{final}: already holds dataset {existing['dataset_id']}; this build gives "
            f"another dataset ({data['dataset_id']}); choose another `out_dir` (nothing was written)"
        )

    return publish


def check_categories(engine: sa.Engine, source: Source) -> None:
    """Refuse a source whose category column holds a key the taxonomy does not know."""
    with engine.connect() as conn:
        taxonomy = ledger.load_taxonomy(conn)
    unknown = sorted(source.categories() - taxonomy.data_categories)
    if unknown:
        raise TaxonomyError(
            "data category", unknown[0], f"in {source.name}; all unknown: {', '.join(unknown)}"
        )


def make_redactor(engine: sa.Engine, *, rules: Any = None, ner: bool = True) -> Any:
    """The gate's redactor: ``profile`` (a YAML file; else ``rules``, a parsed profile;
    else the shipped one) with every member's name, email and phone as the people
    directory (names are found case-insensitively, with the variants in docs/redaction.md)
    and, unless ``ner`` is false, the spaCy NER backend when the ``ner`` extra is installed
    (other people's names and places)."""
    from consentgate.redact import Directory, Redactor, default_profile
    from consentgate.redact.ner import default_ner

    with engine.connect() as conn:
        directory = Directory.from_arrow(ledger.directory_table(conn))
    chosen = rules or default_profile()
    backend = default_ner() if ner else None
    return Redactor(chosen, directory, ner=backend)


@dataclass(frozen=True, slots=True)
class Dataset:
    """A registered dataset version: what was built (``use``, ``recipient``, consent
    ``as_of``), where (``path``), its digests and counts, and its ``status`` (``active``,
    ``superseded`` by a remediated version, or ``purged``)."""

    dataset_id: str
    use: str
    recipient: str
    as_of: datetime
    path: str
    manifest_sha256: str
    snapshot_sha256: str
    input_records: int
    records: int
    members: int
    members_sha256: str
    shards: int | None
    shard_by: str | None
    status: str
    supersedes: str | None
    created_at: datetime


def list_datasets(engine: sa.Engine) -> list[Dataset]:
    """Every registered dataset version, oldest first.

    >>> from consentgate import workspace
    >>> from consentgate.store.engine import make_engine
    >>> engine = make_engine("sqlite://")
    >>> _ = workspace.init_workspace(engine)
    >>> workspace.list_datasets(engine)
    []
    """
    with engine.connect() as conn:
        return [from_row(Dataset, r) for r in registry.list_datasets(conn)]


def dataset_member_ids(engine: sa.Engine, dataset_id: str) -> list[str]:
    with engine.connect() as conn:
        return registry.dataset_member_ids(conn, dataset_id)


@dataclass(frozen=True, slots=True)
class DatasetHolding:
    """A dataset holding a member's records (``impact``): as author and as participant
    (record counts), and the shards holding them (None: not sharded)."""

    dataset_id: str
    use: str
    recipient: str
    as_of: datetime
    status: str
    path: str
    as_author: int
    as_participant: int
    shards: tuple[int, ...] | None


def impact(engine: sa.Engine, member_id: str) -> list[DatasetHolding]:
    """Every registered dataset holding the member's records; ``NotFound`` for an unknown
    member.

    >>> from consentgate import workspace
    >>> from consentgate.store.engine import make_engine
    >>> engine = make_engine("sqlite://")
    >>> _ = workspace.init_workspace(engine)
    >>> _ = workspace.import_members(engine, [{"member_id": "m-1", "jurisdiction": "EU"}])
    >>> workspace.impact(engine, "m-1")
    []
    """
    with engine.connect() as conn:
        if ledger.get_member(conn, member_id) is None:
            raise NotFound("member", member_id)
        return [from_row(DatasetHolding, r) for r in registry.member_impact(conn, member_id)]


def exposure(
    engine: sa.Engine,
    source: Path,
    *,
    use: str,
    recipient: str,
    as_of: datetime,
    column_map: dict[str, str] | None = None,
    per_member_usd: float = 1000.0,
    profile: Any = None,
    check_content: bool = True,
) -> ExposureReport:
    """Re-check any dataset with the gate's columns against the ledger at ``as_of`` alone
    (``audit-dataset``; nothing recorded, no dataset written).

    For a dataset this gate built, its manifest gives the column map, the owner columns
    (pseudonyms are resolved to members) and the redaction profile the content is checked
    with; ``profile`` (a parsed redaction profile, ``consentgate.redact.load_profile``)
    overrides it (other datasets: the shipped profile). A third party
    the policy did not allow at ``as_of`` is reported, not refused.
    """
    snap = build_snapshot(
        engine, use=use, recipient=recipient, as_of=as_of, record=False, refuse_recipient=False
    )
    with engine.connect() as conn:
        history = ledger.load_history(conn)
        key = store_audit.workspace_secret(conn)
    problem: str | None = None
    try:
        check_recipient(history, use, recipient, as_of)
    except RecipientRefused as exc:
        problem = str(exc)
    manifest = read_manifest(source) if (source / MANIFEST_NAME).is_file() else None
    if column_map is None and manifest is not None and "columns" in manifest:
        column_map = dict(manifest["columns"])
    resolve = None
    if (
        manifest is not None
        and manifest.get("owner_columns", {}).get("treatment", "kept") != "kept"
    ):
        with engine.connect() as conn:
            members = registry.dataset_member_ids(conn, str(manifest["dataset_id"]))
        resolve = DatasetOwners(
            manifest, Columns.from_map(column_map), workspace_key=key, member_ids=members
        ).resolve
    redactor = None
    if check_content:
        from consentgate.redact import parse_profile

        rules = None
        if profile is None and manifest is not None and "redaction" in manifest:
            rules = parse_profile(
                manifest["redaction"]["profile"], source=f"{source / MANIFEST_NAME} (redaction)"
            )
        redactor = make_redactor(engine, rules=profile or rules)
    return audit_dataset(
        source,
        snapshot=snap,
        column_map=column_map,
        per_member_usd=per_member_usd,
        redactor=redactor,
        resolve=resolve,
        recipient_problem=problem,
    )
