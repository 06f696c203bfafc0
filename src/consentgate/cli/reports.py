"""``consentgate report dsar`` and ``report training-summary``: reports for members and
auditors."""

from __future__ import annotations

import click

from consentgate import workspace
from consentgate.cli.common import (
    MEMBER_ID,
    AppContext,
    echo_json,
    pass_app,
    print_table,
    shorten,
)
from consentgate.cli.ecosystem import training_summary
from consentgate.encoding import jsonable


@click.group()
def report() -> None:
    """Reports for members and auditors."""


@report.command("dsar")
@click.argument("member", type=MEMBER_ID)
@click.option("--json", "fmt", flag_value="json", help="JSON output.")
@click.option("--html", "fmt", flag_value="html", help="A self-contained HTML page.")
@pass_app
def report_dsar(app: AppContext, member: str, fmt: str | None) -> None:
    """MEMBER's access report: consents, and who holds or held their data."""
    doc = workspace.dsar(app.engine(), member)
    if fmt == "json":
        echo_json(doc)
        return
    if fmt == "html":
        from consentgate.remediation.dsar import render_html

        click.echo(render_html(jsonable(doc)), nl=False)
        return
    doc = jsonable(doc)  # the tables show the same text as --json
    click.echo(f"Member {member} ({doc['jurisdiction']}), {doc['generated_at']}")
    print_table(
        "Choices",
        ["setting", "state", "covers from"],
        [[c["setting"], c["state"], c["covers_from"] or ""] for c in doc["consents"]],
    )
    print_table(
        "Datasets that hold or held their data",
        ["dataset", "recipient", "status", "as author", "as participant"],
        [
            [
                shorten(d["dataset_id"]),
                d["recipient"],
                d["status"],
                d["as_author"],
                d["as_participant"],
            ]
            for d in doc["datasets"]
        ],
    )
    print_table(
        "Models",
        ["model", "status", "unlearning"],
        [[m["model_id"], m["status"], m["unlearning"]] for m in doc["models"]],
    )
    print_table(
        "Recipients",
        ["recipient", "dataset", "when"],
        [[r["recipient"], shorten(r["dataset_id"]), r["disclosed_at"]] for r in doc["recipients"]],
    )
    print_table(
        "Remediation",
        ["action", "target", "shard", "deadline", "status"],
        [
            [
                o["action"],
                shorten(o["target"]),
                "" if o["shard"] is None else o["shard"],
                o["deadline"],
                o["status"],
            ]
            for o in doc["remediation"]
        ],
    )


report.add_command(training_summary)  # issue 13


COMMANDS = [report]
