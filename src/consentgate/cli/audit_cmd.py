"""``consentgate audit verify``."""

from __future__ import annotations

import click

from consentgate import workspace
from consentgate.cli.common import AppContext, echo_json, json_option, pass_app


@click.group()
def audit() -> None:
    """Verify the tamper-evident audit trail."""


@audit.command("verify")
@json_option
@pass_app
def verify(app: AppContext, as_json: bool) -> None:
    """Check the hash chain and every audited row; exit 1 naming the first broken entry."""
    report = workspace.verify_audit(app.engine())
    if as_json:
        echo_json({"ok": True, "entries": report.entries, "rows": report.rows, "head": report.head})
    else:
        click.echo(
            f"Audit trail intact: {report.entries} entries, {report.rows} rows verified, head {report.head}"
        )


COMMANDS = [audit]
