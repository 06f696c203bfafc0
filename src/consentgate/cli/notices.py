"""``consentgate notices``, ``notices send`` and ``notices ack``: deletion notices to third
parties."""

from __future__ import annotations

import click

from consentgate import workspace
from consentgate.cli.common import (
    AppContext,
    echo_json,
    json_option,
    map_option,
    pass_app,
    print_table,
    when,
)
from consentgate.timestamps import format_timestamp


@click.group(invoke_without_command=True)
@json_option
@pass_app
@click.pass_context
def notices(ctx: click.Context, app: AppContext, as_json: bool) -> None:
    """List deletion notices sent to third parties, with their status (or send, ack)."""
    if ctx.invoked_subcommand is not None:
        return
    rows = workspace.list_notices(app.engine())
    if as_json:
        echo_json(rows)
        return
    print_table(
        "Deletion notices",
        ["notice", "recipient", "records", "issued", "deadline", "status"],
        [
            [
                r.notice_id,
                r.recipient,
                r.records,
                when(r.issued_at),
                when(r.deadline),
                r.status.upper() if r.status == "overdue" else r.status,
            ]
            for r in rows
        ],
    )


@notices.command("send")
@map_option("The dataset's column NAME plays COLUMN (as given to build; repeatable).")
@json_option
@pass_app
def notices_send(app: AppContext, column_map: dict[str, str] | None, as_json: bool) -> None:
    """Write a signed notice per recipient with pending orders to the outbox."""
    sent = workspace.send_notices(
        app.engine(),
        key_file=app.settings.signing_key_path,
        outbox=app.settings.outbox_path,
        column_map=column_map,
    )
    if as_json:
        echo_json([s.as_dict() for s in sent])
        return
    if not sent:
        click.echo("No deletion notices to send.")
    for s in sent:
        click.echo(
            f"{s.notice_id} -> {s.recipient}: {s.records} record reference(s) in "
            f"{len(s.datasets)} dataset(s), due {format_timestamp(s.deadline)}; {s.path}"
        )


@notices.command("ack")
@click.argument("notice_id", metavar="ID")
@click.option("--note", help="What the recipient confirmed (kept with the notice).")
@json_option
@pass_app
def notices_ack(app: AppContext, notice_id: str, note: str | None, as_json: bool) -> None:
    """Record the recipient's confirmation that it deleted the data."""
    row = workspace.acknowledge_notice(app.engine(), notice_id, note=note)
    if as_json:
        echo_json(row)
        return
    click.echo(f"{notice_id}: acknowledged {when(row.acknowledged_at)}")


COMMANDS = [notices]
