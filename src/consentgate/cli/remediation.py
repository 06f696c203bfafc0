"""``consentgate disclose``, ``remediation``, ``remediate`` and ``retrain``: what a
withdrawal sets in motion (``consentgate.workspace``); ``models``, ``notices`` and
``report`` have their own modules."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from consentgate import workspace
from consentgate.cli.common import (
    TIMESTAMP,
    AppContext,
    console,
    echo_json,
    json_option,
    map_option,
    pass_app,
    print_table,
    shorten,
    when,
)
from consentgate.cli.ecosystem import (
    OUT_LOCATION,
    dataset_path,
    dataset_ref,
    emit_lineage,
)
from consentgate.timestamps import utcnow

# --------------------------------------------------------------------------- disclosures


@click.command()
@click.argument("dataset")
@click.option("--to", "recipient", required=True, help="The third party that received it.")
@click.option("--at", type=TIMESTAMP, help="When it was delivered (default now).")
@click.option(
    "--historical",
    is_flag=True,
    help="Record a delivery at --at before the dataset was registered (needs --evidence).",
)
@click.option(
    "--evidence",
    metavar="TEXT",
    help="With --historical: where the proof of that earlier delivery is kept.",
)
@json_option
@pass_app
def disclose(
    app: AppContext,
    dataset: str,
    recipient: str,
    at: datetime | None,
    historical: bool,
    evidence: str | None,
    as_json: bool,
) -> None:
    """Record that DATASET (its id or a unique prefix) was delivered to a third party."""
    dataset = dataset_ref(app, dataset)  # issue 13
    row = workspace.disclose(
        app.engine(),
        dataset,
        recipient=recipient,
        at=at,
        historical=historical,
        evidence=evidence,
    )
    where = dataset_path(app, dataset)  # issue 13: a disclosure is a lineage run
    if where is not None:
        emit_lineage(
            app,
            "disclosure",
            where,
            inputs=[where],
            output=("consentgate-recipient", f"{recipient}/{dataset}"),
        )
    if as_json:
        echo_json(row)
        return
    click.echo(
        f"Disclosure {row.disclosure_id}: {row.records} records of {row.members} "
        f"members to {recipient}"
    )


# --------------------------------------------------------------------------- orders


@click.command()
@click.option("--overdue", is_flag=True, help="Only pending orders past their deadline.")
@click.option("--all", "include_done", is_flag=True, help="Include done orders.")
@json_option
@pass_app
def remediation(app: AppContext, overdue: bool, include_done: bool, as_json: bool) -> None:
    """List remediation orders (pending ones by default) with their deadlines."""
    rows = workspace.list_orders(app.engine(), overdue=overdue, include_done=include_done)
    if as_json:
        echo_json(rows)
        return
    print_table(
        "Remediation orders",
        ["order", "action", "target", "shard", "members", "deadline", "status"],
        [
            [
                r.order_id,
                r.action,
                shorten(r.target),
                "" if r.shard is None else r.shard,
                r.members or "all",
                when(r.deadline),
                "OVERDUE" if r.overdue else r.status,
            ]
            for r in rows
        ],
    )


@click.command()
@click.argument("dataset")
@click.option("--as-of", type=TIMESTAMP, help="Re-check consent as of this time (default now).")
@click.option(
    "--out",
    type=OUT_LOCATION,  # issue 13: local paths and file:// only, never a folder "s3:"
    help="Directory of the new version (default: next to the old one, suffix -rN).",
)
@click.option("--purge", is_flag=True, help="Delete the superseded version's files.")
@map_option("The dataset's column NAME plays COLUMN (as given to build; repeatable).")
@json_option
@pass_app
def remediate(
    app: AppContext,
    dataset: str,
    as_of: datetime | None,
    out: Path | None,
    purge: bool,
    column_map: dict[str, str] | None,
    as_json: bool,
) -> None:
    """Write a new version of DATASET (its id or a unique prefix) without the records that
    lost consent."""
    dataset = dataset_ref(app, dataset)  # issue 13
    before, started_at = dataset_path(app, dataset), utcnow()
    result = workspace.remediate(
        app.engine(),
        dataset,
        as_of=as_of,
        out=out,
        purge=purge,
        column_map=column_map,
        batch_rows=app.settings.gate_batch_rows,
    )
    if result.new_dataset_id is not None and result.out is not None:  # issue 13
        emit_lineage(
            app,
            "remediation",
            Path(result.out),
            inputs=[before] if before else [],
            started_at=started_at,
        )
    if as_json:
        echo_json(result.as_dict())
        return
    if result.new_dataset_id is None:
        click.echo(
            f"Nothing to remove from {dataset}; {len(result.orders_closed)} order(s) closed."
        )
        return
    console().print(f"Dataset [bold]{result.new_dataset_id}[/bold] -> {result.out}")
    print_table(
        f"Supersedes {shorten(dataset)}",
        ["", ""],
        [
            ["records removed", f"{result.records_removed} of {result.records_before}"],
            ["parts rewritten", len(result.parts_rewritten) + len(result.parts_removed)],
            ["parts kept (byte-identical)", len(result.parts_kept)],
            ["shards touched", ",".join(map(str, result.shards_touched)) or "-"],
            ["orders closed", len(result.orders_closed)],
            ["old version", "purged" if result.purged else "superseded"],
        ],
    )


@click.command()
@click.argument("model")
@click.option(
    "--holdout",
    type=click.Path(exists=True, path_type=Path),
    help="Parquet with the label and feature columns to measure accuracy before and after.",
)
@click.option(
    "--out",
    type=OUT_LOCATION,  # issue 13: local paths and file:// only, never a folder "s3:"
    help="Directory of the new model version (default: next to the old one).",
)
@json_option
@pass_app
def retrain(
    app: AppContext, model: str, holdout: Path | None, out: Path | None, as_json: bool
) -> None:
    """Retrain MODEL's affected shards (or all, or retire it) and close its orders."""
    result = workspace.retrain(app.engine(), model, holdout=holdout, out=out)
    if as_json:
        echo_json(result.as_dict())
        return
    if result.action != "retrained":
        click.echo(f"{model}: {result.action}; {len(result.orders_closed)} order(s) closed.")
        return
    ev = result.evidence
    click.echo(
        f"{model} -> {result.new_model_id}: retrained shards "
        f"{','.join(map(str, ev['shards_retrained']))} of {ev['shard_count']} "
        f"({ev['rows_trained']} of {ev['rows_total']} rows) in {ev['seconds']:.2f} s; "
        f"accuracy {ev['accuracy_before']:.3f} -> {ev['accuracy_after']:.3f} on {ev['accuracy_on']}"
    )


COMMANDS = [disclose, remediation, remediate, retrain]
