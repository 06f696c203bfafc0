"""``verify-dataset``: a dataset directory checked against its manifest, its data and the log.

A dataset is what a build (or a remediation) registered: its files, its manifest, its
registry row and the audit entry that committed to that row. Any one of them can be
changed afterwards by someone with access to the files; this module recomputes every
commitment from the data and names each one that no longer holds (a ``Finding``, with
the check's name). The checks, in order:

``manifest``          manifest.json reads and its ``dataset_id`` is the hash of its fields
``counts``            input = included + excluded, and included = the rows of the parts
``part_missing``      every part the manifest lists exists
``part_sha256``       every part's SHA-256 is the manifest's
``part_rows``         every part holds the rows the manifest says (Parquet metadata)
``unlisted_file``     ``data/`` holds no file the manifest does not list
``shard_map``         ``shards.parquet`` has the manifest's SHA-256 (sharded datasets)
``records_root``      the Merkle root over the parts' record ids is the manifest's
``registered``        the dataset id is in the ledger's registry
``manifest_sha256``   the manifest's bytes hash to the registered ``manifest_sha256``
``log_entry``         the registry row is the one the audit log committed to, and a
                      ``dataset.registered`` entry exists for it
``members_root``      the members commitment recomputed from the registered member rows
                      (the rows ``audit verify`` checks against the log) is the manifest's

``check_directory`` needs only the files; ``check_registered`` adds the ledger checks.
A dataset that does not verify must not be the start of a remediation
(``consentgate.withdrawals.datasets.remediate`` calls ``require_verified``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from consentgate.errors import AuditChainBroken, InvalidInput
from consentgate.gate.columns import Columns
from consentgate.gate.manifest import MANIFEST_NAME, SHARDS_NAME, dataset_id_of, records_root
from consentgate.gate.parts import DATA_DIR, sha256_file
from consentgate.proofs import member_commitment
from consentgate.store import audit as store_audit
from consentgate.store import registry
from consentgate.store import tables as t

__all__ = [
    "DatasetReport",
    "Finding",
    "check_directory",
    "check_registered",
    "require_verified",
    "verify_registry",
]


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    path: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}: [{self.check}] {self.detail}"

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "path": self.path, "detail": self.detail}


@dataclass
class DatasetReport:
    directory: Path
    dataset_id: str | None = None
    files: int = 0
    records: int = 0
    checks: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def fail(self, check: str, path: Path | str, detail: str) -> None:
        self.findings.append(Finding(check, str(path), detail))

    def passed(self, check: str) -> None:
        if not any(f.check == check for f in self.findings):
            self.checks.append(check)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "directory": str(self.directory),
            "dataset_id": self.dataset_id,
            "files": self.files,
            "records": self.records,
            "checks_passed": self.checks,
            "findings": [f.as_dict() for f in self.findings],
        }


def _load_manifest(report: DatasetReport) -> dict[str, Any] | None:
    path = report.directory / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        report.fail("manifest", path, f"cannot read the manifest ({type(exc).__name__})")
        return None
    if not isinstance(manifest, dict):
        report.fail("manifest", path, "not a JSON object")
        return None
    try:
        recomputed = dataset_id_of(manifest)
    except (KeyError, TypeError, AttributeError) as exc:
        report.fail("manifest", path, f"a field the dataset id depends on is missing: {exc}")
        return None
    report.dataset_id = str(manifest.get("dataset_id"))
    if manifest.get("dataset_id") != recomputed:
        report.fail("manifest", path, "dataset_id is not the hash of the manifest's fields")
    report.passed("manifest")
    return manifest


def _check_counts(report: DatasetReport, manifest: Mapping[str, Any]) -> None:
    path = report.directory / MANIFEST_NAME
    try:
        counts = manifest["counts"]
        excluded = sum(int(v) for v in counts["excluded"].values())
        listed = sum(int(f["rows"]) for f in manifest["files"])
        if int(counts["input"]) != int(counts["included"]) + excluded:
            report.fail("counts", path, "counts.input is not counts.included + excluded")
        if int(counts["included"]) != listed:
            report.fail("counts", path, "counts.included is not the rows of the listed parts")
    except (KeyError, TypeError, ValueError, AttributeError):
        report.fail("counts", path, "counts or files are malformed")
    report.passed("counts")


def _check_parts(report: DatasetReport, manifest: Mapping[str, Any]) -> list[Path]:
    directory = report.directory
    good: list[Path] = []
    listed: set[str] = set()
    for entry in manifest.get("files") or []:
        rel = str(entry.get("path", ""))
        path = directory / rel
        listed.add(rel)
        if Path(rel).is_absolute() or ".." in Path(rel).parts or not path.is_file():
            report.fail("part_missing", path, "listed in the manifest but not there")
            continue
        report.files += 1
        if sha256_file(path) != entry.get("sha256"):
            report.fail("part_sha256", path, "SHA-256 differs from the manifest")
            continue
        try:
            rows = pq.ParquetFile(path).metadata.num_rows
        except (OSError, pa.ArrowException):
            report.fail("part_rows", path, "not a readable Parquet file")
            continue
        if rows != entry.get("rows"):
            report.fail(
                "part_rows", path, f"holds {rows} rows, the manifest says {entry.get('rows')}"
            )
            continue
        good.append(path)
    data = directory / DATA_DIR
    if data.is_dir():
        for path in sorted(data.rglob("*")):
            if path.is_file() and path.relative_to(directory).as_posix() not in listed:
                report.fail("unlisted_file", path, "in data/ but not listed in the manifest")
    for check in ("part_missing", "part_sha256", "part_rows", "unlisted_file"):
        report.passed(check)
    return good


def _check_shard_map(report: DatasetReport, manifest: Mapping[str, Any]) -> None:
    shards = manifest.get("shards") or {}
    assignment = shards.get("assignment") if isinstance(shards, dict) else None
    path = report.directory / SHARDS_NAME
    if assignment is None:
        if path.exists():
            report.fail("shard_map", path, "present but the manifest lists no shard map")
        report.passed("shard_map")
        return
    path = report.directory / str(assignment.get("path", SHARDS_NAME))
    if not path.is_file():
        report.fail("shard_map", path, "listed in the manifest but not there")
    elif sha256_file(path) != assignment.get("sha256"):
        report.fail("shard_map", path, "SHA-256 differs from the manifest")
    report.passed("shard_map")


def _check_records_root(
    report: DatasetReport, manifest: Mapping[str, Any], parts: list[Path]
) -> None:
    if len(parts) != len(manifest.get("files") or []):
        return  # a part is already reported: the root cannot be recomputed from the data
    try:
        column = Columns.from_map(manifest.get("columns")).id
        arrays = [
            chunk.cast(pa.large_string())
            for path in parts
            for chunk in pq.read_table(path, columns=[column]).column(column).chunks
        ]
        ids = pa.concat_arrays(arrays) if arrays else pa.array([], pa.large_string())
        report.records = len(ids)
        root = records_root(ids)
    except (OSError, KeyError, pa.ArrowException, InvalidInput) as exc:
        report.fail("records_root", report.directory, f"cannot read the record ids: {exc}")
        return
    if root != manifest.get("records_root"):
        report.fail(
            "records_root",
            report.directory / MANIFEST_NAME,
            "records_root is not the root of the parts' record ids",
        )
    report.passed("records_root")


def check_directory(directory: Path) -> tuple[DatasetReport, dict[str, Any] | None]:
    """Every check that needs only the dataset's files."""
    report = DatasetReport(Path(directory))
    if not report.directory.is_dir():
        report.fail("manifest", report.directory, "not a directory")
        return report, None
    manifest = _load_manifest(report)
    if manifest is None:
        return report, None
    _check_counts(report, manifest)
    parts = _check_parts(report, manifest)
    _check_shard_map(report, manifest)
    _check_records_root(report, manifest, parts)
    return report, manifest


