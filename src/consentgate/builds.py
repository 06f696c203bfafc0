"""Use cases for training datasets: build through the gate, registry, impact, exposure audit.

Like ``workspace``, these take an engine and values and return values; the CLI renders them.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from consentgate import proofs, workspace
from consentgate.errors import NotFound, TaxonomyError
from consentgate.gate.exposure import ExposureReport, audit_dataset
from consentgate.gate.run import BuildResult, Progress, build_dataset
from consentgate.gate.source import open_source
from consentgate.store import ledger, registry
from consentgate.store import remediation as store_remediation
from consentgate.taxonomy import FIRST_PARTY
from consentgate.timestamps import utcnow

logger = logging.getLogger(__name__)


def build(
    engine: sa.Engine,
    source: Path,
    *,
    use: str,
    recipient: str,
    out: Path,
    as_of: datetime | None = None,
    shards: int | None = None,
    shard_by: str = "author",
    column_map: dict[str, str] | None = None,
    gate_engine: str = "local",
    redactor: Any = None,
    batch_rows: int = 65_536,
    workers: int | None = None,
    progress: Progress | None = None,
) -> BuildResult:
    """Snapshot consent, gate ``source`` into ``out``, and register the dataset.

    The dataset directory appears only when complete; if registration fails after the
    write, the directory is removed again so no unregistered dataset is left behind.
    """
    as_of = as_of or utcnow()
    check_categories(engine, source, column_map)
    snap = workspace.build_snapshot(engine, use=use, recipient=recipient, as_of=as_of)
    result = build_dataset(
        source,
        snapshot=snap,
        out_dir=out,
        use=use,
        recipient=recipient,
        as_of=as_of,
        shards=shards,
        shard_by=shard_by,  # type: ignore[arg-type]
        column_map=column_map,
        engine=gate_engine,  # type: ignore[arg-type]
        redactor=redactor,
        batch_rows=batch_rows,
        workers=workers,
        progress=progress,
    )
    try:
        with engine.begin() as conn:
            manifest, manifest_sha = proofs.commit_members(
                conn,
                Path(out),
                result.manifest,
                result.member_counts.column("member_id").to_pylist(),
            )
            result = dataclasses.replace(result, manifest=manifest, manifest_sha256=manifest_sha)
            registry.register_dataset(
                conn,
                manifest=result.manifest,
                manifest_sha256=result.manifest_sha256,
                path=str(Path(out).resolve()),
                member_counts=result.member_counts,
                at=utcnow(),
            )
            if recipient != FIRST_PARTY:  # issue 5: a third-party build is a disclosure
                store_remediation.record_disclosure(
                    conn,
                    dataset_id=result.dataset_id,
                    recipient=recipient,
                    records=result.counts.included,
                    members=result.member_counts.num_rows,
                    at=utcnow(),
                    source="build",
                )
    except BaseException:
        import shutil

        shutil.rmtree(out, ignore_errors=True)
        raise
    logger.info(
        "dataset built: %d of %d records included", result.counts.included, result.counts.input
    )
    return result


def check_categories(engine: sa.Engine, source: Path, column_map: dict[str, str] | None) -> None:
    """Refuse a source whose category column holds a key the taxonomy does not know."""
    with engine.connect() as conn:
        taxonomy = ledger.load_taxonomy(conn)
    unknown = sorted(
        open_source(source, column_map=column_map).categories() - taxonomy.data_categories
    )
    if unknown:
        raise TaxonomyError(
            "data category", unknown[0], f"in {source}; all unknown: {', '.join(unknown)}"
        )


def make_redactor(engine: sa.Engine, profile: Path | None = None, *, ner: bool = True) -> Any:
    """The gate's redactor: ``profile`` (default: the shipped one) with every member's name,
    email and phone as the people directory (names are found case-insensitively, with the
    variants in docs/redaction.md) and, unless ``ner`` is false, the spaCy NER backend
    when the ``ner`` extra is installed (other people's names and places)."""
    from consentgate.redact import Directory, Redactor, default_profile, load_profile
    from consentgate.redact.ner import default_ner

    with engine.connect() as conn:
        directory = Directory.from_arrow(ledger.directory_table(conn))
    backend = default_ner() if ner else None
    return Redactor(load_profile(profile) if profile else default_profile(), directory, ner=backend)


def list_datasets(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return registry.list_datasets(conn)


def dataset_member_ids(engine: sa.Engine, dataset_id: str) -> list[str]:
    with engine.connect() as conn:
        return registry.dataset_member_ids(conn, dataset_id)


def impact(engine: sa.Engine, member_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        if ledger.get_member(conn, member_id) is None:
            raise NotFound("member", member_id)
        return registry.member_impact(conn, member_id)


def exposure(
    engine: sa.Engine,
    source: Path,
    *,
    use: str,
    recipient: str,
    as_of: datetime,
    column_map: dict[str, str] | None = None,
    per_member_usd: float = 1000.0,
) -> ExposureReport:
    """Re-check any dataset with the gate's columns against the ledger (nothing recorded)."""
    snap = workspace.build_snapshot(engine, use=use, recipient=recipient, as_of=as_of, record=False)
    return audit_dataset(
        source, snapshot=snap, column_map=column_map, per_member_usd=per_member_usd
    )
