"""``consentgate report``: reports for members and auditors — ``report dsar`` and
``report training-summary``, and the bulk reports (``members``, ``disclosures``,
``recipients``, ``events``, ``exposure``: ``consentgate.workspace.bulk_reports``) as CSV or
JSON on stdout or in ``--out``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO

import click

from consentgate import workspace
from consentgate.cli.common import (
    MEMBER_ID,
    TIMESTAMP,
    AppContext,
    echo_json,
    json_option,
    out_path,
    pass_app,
    print_table,
    shorten,
)
from consentgate.cli.ecosystem import dataset_ref, training_summary
from consentgate.encoding import jsonable
from consentgate.files import write_atomic
from consentgate.gate.statutes import Schedule
from consentgate.report_files import csv_text, json_text
from consentgate.workspace import bulk_reports
from consentgate.workspace.bulk_reports import ReportTable


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


FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    default="csv",
    show_default=True,
    help="CSV with a header row, or one JSON document.",
)
OUT = click.option(
    "--out",
    type=out_path(dir_okay=False),
    help="Write the report to this file (whole or not at all) instead of stdout.",
)
SINCE = click.option("--since", type=TIMESTAMP, help="From this time (inclusive).")
UNTIL = click.option("--until", type=TIMESTAMP, help="Up to this time (exclusive).")
STATUTES = click.option(
    "--statutes",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Statute schedule YAML (default: the exposure_statutes setting, else the shipped one).",
)


def _emit(table: ReportTable, fmt: str, out: Path | None) -> None:
    pieces: Iterator[str] = (
        csv_text(table.columns, table.rows)
        if fmt == "csv"
        else json_text(table.name, table.columns, table.rows)
    )
    if out is None:
        stream: IO[str] = sys.stdout
        for piece in pieces:
            stream.write(piece)
        stream.flush()
        return
    write_atomic(out, "".join(pieces))


def schedule_of(app: AppContext, statutes: Path | None) -> Schedule:
    return bulk_reports.schedule_from_file(statutes or app.settings.exposure_statutes)


@click.command("members")
@click.argument("dataset")
@FORMAT
@OUT
@pass_app
def report_members(app: AppContext, dataset: str, fmt: str, out: Path | None) -> None:
    """Every member DATASET (its id or a unique prefix) holds, with their jurisdiction at its
    cutoff and their records in it."""
    table = bulk_reports.dataset_members_report(app.engine(), dataset_ref(app, dataset))
    _emit(table, fmt, out)


@click.command("disclosures")
@click.option("--recipient", help="Only this third party.")
@SINCE
@UNTIL
@STATUTES
@FORMAT
@OUT
@pass_app
def report_disclosures(
    app: AppContext,
    recipient: str | None,
    since: datetime | None,
    until: datetime | None,
    statutes: Path | None,
    fmt: str,
    out: Path | None,
) -> None:
    """One row per member per disclosure: recipient, when, dataset, policy versions,
    jurisdiction, records, statutes and exposure."""
    table = bulk_reports.disclosures_report(
        app.engine(),
        recipient=recipient,
        since=since,
        until=until,
        schedule=schedule_of(app, statutes),
    )
    _emit(table, fmt, out)


@click.command("recipients")
@click.option("--recipient", help="Only this third party.")
@SINCE
@UNTIL
@json_option
@pass_app
def report_recipients(
    app: AppContext,
    recipient: str | None,
    since: datetime | None,
    until: datetime | None,
    as_json: bool,
) -> None:
    """What each third party received: disclosures, datasets, members, records, dates and
    policy versions."""
    rows = bulk_reports.recipients_summary(
        app.engine(), recipient=recipient, since=since, until=until
    )
    if as_json:
        echo_json([r.as_dict() for r in rows])
        return
    print_table(
        "Third-party recipients",
        ["recipient", "disclosures", "members", "records", "first", "last", "policy versions"],
        [
            [
                r.recipient,
                r.disclosures,
                r.members,
                r.records,
                r.as_dict()["first_disclosed_at"],
                r.as_dict()["last_disclosed_at"],
                ", ".join(r.policy_versions),
            ]
            for r in rows
        ],
    )


@click.command("events")
@SINCE
@UNTIL
@click.option("--setting", help="Only this setting's events.")
@FORMAT
@OUT
@pass_app
def report_events(
    app: AppContext,
    since: datetime | None,
    until: datetime | None,
    setting: str | None,
    fmt: str,
    out: Path | None,
) -> None:
    """Export consent events in the order recorded (recorded_at in [--since, --until))."""
    table = bulk_reports.consent_events_report(
        app.engine(), since=since, until=until, setting=setting
    )
    _emit(table, fmt, out)


@click.command("exposure")
@click.option("--recipient", help="Only disclosures to this third party.")
@SINCE
@UNTIL
@STATUTES
@json_option
@pass_app
def report_exposure(
    app: AppContext,
    recipient: str | None,
    since: datetime | None,
    until: datetime | None,
    statutes: Path | None,
    as_json: bool,
) -> None:
    """Exposure by jurisdiction and statute for the members whose data went to third
    parties (amounts per member from the statute schedule)."""
    found = bulk_reports.exposure_report(
        app.engine(),
        recipient=recipient,
        since=since,
        until=until,
        schedule=schedule_of(app, statutes),
    )
    if as_json:
        echo_json(found.as_dict())
        return
    print_table(
        "Exposure by jurisdiction and statute",
        ["jurisdiction", "statute", "members", "per member", "amount", "currency"],
        [
            [
                r.jurisdiction or "(none known)",
                r.statute,
                r.members,
                str(r.per_member),
                str(r.amount),
                r.currency or "",
            ]
            for r in found.rows
        ],
    )
    total = ", ".join(f"{v} {c}" for c, v in found.totals.items()) or "0"
    click.echo(
        f"{found.members} members in {found.disclosures} disclosures to "
        f"{len(found.recipients)} recipients; total {total} (schedule: {found.schedule.source})"
    )


for _bulk in (
    report_members,
    report_disclosures,
    report_recipients,
    report_events,
    report_exposure,
):
    report.add_command(_bulk)

COMMANDS = [report]
