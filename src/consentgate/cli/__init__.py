"""The ``consentgate`` command line: a thin layer over ``consentgate.workspace``.

Each command parses options, calls one use case, and renders the result (a rich table, or
JSON with ``--json``). Errors: ``ConsentgateError`` → ``Error: ...`` on stderr and its exit
code (1 refused input, 2 usage); click's own usage errors exit 2. A database error that
escapes a use case (a lost connection, a terminated PostgreSQL backend, a damaged SQLite
file) exits 1 with one line naming its kind, never a traceback, and never the statement
or its parameters (they may hold personal data).
"""

from __future__ import annotations

import errno
import logging
import sys

import click
import sqlalchemy as sa

from consentgate.cli.common import AppContext, pass_app
from consentgate.config import Settings
from consentgate.errors import ConsentgateError, DatabaseUnavailable


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db_url",
    metavar="URL",
    default=None,
    help="Database URL (default: $CONSENTGATE_DB_URL or sqlite:///consentgate.db).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log progress (counts only) to stderr.")
@click.version_option(package_name="consentgate")
@click.pass_context
def cli(ctx: click.Context, db_url: str | None, verbose: bool) -> None:
    """Decide, enforce and prove which user data may be used to train AI models."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    overrides = {"db_url": db_url} if db_url else {}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    from consentgate.startup import apply_umask

    apply_umask(settings.umask)
    ctx.obj = AppContext(settings)


@cli.result_callback()
def _after_command(_result: object, **_params: object) -> None:
    """After a command that succeeded: sign a checkpoint if it grew the log."""
    app = click.get_current_context().obj
    engine = app.opened_engine if isinstance(app, AppContext) else None
    if engine is None or not app.settings.auto_checkpoint:
        return
    from consentgate.autocheckpoint import after_command

    after_command(
        engine,
        app.settings.signing_key_path,
        app.settings.key_dir,
        every=app.settings.checkpoint_every,
    )


def _register() -> None:
    from consentgate.cli import (
        audit_cmd,
        consent_cmd,
        dataset_cmd,
        demo_cmd,
        ecosystem_cmd,
        log_cmd,
        policy_cmd,
        redact_cmd,
        remediation_cmd,
        transparency_cmd,
        verify_cmd,
    )

    for module in (
        policy_cmd,
        consent_cmd,
        dataset_cmd,
        redact_cmd,
        remediation_cmd,
        audit_cmd,
        transparency_cmd,
        log_cmd,
        verify_cmd,
        demo_cmd,
        ecosystem_cmd,  # issue 13: signals
    ):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> None:
    try:
        rv = cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except ConsentgateError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except sa.exc.DBAPIError as exc:
        error = database_error(exc)
        click.echo(f"Error: {error}", err=True)
        sys.exit(error.exit_code)
    except OSError as exc:
        click.echo(f"Error: {file_error(exc)}", err=True)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)


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


__all__ = ["cli", "database_error", "file_error", "main", "pass_app"]
