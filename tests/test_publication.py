"""A build killed at any stage leaves nothing, or the complete and registered dataset
(SQLite and PostgreSQL); files are fsynced before the rename; stale staging directories
are cleaned up."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import CliResult, build_args

from consentgate import workspace
from consentgate.files import STAGES
from consentgate.gate.manifest import dataset_id_of
from consentgate.store import registry
from consentgate.store.engine import make_engine

Cli = Callable[..., CliResult]

KILLER = """
import os, signal, sys
from consentgate import files
def hook(stage):
    if stage == sys.argv[1]:
        os.kill(os.getpid(), signal.SIGKILL)

files.install_hook(hook)
from consentgate.cli import main
main(sys.argv[2:])
"""


def complete(out: Path) -> dict[str, object]:
    """``out`` holds a whole dataset: every file its manifest names, with its hash."""
    manifest: dict[str, object] = json.loads((out / "manifest.json").read_text())
    assert manifest["dataset_id"] == dataset_id_of(manifest) and "members_root" in manifest
    for f in manifest["files"]:  # type: ignore[attr-defined]
        data = (out / f["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"]
    return manifest


@pytest.fixture
def engine(db_url: str) -> sa.Engine:
    eng = make_engine(db_url)
    yield eng  # type: ignore[misc]
    eng.dispose()


@pytest.mark.parametrize("stage", STAGES)
def test_a_build_killed_at_any_stage_leaves_nothing_or_the_registered_dataset(
    cli: Cli, world: Path, tmp_path: Path, db_url: str, engine: sa.Engine, stage: str
) -> None:
    out = tmp_path / "acme"
    args = build_args(world, out, "--shards", "2", recipient="acme-ai")
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, stage, "--db", db_url, *args],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()  # it reached the stage
    # right after the crash: whatever is under the final name is complete and registered
    with engine.connect() as conn:
        rows = registry.list_datasets(conn)
    if out.exists():
        manifest = complete(out)
        assert [r["dataset_id"] for r in rows] == [manifest["dataset_id"]]
    registered = stage in ("registered", "renamed", "published")
    assert len(rows) == int(registered)
    # any later command finishes the interrupted publication first
    listed = cli("datasets", "--json")
    assert listed.exit_code == 0, listed.stderr
    if registered:
        manifest = complete(out)
        (row,) = listed.json()
        assert row["dataset_id"] == manifest["dataset_id"] and row["path"] == str(out.resolve())
        data = (out / "manifest.json").read_bytes()
        assert row["manifest_sha256"] == hashlib.sha256(data).hexdigest()
        assert [d.dataset_id for d in workspace.list_disclosures(engine)] == [row["dataset_id"]]
        assert (
            cli("impact", "e2", "--json").json()["datasets"][0]["dataset_id"] == row["dataset_id"]
        )
    else:
        assert listed.json() == [] and not out.exists()
        assert workspace.list_disclosures(engine) == []
    with engine.connect() as conn:
        assert registry.staged_datasets(conn) == []
    assert cli("audit", "verify").exit_code == 0
    # the same build again: nothing stale is left beside the dataset
    again = cli(*args, "--json")
    assert again.exit_code == 0, again.stderr
    assert again.json()["registered"] is not registered
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".acme")) == []


def test_recovery_marks_a_registered_dataset_whose_files_vanished(
    cli: Cli, world: Path, tmp_path: Path, db_url: str, engine: sa.Engine
) -> None:
    out = tmp_path / "posts"
    args = build_args(world, out)
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, "registered", "--db", db_url, *args],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL
    for staged in tmp_path.glob(".posts.tmp-*"):
        if staged.is_dir():
            import shutil

            shutil.rmtree(staged)
    listed = cli("datasets", "--json").json()
    assert [d["status"] for d in listed] == ["purged"] and not out.exists()


# --------------------------------------------------------------------- fsync, staleness


def test_every_file_and_directory_is_fsynced_before_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gate_data as gd
    import pyarrow.parquet as pq
    from test_gate_run import SNAPSHOT, SPEC, build

    from consentgate import files

    source = tmp_path / "records.parquet"
    pq.write_table(gd.record_table(SPEC), source)
    synced: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    renamed: list[tuple[str, list[str]]] = []

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        renamed.append((str(src), list(synced)))
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(files.os, "replace", replace)
    result = build(source, tmp_path / "ds", SNAPSHOT, shards=3)
    ((staged, before),) = renamed
    written = [str(p).replace(str(result.out_dir), staged) for p in result.out_dir.rglob("*")]
    assert set(written) | {staged} <= set(before)  # files, data/ and the directory itself
    assert synced[len(before) :] == [str(tmp_path)]  # then the parent, for the rename


def test_a_stale_staging_directory_is_removed_unless_its_writer_lives(tmp_path: Path) -> None:
    import fcntl

    from consentgate.files import atomic_directory

    dead, alive = tmp_path / ".ds.tmp-dead", tmp_path / ".ds.tmp-alive"
    for staged in (dead, alive):
        (staged / "data").mkdir(parents=True)
        (staged.parent / (staged.name + ".lock")).write_text("")
    held = os.open(tmp_path / ".ds.tmp-alive.lock", os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        with atomic_directory(tmp_path / "ds") as tmp:
            (tmp / "x").write_text("x")
        assert not dead.exists() and alive.exists()  # its writer still holds the lock
        assert (tmp_path / "ds" / "x").read_text() == "x"
    finally:
        os.close(held)

    def decline(staged: Path, final: Path) -> bool:
        return False

    # the writer died, but a registered dataset waits in it: kept for recovery
    with atomic_directory(tmp_path / "ds", publish=decline, keep=lambda p: p == alive):
        pass
    assert alive.exists()
    with atomic_directory(tmp_path / "ds", publish=decline):
        pass
    assert not alive.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
