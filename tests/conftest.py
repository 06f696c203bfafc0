"""Shared fixtures: a fresh database per test on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from consentgate import workspace
from consentgate.store.engine import make_engine

PG_URL = os.environ.get("CONSENTGATE_TEST_DATABASE_URL")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    if not PG_URL:
        pytest.skip("CONSENTGATE_TEST_DATABASE_URL not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(db_url)
    workspace.init_workspace(eng)
    yield eng
    eng.dispose()


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def cli(
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Callable[..., CliResult]:
    """Run the real entry point against the test database: cli("policy", "list", "--json").

    Key files go to a per-test directory (CONSENTGATE_KEY_DIR), never the working tree.
    """
    from consentgate.cli import main

    monkeypatch.setenv("CONSENTGATE_KEY_DIR", str(tmp_path / "keys"))

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(["--db", db_url, *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return CliResult(code, out.out, out.err)

    return invoke


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def examples() -> Path:
    return EXAMPLES


# --------------------------------------------------------------------------- a small world for builds

AS_OF = "2024-11-01T00:00:00Z"


def build_args(
    source: Path, out: Path, *extra: str, recipient: str = "first_party", as_of: str = AS_OF
) -> list[str]:
    """``consentgate build`` arguments for a train_ai_system dataset of ``source`` at ``out``."""
    return [
        "build",
        str(source),
        "--use",
        "train_ai_system",
        "--recipient",
        recipient,
        "--as-of",
        as_of,
        "--out",
        str(out),
        *extra,
    ]


def _records(path: Path) -> Path:
    rows = [
        # public posts
        {
            "id": "p1",
            "category": "user.content.public",
            "author_id": "u1",
            "recipient_ids": None,
            "created_at": "2024-10-01T00:00:00Z",
            "text": "Mail me at ann.lee@example.com",
        },
        {
            "id": "p2",
            "category": "user.content.public",
            "author_id": "e1",
            "recipient_ids": None,
            "created_at": "2024-10-02T00:00:00Z",
            "text": "hi",
        },
        {
            "id": "p3",
            "category": "user.content.public",
            "author_id": "u2",
            "recipient_ids": [],
            "created_at": "2024-10-03T00:00:00Z",
            "text": "yo",
        },
        {
            "id": "p4",
            "category": "user.content.public",
            "author_id": "u1",
            "recipient_ids": None,
            "created_at": "2024-01-01T00:00:00Z",
            "text": "old",
        },
        {
            "id": "p5",
            "category": "user.content.public",
            "author_id": "ghost",
            "recipient_ids": None,
            "created_at": "2024-10-03T00:00:00Z",
            "text": "?",
        },
        # private messages
        {
            "id": "m1",
            "category": "user.content.private",
            "author_id": "e1",
            "recipient_ids": ["e2"],
            "created_at": "2024-10-05T00:00:00Z",
            "text": "secret",
        },
        {
            "id": "m2",
            "category": "user.content.private",
            "author_id": "e1",
            "recipient_ids": ["u1"],
            "created_at": "2024-10-05T00:00:00Z",
            "text": "secret",
        },
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def world(cli: Callable[..., CliResult], examples: Path, tmp_path: Path) -> Path:
    assert cli("init").exit_code == 0
    for v in ("v1", "v2"):
        assert cli("policy", "publish", str(examples / f"policy-{v}.yaml")).exit_code == 0
    (tmp_path / "m.csv").write_text("member_id,jurisdiction\nu1,US\nu2,US-CA\ne1,EU\ne2,UK\n")
    assert cli("members", "import", str(tmp_path / "m.csv")).exit_code == 0
    events = [
        {
            "member_id": "e1",
            "type": "grant",
            "setting": "ai_training_posts",
            "policy_version": "v2",
            "effective_at": "2024-09-20T00:00:00Z",
            "covers_from": "2024-01-01T00:00:00Z",
        },
        {
            "member_id": "u2",
            "type": "deny",
            "setting": "ai_training_posts",
            "effective_at": "2024-09-25T00:00:00Z",
        },
        {
            "member_id": "e1",
            "type": "grant",
            "setting": "ai_training_messages_partners",
            "policy_version": "v2",
            "effective_at": "2024-09-20T00:00:00Z",
        },
        {
            "member_id": "e2",
            "type": "grant",
            "setting": "ai_training_messages_partners",
            "policy_version": "v2",
            "effective_at": "2024-09-20T00:00:00Z",
        },
    ]
    (tmp_path / "e.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    assert cli("consent", "import", str(tmp_path / "e.jsonl")).exit_code == 0
    return _records(tmp_path / "records.jsonl")


# --------------------------------------------------------------------------- the HTTP service


@pytest.fixture
def service(world: Path, db_url: str, tmp_path: Path) -> Iterator[Any]:
    """The HTTP service over ``world`` (tests/service_world.py)."""
    from service_world import settings_for, start

    yield from start(settings_for(db_url, tmp_path))


@pytest.fixture
def demo_service(world: Path, db_url: str, tmp_path: Path) -> Iterator[Any]:
    """The HTTP service over ``world`` as ``serve --demo`` runs it (the demo login)."""
    from service_world import settings_for, start

    yield from start(settings_for(db_url, tmp_path), demo=True)
