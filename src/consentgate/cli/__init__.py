"""The ``consentgate`` command line: a thin layer over ``consentgate.workspace``.

Each command parses options, calls one use case, and renders the result (a rich table, or
JSON with ``--json``). Errors: ``ConsentgateError`` → ``Error: ...`` on stderr and its exit
code (1 refused input, 2 usage); click's own usage errors exit 2. A database error that
escapes a use case (a lost connection, a terminated PostgreSQL backend, a damaged SQLite
file) exits 1 with one line naming its kind, never a traceback, and never the statement
or its parameters (they may hold personal data); see ``consentgate.cli.failures``.

Start-up is lazy: ``consentgate --help`` lists the commands from the table below without
importing them, and a command imports only its own module (and what its use case needs).
``tests/test_cli_startup.py`` checks that the table matches the commands.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from consentgate.errors import ConsentgateError

# name -> (module under consentgate.cli, short help shown by --help)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": (
        "policies",
        "Create or upgrade the ledger database (idempotent) and the log's signing key.",
    ),
    "policy": ("policies", "Publish and inspect policy versions."),
    "members": (
        "consent",
        "Import members (data subjects) and record their jurisdiction moves.",
    ),
    "consent": ("consent", "Record consent events and query effective consent."),
    "snapshot": (
        "consent",
        "Write the consent snapshot (member_id, category, covers_from) for (use, recipient, as-of).",
    ),
    "build": (
        "datasets",
        "Gate SOURCE (Parquet file/dir or JSONL) into a consented training dataset at OUT.",
    ),
    "datasets": ("datasets", "List registered datasets."),
    "impact": (
        "datasets",
        "Every registered dataset holding MEMBER's records, as author or participant.",
    ),
    "audit-dataset": (
        "datasets",
        "Re-check any dataset against the ledger at one past time: violations (consent and content), affected members, exposure.",
    ),
    "scan": (
        "redaction",
        'Print one JSON object per input line: {"line", "spans": [{"start", "end", "entity", "category"}], "labels"}.',
    ),
    "models": (
        "models",
        "List registered model versions with their status (or register one).",
    ),
    "disclose": (
        "remediation",
        "Record that DATASET (its id or a unique prefix) was delivered to a third party.",
    ),
    "remediation": (
        "remediation",
        "List remediation orders (pending ones by default) with their deadlines.",
    ),
    "remediate": (
        "remediation",
        "Write a new version of DATASET (its id or a unique prefix) without the records that lost consent.",
    ),
    "retrain": (
        "remediation",
        "Retrain MODEL's affected shards (or all, or retire it) and close its orders.",
    ),
    "notices": (
        "notices",
        "List deletion notices sent to third parties, with their status (or send, ack).",
    ),
    "report": ("reports", "Reports for members and auditors."),
    "audit": ("audit", "Verify the tamper-evident audit trail and sign its checkpoints."),
    "receipt": (
        "proofs",
        "Write a receipt for one of MEMBER's consent events as a tlog-proof file: the checkpoint, the entry's inclusion proof, and the log's signed statement of the event.",
    ),
    "verify-receipt": (
        "proofs",
        "Check a consent receipt offline (a tlog-proof file, or the older JSON form); exit 0 when valid, 1 when not (no database).",
    ),
    "proof": (
        "proofs",
        "Write a proof that MEMBER's data is, or is NOT, in a dataset (checkable offline).",
    ),
    "verify-proof": (
        "proofs",
        "Check a dataset membership proof offline: a tlog-proof file (against the log's key or a policy) or the older JSON form (against --root); print whether the member is IN or OUT.",
    ),
    "log": (
        "log",
        "Publish the audit log (C2SP tlog-tiles), have it witnessed, rotate its key.",
    ),
    "witness": (
        "log",
        "A minimal C2SP tlog-witness: its own key, its own state, loopback by default.",
    ),
    "signals": (
        "ecosystem",
        "Machine-readable AI-use preferences (IETF AIPREF, W3C TDMRep): export and import.",
    ),
    "verify-dataset": (
        "verify",
        "Check every file of a dataset against its manifest, the manifest against the registry and the audit log, and recompute records_root and members_root.",
    ),
    "serve": (
        "service",
        "Serve the HTTP API (docs/service.md) on the database the CLI uses, with JSON logs on stderr.",
    ),
    "keys": ("service", "API keys of the service's clients (pipeline, officer, admin)."),
    "demo": ("demo", "Build a demo workspace modelled on the case and walk through it."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported when run (or when their own help is asked)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self._load(cmd_name)
        return self.commands.get(cmd_name)

    def _load(self, cmd_name: str) -> None:
        from consentgate.cli.common import flags_in_errors

        module = importlib.import_module(f"consentgate.cli.{COMMANDS[cmd_name][0]}")
        for command in module.COMMANDS:
            if command.name == cmd_name:
                flags_in_errors(command)
                self.add_command(command)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(n) for n in COMMANDS)
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands:
                rows.append((name, self.commands[name].get_short_help_str(limit)))
            else:
                stub = click.Command(name, help=COMMANDS[name][1])
                rows.append((name, stub.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    from consentgate.cli.common import AppContext
    from consentgate.config import Settings

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    overrides = {"db_url": db_url} if db_url else {}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    from consentgate.workspace.startup import apply_umask

    apply_umask(settings.umask)
    ctx.obj = AppContext(settings)


@cli.result_callback()
def _after_command(_result: object, **_params: object) -> None:
    """After a command that succeeded: sign a checkpoint if it grew the log."""
    from consentgate.cli.common import AppContext

    app = click.get_current_context().obj
    engine = app.opened_engine if isinstance(app, AppContext) else None
    if engine is None or not app.settings.auto_checkpoint:
        return
    from consentgate.workspace.autocheckpoint import after_command

    after_command(
        engine,
        app.settings.signing_key_path,
        app.settings.key_dir,
        every=app.settings.checkpoint_every,
    )


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
    except OSError as exc:
        from consentgate.cli.failures import file_error

        click.echo(f"Error: {file_error(exc)}", err=True)
        sys.exit(1)
    except Exception as exc:
        # A database error is only possible once a command has imported SQLAlchemy.
        sa = sys.modules.get("sqlalchemy")
        if sa is None or not isinstance(exc, sa.exc.DBAPIError):
            raise
        from consentgate.cli.failures import database_error

        error = database_error(exc)
        click.echo(f"Error: {error}", err=True)
        sys.exit(error.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)


__all__ = ["COMMANDS", "cli", "main"]
