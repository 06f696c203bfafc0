"""Engines and schema migrations (Alembic), for SQLite and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

from consentgate.errors import ConsentgateError, UsageError

logger = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


HEAD_REVISION = "0008"
"""The newest migration (``migrations/versions``); a test pins it to Alembic's head."""


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` as psycopg 3 URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> sa.Engine:
    url = normalize_url(url)
    try:
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
        engine = sa.create_engine(url, **kwargs)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise UsageError(f"invalid database URL: {exc}") from exc
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            # Deleted and overwritten content is zeroed, not left in free space: an erasure
            # must not leave the member's details readable in the file (docs/transparency.md).
            cur.execute("PRAGMA secure_delete=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA cache_size=-65536")  # 64 MiB: bulk imports touch many index pages
            cur.close()

    return engine


def _alembic_config(conn: sa.Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def upgrade(engine: sa.Engine) -> str:
    """Create or upgrade the schema to the newest revision; idempotent. Returns the revision."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "head")
            return MigrationContext.configure(conn).get_current_revision() or ""
    except sa.exc.OperationalError as exc:
        raise ConsentgateError(f"cannot open database: {exc.orig}") from exc


def check_current(engine: sa.Engine) -> None:
    """Refuse to work on a database that is missing or behind (``init_workspace`` fixes it).

    Reads ``alembic_version`` directly and compares it with ``HEAD_REVISION``, so a command
    that only reads the ledger does not import Alembic (``tests/test_store.py`` checks that
    ``HEAD_REVISION`` is the migrations' head)."""
    version = sa.table("alembic_version", sa.column("version_num", sa.String))
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                current = None
            else:
                rows = conn.execute(sa.select(version.c.version_num)).scalars().all()
                current = rows[0] if len(rows) == 1 else None
    except sa.exc.OperationalError as exc:
        raise ConsentgateError(f"cannot open database: {exc.orig}") from exc
    if current != HEAD_REVISION:
        raise ConsentgateError(
            "the database is not initialised or is out of date: initialise or upgrade it "
            "first (`init_workspace`)"
        )


def reclaim_freed_pages(engine: sa.Engine) -> None:
    """Make SQLite drop the old page images it still keeps after personal data was erased.

    ``secure_delete`` zeroes what a change frees inside the database file, but in WAL mode
    the previous versions of changed pages stay in the ``-wal`` file until a checkpoint
    overwrites them: checkpoint and truncate it. Readers in other processes can keep the
    checkpoint from finishing; it is then retried by SQLite's next automatic checkpoint
    (logged). PostgreSQL: nothing to do here (see docs/transparency.md, "Erasure").
    """
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").scalar()
    if busy:
        logger.warning("the SQLite write-ahead log could not be truncated after an erasure")
