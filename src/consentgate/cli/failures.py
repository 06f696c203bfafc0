"""One line for a failure that escapes a use case: a database error (no statement, no
parameters: they may hold personal data) or a failed file operation (a full disk)."""

from __future__ import annotations

import errno

import sqlalchemy as sa

from consentgate.errors import DatabaseUnavailable

__all__ = ["database_error", "file_error"]


def database_error(exc: sa.exc.DBAPIError) -> DatabaseUnavailable:
    """A one-line description of a database failure: the driver's error class and the
    first line of its message for connection problems (no statement, no parameters);
    only the class for the rest (a constraint's message can quote a key's value)."""
    orig = exc.orig
    kind = type(orig).__name__ if orig is not None else type(exc).__name__
    first = str(orig).strip().splitlines()[0] if orig is not None and str(orig).strip() else ""
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) and first:
        if exc.connection_invalidated or "terminat" in first.lower() or "closed" in first:
            return DatabaseUnavailable(
                f"the database connection was lost ({kind}: {first}); the interrupted "
                "command's transaction was rolled back: run it again (imports are "
                "idempotent by event id)"
            )
        return DatabaseUnavailable(f"database error ({kind}: {first}); nothing was written")
    return DatabaseUnavailable(
        f"database error ({kind}); the command's transaction was rolled back"
    )


def file_error(exc: OSError) -> str:
    """One line for a failed file operation (a full disk, a permission): the file, the
    system's reason. Outputs are written in staging places and removed on failure, so
    nothing partial is left under an output's name and nothing was registered."""
    reason = exc.strerror or type(exc).__name__
    name = errno.errorcode.get(exc.errno or 0, "")
    where = f"{exc.filename}: " if exc.filename else ""
    hint = " (free some space and run the command again)" if exc.errno in _FULL else ""
    return (
        f"{where}{reason}{f' [{name}]' if name else ''}{hint}; the partial output was "
        "removed and nothing was registered"
    )


_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
