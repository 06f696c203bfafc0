"""``consentgate verify-dataset DIR``: a dataset's files, manifest, registry row and log entry."""

from __future__ import annotations

from pathlib import Path

import click

from consentgate.cli.common import AppContext, echo_json, json_option, pass_app
from consentgate.dataset_verify import DatasetReport, check_registered


def print_report(report: DatasetReport) -> None:
    if report.ok:
        click.echo(
            f"Dataset {report.dataset_id} verified: {report.files} file(s), {report.records} "
            f"records; checks passed: {', '.join(report.checks)}"
        )
        return
    click.echo(f"Dataset at {report.directory} does NOT verify:", err=True)
    for finding in report.findings:
        click.echo(f"  {finding}", err=True)


@click.command("verify-dataset")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@json_option
@pass_app
@click.pass_context
def verify_dataset(ctx: click.Context, app: AppContext, directory: Path, as_json: bool) -> None:
    """Check every file of a dataset against its manifest, the manifest against the
    registry and the audit log, and recompute records_root and members_root. Exit 1
    naming each check that fails."""
    report = check_registered(app.engine(), directory)
    if as_json:
        echo_json(report.as_dict())
    else:
        print_report(report)
    if not report.ok:
        ctx.exit(1)


COMMANDS = [verify_dataset]
