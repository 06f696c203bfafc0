"""The ``consentgate`` command line: a thin layer over ``consentgate.workspace``.

Each command parses options, calls one use case, and renders the result (a rich table, or
JSON with ``--json``). Errors: ``ConsentgateError`` → ``Error: ...`` on stderr and its exit
code (1 refused input, 2 usage); click's own usage errors exit 2.
"""

from __future__ import annotations

import logging
import sys

import click

from consentgate.cli.common import AppContext, pass_app
from consentgate.config import Settings
from consentgate.errors import ConsentgateError


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
    ctx.obj = AppContext(Settings(**overrides))  # type: ignore[arg-type]


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
    sys.exit(rv if isinstance(rv, int) else 0)


__all__ = ["cli", "main", "pass_app"]
