"""Engines and schema migrations (Alembic), for SQLite and PostgreSQL (psycopg 3).

SQLite and concurrent writers (several ``consentgate`` processes on one ledger file):

* WAL journal, so readers never block the writer nor the writer the readers;
* every *write* transaction — ``engine.begin()``, which is how every use case writes —
  starts with ``BEGIN IMMEDIATE``: it takes the write lock before its first read, so what
  it reads (the next ``seq``, the latest policy, the log's head) cannot change before it
  writes. A deferred transaction that read first and then tried to write would fail with
  "database is locked" however long it waited (its snapshot is stale), or, worse, compute
  a ``seq`` another writer has just used. Read-only work (``engine.connect()``) starts a
  deferred ``BEGIN`` and never takes the write lock;
* a busy timeout (``busy_timeout`` seconds, ``CONSENTGATE_BUSY_TIMEOUT``) for each attempt
  to take the lock, and ``LOCK_ATTEMPTS`` attempts in all; after that ``DatabaseBusy``
  (exit 1, "the ledger is locked by another process ... nothing was written").

PostgreSQL: a write transaction starts by taking a transaction-level advisory lock for
the ledger's schema (``pg_advisory_xact_lock``), under ``lock_timeout`` = the busy
timeout, so that two writers (two ``policy publish``, two imports) run one after the
other, each reading what the previous one committed, exactly as on SQLite. (Every write
also appends to the audit log, which already serialised them at the append; the lock
moves that point to the start, before the reads the write depends on.)

Python's ``sqlite3`` module would otherwise start transactions itself, lazily and only
before a data change; it is switched off (``isolation_level = None``) and the ``begin``
event issues the statements above (the SQLAlchemy recipe for SQLite transactions).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

from consentgate.errors import ConsentgateError, DatabaseBusy, UsageError

logger = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


HEAD_REVISION = "0011"
"""The newest migration (``migrations/versions``); a test pins it to Alembic's head."""


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` as psycopg 3 URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


POOL_SIZE = 16
POOL_OVERFLOW = 16
"""PostgreSQL connections per engine: kept idle at most, and opened beyond that at most."""

LOCK_ATTEMPTS = 3
"""Attempts to take SQLite's write lock, each waiting up to the busy timeout."""
DEFAULT_BUSY_TIMEOUT = 30.0
_WRITE = "consentgate_write"


class LedgerEngine(sa.Engine):
    """An engine whose ``begin()`` marks the transaction as a write (see the module notes)."""

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        with self.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn


def _is_busy(exc: sa.exc.OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text


def make_engine(url: str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> sa.Engine:
    url = normalize_url(url)
    try:
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": busy_timeout}
        elif url.startswith("postgresql"):
            # Connections are opened on demand; the pool keeps up to POOL_SIZE idle ones. At
            # SQLAlchemy's default (5) a service with more requests in flight closed each
            # surplus connection on return and opened a new one (a backend start) for the next.
            kwargs.update(pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)
        engine = sa.create_engine(url, **kwargs)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise UsageError(f"invalid database URL: {exc}") from exc
    engine.__class__ = LedgerEngine
    if engine.dialect.name == "postgresql":

        @sa.event.listens_for(engine, "begin")
        def _lock(conn: sa.Connection) -> None:
            if not conn.get_execution_options().get(_WRITE):
                return
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(busy_timeout * 1000)}ms'")
            try:
                conn.exec_driver_sql(
                    "SELECT pg_advisory_xact_lock(hashtext('consentgate:' || current_schema()))"
                )
            except sa.exc.OperationalError as exc:
                if "lock timeout" not in str(exc.orig).lower():
                    raise
                raise DatabaseBusy(
                    f"the ledger is locked by another process (waited {busy_timeout:g} s); "
                    "nothing was written: run the command again"
                ) from None
            conn.exec_driver_sql("SET LOCAL lock_timeout = 0")

    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # transactions are begun by _begin below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            # Deleted and overwritten content is zeroed, not left in free space: an erasure
            # must not leave the member's details readable in the file (docs/transparency.md).
            cur.execute("PRAGMA secure_delete=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA cache_size=-65536")  # 64 MiB: bulk imports touch many index pages
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            if not conn.get_execution_options().get(_WRITE):
                conn.exec_driver_sql("BEGIN")
                return
            for attempt in range(1, LOCK_ATTEMPTS + 1):
                try:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                    return
                except sa.exc.OperationalError as exc:
                    if not _is_busy(exc):
                        raise
                    logger.warning(
                        "the ledger is locked by another process (attempt %d of %d)",
                        attempt,
                        LOCK_ATTEMPTS,
                    )
            raise DatabaseBusy(
                f"the ledger is locked by another process (waited {LOCK_ATTEMPTS} x "
                f"{busy_timeout:g} s); nothing was written: run the command again"
            )

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