def _log_entries(conn: sa.Connection, dataset_id: str) -> list[tuple[str, str | None]]:
    a = t.audit_log.c
    query = (
        sa.select(a.action, a.digest)
        .where(a.entity == "datasets", a.entity_key == dataset_id)
        .order_by(a.idx)
    )
    return [(str(r[0]), r[1]) for r in conn.execute(query)]


def check_registered(engine: sa.Engine, directory: Path) -> DatasetReport:
    """``check_directory`` plus the checks against the ledger (registry, log, members)."""
    report, manifest = check_directory(directory)
    if manifest is None or report.dataset_id is None:
        return report
    path = report.directory / MANIFEST_NAME
    with engine.connect() as conn:
        row = registry.get_dataset(conn, report.dataset_id)
        if row is None:
            report.fail("registered", path, f"dataset {report.dataset_id} is not registered")
            return report
        report.passed("registered")
        if hashlib.sha256(path.read_bytes()).hexdigest() != row["manifest_sha256"]:
            report.fail("manifest_sha256", path, "differs from the manifest registered")
        report.passed("manifest_sha256")
        secret = store_audit.workspace_secret(conn)
        entries = _log_entries(conn, report.dataset_id)
        _, _, _, digest = store_audit.audit_item(secret, "", "datasets", row)
        if not any(action == registry.DATASET_REGISTERED for action, _ in entries):
            report.fail("log_entry", path, "the audit log has no registration entry for it")
        elif entries[-1][1] != digest:
            report.fail("log_entry", path, "the registry row is not the one the log committed to")
        report.passed("log_entry")
        if "members_root" in manifest:
            ids = registry.dataset_member_ids(conn, report.dataset_id)
            commitment = member_commitment(secret, ids, report.dataset_id)
            if commitment["members_root"] != manifest["members_root"] or commitment[
                "members_count"
            ] != manifest.get("members_count"):
                report.fail(
                    "members_root", path, "members_root is not the registered members' root"
                )
            report.passed("members_root")
    return report


def require_verified(engine: sa.Engine, directory: Path) -> None:
    """Refuse (``AuditChainBroken``) to work from a dataset that does not verify."""
    report = check_registered(engine, directory)
    if not report.ok:
        lines = "\n".join(f"  {f}" for f in report.findings)
        raise AuditChainBroken(
            f"{directory}: the dataset does not verify; refusing to start from it "
            f"(`consentgate verify-dataset {directory}` says the same):\n{lines}"
        )


def verify_registry(engine: sa.Engine) -> list[DatasetReport]:
    """``check_registered`` for every registered dataset whose files should exist (not
    purged), in registration order."""
    with engine.connect() as conn:
        rows = [r for r in registry.list_datasets(conn) if r["status"] != "purged"]
    return [check_registered(engine, Path(str(r["path"]))) for r in rows]
