"""Broken or exposed state is refused at start with one clear line (issues 16.5 and 17.6).

A deleted workspace secret, a corrupt, missing or exposed signing key and a
world-readable SQLite ledger: every command exits 1 saying what is wrong and what to do,
never with a traceback. Files consentgate creates get the umask's mode (default 027).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import CliResult, build_args

from consentgate.store import tables as t
from consentgate.store.engine import make_engine

Cli = Callable[..., CliResult]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _refused(r: CliResult, *words: str) -> None:
    assert r.exit_code == 1, r
    assert "Traceback" not in r.stderr and r.stderr.startswith("Error: ")
    for word in words:
        assert word in r.stderr, r.stderr


@pytest.mark.postgres
def test_deleted_workspace_secret(cli: Cli, db_url: str) -> None:
    assert cli("init").exit_code == 0
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(t.meta.delete().where(t.meta.c.key == "workspace_secret"))
    engine.dispose()
    _refused(cli("datasets"), "workspace secret is missing", "restore it from a backup")


@pytest.mark.postgres
def test_corrupt_signing_key(cli: Cli, tmp_path: Path) -> None:
    assert cli("init").exit_code == 0
    key = tmp_path / "keys" / "log.key"
    key.write_text("PRIVATE+KEY+garbage\n")
    _refused(cli("datasets"), str(key), "not a signing key")


@pytest.mark.postgres
def test_missing_signing_key_once_checkpoints_exist(cli: Cli, tmp_path: Path) -> None:
    assert cli("init").exit_code == 0
    assert cli("audit", "checkpoint").exit_code == 0
    (tmp_path / "keys" / "log.key").unlink()
    _refused(cli("datasets"), "signing key is missing", "signed checkpoint")


@pytest.mark.postgres
def test_signing_key_readable_by_others(cli: Cli, tmp_path: Path) -> None:
    assert cli("init").exit_code == 0
    key = tmp_path / "keys" / "log.key"
    key.chmod(0o644)
    _refused(cli("datasets"), "accessible to other users", f"chmod 600 {key}")


def test_world_readable_ledger(cli: Cli, db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL: the server owns its files")
    assert cli("init").exit_code == 0
    ledger = Path(db_url.removeprefix("sqlite:///"))
    assert _mode(ledger) & 0o007 == 0, oct(_mode(ledger))
    ledger.chmod(0o644)
    _refused(cli("datasets"), "accessible to other users", "chmod 600")
    ledger.chmod(0o600)
    assert cli("datasets").exit_code == 0


def test_files_are_created_under_the_umask(
    cli: Cli, db_url: str, world: Path, tmp_path: Path
) -> None:
    if db_url.startswith("sqlite"):
        assert _mode(tmp_path / "ledger.db") == 0o640
    out = tmp_path / "posts"
    assert cli(*build_args(world, out, "--shards", "2")).exit_code == 0
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files and {_mode(p) for p in files} == {0o640}
    assert {_mode(p) for p in [out, *[p for p in out.rglob("*") if p.is_dir()]]} == {0o750}


def test_a_bad_umask_is_refused(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSENTGATE_UMASK", "020")
    previous = os.umask(0o022)
    try:
        r = cli("datasets")
    finally:
        os.umask(previous)
    _refused(r, "umask")
