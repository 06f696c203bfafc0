"""The audit log's status for the officer: verified or not, its size, its latest checkpoint
(``GET /api/v1/audit/verify``, ``/audit/checkpoints/latest``, the console's audit page).

``audit_status`` runs what ``consentgate audit verify`` runs (``log.verify_log``, the rule
that a log with entries has a signed checkpoint, the comparison with the checkpoint kept
outside the database) and reports a broken log as ``ok`` False with the reason, rather than
raising, so a page can show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from consentgate.errors import AuditChainBroken
from consentgate.store import transparency as store_tlog
from consentgate.tlog.receipts import LoggedCheckpoint
from consentgate.workspace.autocheckpoint import compare_outside, latest_path, stored_checkpoints
from consentgate.workspace.log import verify_log

__all__ = ["AuditStatus", "audit_status", "latest_checkpoint", "require_checkpoint"]


def require_checkpoint(engine: sa.Engine, entries: int) -> None:
    """A log with entries must have a signed checkpoint in the ledger."""
    if entries and not stored_checkpoints(engine):
        raise AuditChainBroken(
            f"the log has {entries} entries but no signed checkpoint in the ledger: "
            "checkpoints were deleted, or never signed (run `consentgate audit checkpoint`; "
            "automatic checkpoints sign one after every command that writes)"
        )


@dataclass(frozen=True, slots=True)
class AuditStatus:
    ok: bool
    entries: int
    rows: int
    head: str
    root: str
    checkpoints: int
    uncovered: int
    latest: LoggedCheckpoint | None
    outside_checkpoint_size: int | None
    problem: str | None = None


def audit_status(engine: sa.Engine, *, key_file: Path, key_dir: Path) -> AuditStatus:
    """Verify the log as ``audit verify`` does (without datasets); a failure is reported."""
    try:
        report = verify_log(engine, key_file=key_file)
        require_checkpoint(engine, report.entries)
        outside = compare_outside(engine, latest_path(key_dir))
    except AuditChainBroken as exc:
        with engine.connect() as conn:
            latest = store_tlog.latest_checkpoint(conn)
        return AuditStatus(
            ok=False,
            entries=0,
            rows=0,
            head="",
            root="",
            checkpoints=0,
            uncovered=0,
            latest=latest,
            outside_checkpoint_size=None,
            problem=str(exc).split("\n", 1)[0],
        )
    log = report.log
    return AuditStatus(
        ok=True,
        entries=report.entries,
        rows=report.rows,
        head=report.head,
        root=report.root,
        checkpoints=log.checkpoints if log else 0,
        uncovered=log.uncovered if log else report.entries,
        latest=log.latest if log else None,
        outside_checkpoint_size=outside,
    )


def latest_checkpoint(engine: sa.Engine) -> LoggedCheckpoint | None:
    """The checkpoint signed last, if any."""
    with engine.connect() as conn:
        return store_tlog.latest_checkpoint(conn)
