"""Checks every command runs before touching the ledger: refuse broken or exposed state.

Like ``ssh`` with a private key others can read, ``consentgate`` refuses to start
(``BrokenWorkspace``, exit 1, one line saying what to do) rather than fail later with a
traceback, or worse, work on:

* a SQLite ledger file readable by other users (it holds names, emails, phones and the
  workspace secret): ``chmod 600`` (or 640) it;
* a ledger whose workspace secret is gone (every audit digest depends on it);
* a signing key file that is readable by others, unreadable or not a signing key;
* a missing signing key file when the ledger already has signed checkpoints (the log's
  key was lost or moved: point ``CONSENTGATE_SIGNING_KEY`` at it).

Files consentgate creates get the mode its umask allows (``Settings.umask``, default
``027``: files 640, directories 750; ``apply_umask``). Pure checks over the engine and
paths; the CLI calls ``check_workspace`` once per command.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from consentgate.errors import BrokenWorkspace, InvalidInput, NotFound

if TYPE_CHECKING:  # the umask is set before any command runs, --help included: stay light
    import sqlalchemy as sa

__all__ = ["apply_umask", "check_ledger_file", "check_workspace", "parse_umask"]


def parse_umask(text: str) -> int:
    """An octal umask (``"027"``); ``InvalidInput`` naming the setting otherwise."""
    try:
        value = int(text, 8)
    except ValueError:
        raise InvalidInput(f"umask: not an octal number: {text!r}") from None
    if not 0 <= value <= 0o777:
        raise InvalidInput(f"umask: out of range: {text!r}")
    if not value & 0o002:
        raise InvalidInput("umask: must at least remove write access for others (e.g. 027)")
    return value


def apply_umask(text: str) -> None:
    if os.name == "posix":
        os.umask(parse_umask(text))


def sqlite_path(engine: sa.Engine) -> Path | None:
    """The SQLite ledger's file, or None (PostgreSQL, in-memory)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def check_ledger_file(path: Path) -> None:
    """Refuse a ledger file (or its WAL / shared-memory file) that others may read."""
    if os.name != "posix":  # pragma: no cover - POSIX modes only
        return
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            mode = stat.S_IMODE(candidate.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o007:
            raise BrokenWorkspace(
                f"{candidate}: the ledger is accessible to other users (mode {mode:o}); "
                f"it holds personal data and the workspace secret: run chmod 600 {candidate}"
            )


def check_workspace(engine: sa.Engine, key_file: Path) -> None:
    """Every start-up check above; call after the schema is known to be current."""
    import sqlalchemy as sa

    from consentgate.store import tables as t
    from consentgate.store.audit import SECRET_KEY
    from consentgate.tlog.checkpoint import load_signer

    ledger = sqlite_path(engine)
    if ledger is not None:
        check_ledger_file(ledger)
    with engine.connect() as conn:
        secret = conn.execute(sa.select(t.meta.c.value).where(t.meta.c.key == SECRET_KEY)).scalar()
        signed = conn.execute(sa.select(sa.func.count()).select_from(t.log_checkpoints)).scalar()
    if not secret:
        raise BrokenWorkspace(
            "the ledger's workspace secret is missing (table meta): the ledger is damaged "
            "and its audit digests cannot be checked; restore it from a backup"
        )
    try:
        load_signer(key_file)
    except NotFound:
        if signed:
            raise BrokenWorkspace(
                f"{key_file}: the signing key is missing, but the ledger has {signed} signed "
                "checkpoint(s): restore the key file (or set CONSENTGATE_SIGNING_KEY to it)"
            ) from None
    except InvalidInput as exc:
        raise BrokenWorkspace(str(exc)) from None
