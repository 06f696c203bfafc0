"""The log's tampering cases a local check can catch once checkpoints are automatic and
the latest one is kept outside the database (issue 16.4). What it still cannot catch is
in docs/transparency.md ("What a local check cannot see").
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import CliResult

from consentgate.store import tables as t
from consentgate.store.engine import make_engine

Cli = Callable[..., CliResult]
pytestmark = pytest.mark.postgres


def _setup(cli: Cli, examples: Path, tmp_path: Path) -> None:
    assert cli("init").exit_code == 0
    assert cli("policy", "publish", str(examples / "policy-v1.yaml")).exit_code == 0
    assert cli("policy", "publish", str(examples / "policy-v2.yaml")).exit_code == 0
    (tmp_path / "m.csv").write_text("member_id,jurisdiction\nu1,US\ne1,EU\n")
    assert cli("members", "import", str(tmp_path / "m.csv")).exit_code == 0


def _withdraw(cli: Cli) -> None:
    r = cli(
        "consent", "record", "u1", "--setting", "ai_training_posts", "--type", "withdraw",
        "--effective-at", "2024-10-05T00:00:00Z", "--event-id", "w1",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr


def _copy(source: str, target: str) -> None:
    """A consistent copy of a SQLite database (WAL included), through SQLite's backup API."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def test_every_write_is_checkpointed_and_kept_outside(
    cli: Cli, db_url: str, examples: Path, tmp_path: Path
) -> None:
    _setup(cli, examples, tmp_path)
    _withdraw(cli)
    r = cli("audit", "verify", "--json")
    assert r.exit_code == 0, r.stderr
    report = r.json()
    assert report["uncovered"] == 0 and report["checkpoints"] >= 4
    assert report["outside_checkpoint_size"] == report["entries"]
    outside = (tmp_path / "keys" / "checkpoint.latest").read_text()
    engine = make_engine(db_url)
    with engine.connect() as conn:
        c = t.log_checkpoints.c
        latest = conn.execute(sa.select(c.note).order_by(c.number.desc()).limit(1)).scalar()
    engine.dispose()
    assert latest == outside


def test_deleting_every_checkpoint_is_caught(
    cli: Cli, db_url: str, examples: Path, tmp_path: Path
) -> None:
    _setup(cli, examples, tmp_path)
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(t.log_blocks.delete())
        conn.execute(t.log_checkpoints.delete())
    engine.dispose()
    r = cli("audit", "verify")
    assert r.exit_code == 1 and "no signed checkpoint" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_ledger_rolled_back_to_an_older_copy_is_caught(
    cli: Cli, db_url: str, examples: Path, tmp_path: Path
) -> None:
    """The withdrawal recorded after the copy was made would be silently lost."""
    if not db_url.startswith("sqlite"):
        pytest.skip("copies the SQLite file")
    _setup(cli, examples, tmp_path)
    ledger = db_url.removeprefix("sqlite:///")
    _copy(ledger, str(tmp_path / "old.db"))
    _withdraw(cli)
    assert cli("audit", "verify").exit_code == 0
    _copy(str(tmp_path / "old.db"), ledger)  # the whole ledger, as it was before
    r = cli("audit", "verify")
    assert r.exit_code == 1 and "rolled back" in r.stderr, r.stderr
