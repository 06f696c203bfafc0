"""A dataset's directory and its registry row appear together (DESIGN.md "The gate").

A build (or a remediation) writes the whole dataset — parts, shard map and a manifest
that already holds ``members_root`` — into a staging directory and ``fsync``s it
(``consentgate.files``). ``Publication`` then:

1. in one transaction, registers the dataset (registry row, member rows, snapshots,
   disclosure, audit entries) together with a journal row in ``dataset_staging`` naming
   the staging directory — the commit point;
2. renames the staging directory to its final name and ``fsync``s the parent;
3. deletes the journal row.

A crash before 1 commits leaves nothing registered and nothing under the final name (the
staging directory is removed by the next build of that name). A crash after 1 leaves a
registered dataset whose complete directory still has its staging name: ``recover``,
which every command runs first, finishes 2 and 3 (roll forward). So a directory under a
dataset's final name is always complete and registered, and a registered dataset always
reaches its final name.

When the dataset id is already registered, nothing is registered and the staging
directory is deleted: rebuilding identical inputs is a verification.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from consentgate.files import reached, rename_into_place
from consentgate.gate.manifest import MANIFEST_NAME
from consentgate.store import registry
from consentgate.timestamps import utcnow

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["MemberSeal", "Publication", "keep_registered", "recover", "register_version"]

logger = logging.getLogger(__name__)

Register = Callable[[sa.Connection, Mapping[str, Any], str, str], None]
"""``register(conn, manifest, manifest_sha256, final_path)``: the writes of step 1."""


@dataclass
class Publication:
    """A publisher (``consentgate.files.Publisher``) that registers as it publishes.

    After it ran, ``identical`` is the registered dataset it declined to register again
    (None when it published).
    """

    engine: sa.Engine
    register: Register
    identical: dict[str, Any] | None = None

    def __call__(self, staged: Path, final: Path) -> bool:
        staged, final = staged.resolve(), final.resolve()
        data = (staged / MANIFEST_NAME).read_bytes()
        manifest = json.loads(data)
        dataset_id = str(manifest["dataset_id"])
        try:
            with self.engine.begin() as conn:
                existing = registry.get_dataset(conn, dataset_id)
                if existing is not None:
                    self.identical = existing
                    return False
                self.register(conn, manifest, hashlib.sha256(data).hexdigest(), str(final))
                registry.stage_dataset(conn, dataset_id, str(staged), at=utcnow())
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        reached("registered")
        _finish(self.engine, dataset_id, staged, final)
        return True


class MemberSeal:
    """The ``seal`` of a build or a remediation: commits the manifest to its members
    (``members_root``, ``members_count``: ``workspace.proofs.member_commitment``) and keeps
    the member counts it was given, for ``register_version``."""

    def __init__(self, workspace_key: bytes) -> None:
        self._key = workspace_key
        self._counts: pa.Table | None = None

    def __call__(self, manifest: Mapping[str, Any], member_counts: pa.Table) -> dict[str, Any]:
        from consentgate.workspace.proofs import member_commitment

        self._counts = member_counts
        ids = member_counts.column("member_id").to_pylist()
        return member_commitment(self._key, ids, str(manifest["dataset_id"]))

    @property
    def member_counts(self) -> pa.Table:
        if self._counts is None:
            raise RuntimeError("the dataset was not sealed")  # a bug, not an input
        return self._counts


def register_version(
    conn: sa.Connection,
    manifest: Mapping[str, Any],
    manifest_sha256: str,
    path: str,
    *,
    member_counts: pa.Table,
    at: datetime,
    supersedes: str | None = None,
) -> None:
    """Register one dataset version (registry row and member rows, audited). A version that
    ``supersedes`` another (a remediation) claims the old one first, so that of two
    concurrent remediations one loses, and marks it superseded."""
    if supersedes is not None:
        registry.claim_active(conn, supersedes)
    registry.register_dataset(
        conn,
        manifest=dict(manifest),
        manifest_sha256=manifest_sha256,
        path=path,
        member_counts=member_counts,
        at=at,
        supersedes=supersedes,
    )
    if supersedes is not None:
        registry.set_dataset_status(conn, supersedes, "superseded", at=at)


def _finish(engine: sa.Engine, dataset_id: str, staged: Path, final: Path) -> None:
    """Steps 2 and 3; safe to run twice at once (a command's recovery and the build)."""
    if staged.is_dir():
        try:
            rename_into_place(staged, final)
        except FileNotFoundError:
            if not (final / MANIFEST_NAME).is_file():
                raise
    reached("renamed")
    with engine.begin() as conn:
        registry.unstage_dataset(conn, dataset_id)
    reached("published")


def recover(engine: sa.Engine) -> int:
    """Finish every publication a crash interrupted after registration; returns how many."""
    with engine.connect() as conn:
        pending = registry.staged_datasets(conn)
    done = 0
    for row in pending:
        staged, final = Path(str(row["staging_path"])), Path(str(row["path"]))
        if not staged.is_dir() and not (final / MANIFEST_NAME).is_file():
            logger.warning("a registered dataset's staged files are gone; marked purged")
            with engine.begin() as conn:
                registry.unstage_dataset(conn, str(row["dataset_id"]))
                registry.set_dataset_status(conn, str(row["dataset_id"]), "purged", at=utcnow())
            continue
        try:
            _finish(engine, str(row["dataset_id"]), staged, final)
        except OSError as exc:
            logger.warning("cannot move a registered dataset into place yet: %s", exc.strerror)
            continue
        done += 1
    if done:
        logger.info("finished %d interrupted dataset publication(s)", done)
    return done


def keep_registered(engine: sa.Engine) -> Callable[[Path], bool]:
    """The ``keep`` test for stale staging directories: keep those a registered dataset
    is waiting in (``recover`` moves them)."""

    def keep(staged: Path) -> bool:
        with engine.connect() as conn:
            return registry.is_staging_path(conn, str(staged.resolve()))

    return keep
