"""The hostile-input campaign's world: one small ledger per database, built once per module
(the ``world`` fixture: test modules import ``world_fixture``; this directory has no
conftest.py, whose module name would shadow tests/conftest.py for the other test modules).

Every hostile input must be refused without changing anything, so the cases of a module
share one ledger and each compares a dump of every table before and after its command (a
case that wrongly changes the ledger fails itself, and the next case starts from the
changed state it can see). ``CONSENTGATE_CAMPAIGN=long`` makes the generated (hypothesis)
cases run many more examples.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from consentgate.store.engine import make_engine

PG_URL = os.environ.get("CONSENTGATE_TEST_DATABASE_URL")
LONG = os.environ.get("CONSENTGATE_CAMPAIGN") == "long"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# A value that stands for personal data: no refusal may echo it.
SECRET_EMAIL = "ann.secret@example.com"


@dataclass(frozen=True)
class Run:
    exit_code: int
    stdout: str
    stderr: str


@dataclass
class World:
    """A ledger with policies v1 and v2, members u1, u2, e1, e2 and one grant (``ev1``)."""

    db_url: str
    dir: Path
    public_key: Path
    receipt: Path
    _engine: sa.Engine
    _meta: sa.MetaData | None = None

    @property
    def is_postgres(self) -> bool:
        return self.db_url.startswith("postgresql")

    def run(self, *args: str) -> Run:
        """The real entry point, in process: any exception other than SystemExit (a
        traceback) propagates and fails the test."""
        from consentgate.cli import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(["--db", self.db_url, *args])
                code = 0
            except SystemExit as exc:
                code = int(exc.code or 0)
        return Run(code, out.getvalue(), err.getvalue())

    def dump(self) -> dict[str, list[tuple[object, ...]]]:
        """Every row of every table, in a stable order."""
        if self._meta is None:
            self._meta = sa.MetaData()
            self._meta.reflect(self._engine)
        meta = self._meta
        out: dict[str, list[tuple[object, ...]]] = {}
        with self._engine.connect() as conn:
            for name, table in sorted(meta.tables.items()):
                rows = conn.execute(sa.select(table)).all()
                out[name] = sorted((tuple(r) for r in rows), key=repr)
        return out

    def files(self) -> set[Path]:
        """Every file under the world's directory (outputs must not appear on refusal)."""
        return {p for p in self.dir.rglob("*") if p.is_file()}


def ledger_url(kind: str, base: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{base / 'ledger.db'}"
        return
    if not PG_URL:
        pytest.skip("CONSENTGATE_TEST_DATABASE_URL not set")
    schema = f"h_{uuid.uuid4().hex[:12]}"
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


def populate(w: World) -> None:
    def ok(*args: str) -> Run:
        r = w.run(*args)
        assert r.exit_code == 0, (args, r.stderr)
        return r

    ok("init")
    for v in ("v1", "v2"):
        ok("policy", "publish", str(EXAMPLES / f"policy-{v}.yaml"))
    members = w.dir / "members.csv"
    members.write_text("member_id,jurisdiction,email\nu1,US,\nu2,US-CA,\ne1,EU,\ne2,UK,\n")
    ok("members", "import", str(members))
    event = {
        "event_id": "ev1",
        "member_id": "u1",
        "type": "grant",
        "setting": "ai_training_posts",
        "policy_version": "v2",
        "effective_at": "2024-09-20T00:00:00Z",
    }
    events = w.dir / "events.jsonl"
    events.write_text(json.dumps(event) + "\n")
    ok("consent", "import", str(events))
    w.public_key.write_text(ok("audit", "public-key").stdout)
    ok("receipt", "u1", "--event", "ev1", "--out", str(w.receipt))


@pytest.fixture(
    name="world",
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def world_fixture(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    base = tmp_path_factory.mktemp(f"hostile-{request.param}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONSENTGATE_KEY_DIR", str(base / "keys"))
        mp.chdir(base)
        for url in ledger_url(str(request.param), base):
            engine = make_engine(url)
            w = World(url, base, base / "log.pub", base / "ev1.receipt", engine)
            populate(w)
            try:
                yield w
            finally:
                engine.dispose()
