"""Files under faults: a full disk during build and snapshot, fsync before registering,
and a PostgreSQL backend terminated in the middle of an import (issues 16.6 and 17.6).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import CliResult, build_args

from consentgate.gate import parts, staging
from consentgate.store import ledger
from consentgate.store import tables as t
from consentgate.store.engine import make_engine

Cli = Callable[..., CliResult]
pytestmark = pytest.mark.postgres


def _disk_full(*_args: Any, **_kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "part-00000.parquet")


def test_disk_full_during_build_leaves_nothing(
    cli: Cli, world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "posts"
    with monkeypatch.context() as patch:
        patch.setattr(parts.PartWriter, "_write", _disk_full)
        r = cli(*build_args(world, out))
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    assert "No space left on device" in r.stderr and "ENOSPC" in r.stderr
    assert not out.exists() and not list(tmp_path.glob(".posts.tmp-*"))
    assert cli("datasets", "--json").json() == []
    assert cli(*build_args(world, out)).exit_code == 0  # and it works once there is space


def test_disk_full_during_snapshot_leaves_nothing(
    cli: Cli, world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    out = tmp_path / "snaps" / "grants.parquet"
    r = cli("snapshot", "--use", "train_ai_system", "--recipient", "first_party", "--out", str(out))
    monkeypatch.setattr(os, "fsync", real)
    assert r.exit_code == 1 and "Traceback" not in r.stderr and "ENOSPC" in r.stderr
    assert list((tmp_path / "snaps").iterdir()) == []


def test_parts_manifest_and_directories_are_synced_before_registering(
    cli: Cli, world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: set[str] = set()
    real = os.fsync

    def record(fd: int) -> None:
        synced.add(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    at_registration: list[set[str]] = []
    monkeypatch.setattr(os, "fsync", record)
    staging.install_hook(
        lambda stage: at_registration.append(set(synced)) if stage == "registered" else None
    )
    try:
        out = tmp_path / "posts"
        assert cli(*build_args(world, out, "--shards", "2")).exit_code == 0
    finally:
        staging.install_hook(None)
    assert at_registration, "the build never reached registration"
    done = at_registration[0]
    staged = {Path(p).parent.name for p in done if p.endswith("manifest.json")}
    assert len(staged) == 1  # the staging directory, synced before its rename
    name = staged.pop()
    files = [p.relative_to(out) for p in out.rglob("*") if p.is_file()]
    for rel in files:
        assert str(tmp_path / name / rel) in done, rel
    assert str(tmp_path / name) in done and str(tmp_path / name / "data") in done
    assert str(tmp_path) in synced  # the parent, after the rename


def test_postgres_backend_terminated_mid_import(
    cli: Cli, db_url: str, tmp_path: Path, world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL backends only")
    events = tmp_path / "more.jsonl"
    events.write_text(
        "".join(
            f'{{"event_id": "t{i}", "member_id": "u1", "type": "grant", '
            f'"setting": "ai_training_posts", "policy_version": "v2", '
            f'"effective_at": "2024-10-0{1 + i % 9}T00:00:00Z"}}\n'
            for i in range(50)
        )
    )
    admin = make_engine(db_url)

    def count() -> int:
        with admin.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(t.consent_events)).scalar_one()
            )

    before = count()
    real = ledger.insert_events

    def terminated(conn: sa.Connection, *args: Any, **kwargs: Any) -> Any:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with admin.connect() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return real(conn, *args, **kwargs)

    monkeypatch.setattr(ledger, "insert_events", terminated)
    r = cli("consent", "import", str(events))
    monkeypatch.setattr(ledger, "insert_events", real)
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    assert "connection was lost" in r.stderr and "run it again" in r.stderr
    assert count() == before  # rolled back
    again = cli("consent", "import", str(events), "--json")
    assert again.exit_code == 0 and again.json()["added"] == 50
    assert cli("consent", "import", str(events), "--json").json()["added"] == 0  # idempotent
    assert count() == before + 50
    admin.dispose()
    assert cli("audit", "verify").exit_code == 0
