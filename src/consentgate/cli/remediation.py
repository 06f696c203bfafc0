"""``consentgate models``, ``disclose``, ``remediation``, ``remediate``, ``retrain``,
``notices`` and ``report dsar``: what a withdrawal sets in motion (``consentgate.workspace``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from consentgate import workspace
from consentgate.cli.common import (
    MEMBER_ID,
    TIMESTAMP,
    AppContext,
    column_map,
    console,
    echo_json,
    json_option,
    pass_app,
    print_table,
)
from consentgate.cli.ecosystem import (
    OUT_LOCATION,
    dataset_path,
    dataset_ref,
    emit_lineage,
    training_summary,
)
from consentgate.encoding import jsonable
from consentgate.errors import UsageError
from consentgate.timestamps import format_timestamp, utcnow


def _when(value: datetime | None) -> str:
    return "" if value is None else format_timestamp(value)


def _short(text: str, n: int = 16) -> str:
    return text if len(text) <= n + 1 else text[:n] + "…"


def _shards(value: str | None) -> list[int] | None:
    if value is None or value == "all":
        return None
    try:
        return sorted({int(v) for v in value.split(",") if v.strip()})
    except ValueError as exc:
        raise UsageError(
            f"--trained-shards expects all or a list like 0,3,7; got {value!r}"
        ) from exc


_MAP = click.option(
    "--map",
    "mapping",
    multiple=True,
    metavar="COLUMN=NAME",
    help="The dataset's column NAME plays COLUMN (as given to build; repeatable).",
)


# --------------------------------------------------------------------------- models


@click.group(invoke_without_command=True)
@json_option
@pass_app
@click.pass_context
def models(ctx: click.Context, app: AppContext, as_json: bool) -> None:
    """List registered model versions with their status (or register one)."""
    if ctx.invoked_subcommand is not None:
        return
    rows = workspace.list_models(app.engine())
    if as_json:
        echo_json(rows)
        return
    print_table(
        "Models",
        ["model", "status", "unlearning", "datasets", "shards", "deployed to", "open orders"],
        [
            [
                r.model_id,
                r.status,
                r.unlearning,
                ", ".join(_short(d, 12) for d in r.datasets),
                "all" if r.trained_shards is None else ",".join(map(str, r.trained_shards)),
                ", ".join(r.deployed_to),
                r.open_orders,
            ]
            for r in rows
        ],
    )


@models.command("register")
@click.argument("name")
@click.option(
    "--dataset", "datasets", multiple=True, required=True, help="Dataset id (repeatable)."
)
@click.option(
    "--trained-shards",
    metavar="all|LIST",
    default="all",
    show_default=True,
    help="Shards the model was trained on, e.g. 0,3,7.",
)
@click.option(
    "--unlearning",
    type=click.Choice(list(workspace.UNLEARNING)),
    default="sisa",
    show_default=True,
    help="How it forgets: retrain affected shards, retrain fully, or retire.",
)
@click.option(
    "--deployed-to", "deployed_to", multiple=True, metavar="R", help="Where it runs (repeatable)."
)
@click.option(
    "--artifact",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="SISA model directory (consentgate.unlearn.save_model) that `retrain` can retrain.",
)
@json_option
@pass_app
def models_register(
    app: AppContext,
    name: str,
    datasets: tuple[str, ...],
    trained_shards: str,
    unlearning: str,
    deployed_to: tuple[str, ...],
    artifact: Path | None,
    as_json: bool,
) -> None:
    """Record a model version: its datasets and shards, and how it can forget."""
    row = workspace.register_model(
        app.engine(),
        name,
        [dataset_ref(app, d) for d in datasets],  # issue 13: ids or unique prefixes
        trained_shards=_shards(trained_shards),
        unlearning=unlearning,
        deployed_to=deployed_to,
        artifact=artifact,
        rules=app.workspace().rules,
    )
    if as_json:
        echo_json(row)
        return
    click.echo(f"Registered model {row.model_id} ({unlearning})")


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
                _short(r.target),
                "" if r.shard is None else r.shard,
                r.members or "all",
                _when(r.deadline),
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
@_MAP
@json_option
@pass_app
def remediate(
    app: AppContext,
    dataset: str,
    as_of: datetime | None,
    out: Path | None,
    purge: bool,
    mapping: tuple[str, ...],
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
        column_map=column_map(mapping),
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
        f"Supersedes {_short(dataset)}",
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


# --------------------------------------------------------------------------- notices


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
                _when(r.issued_at),
                _when(r.deadline),
                r.status.upper() if r.status == "overdue" else r.status,
            ]
            for r in rows
        ],
    )


@notices.command("send")
@_MAP
@json_option
@pass_app
def notices_send(app: AppContext, mapping: tuple[str, ...], as_json: bool) -> None:
    """Write a signed notice per recipient with pending orders to the outbox."""
    sent = workspace.send_notices(
        app.engine(),
        key_file=app.settings.signing_key_path,
        outbox=app.settings.outbox_path,
        column_map=column_map(mapping),
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
    click.echo(f"{notice_id}: acknowledged {_when(row.acknowledged_at)}")


# --------------------------------------------------------------------------- report


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
                _short(d["dataset_id"]),
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
        [[r["recipient"], _short(r["dataset_id"]), r["disclosed_at"]] for r in doc["recipients"]],
    )
    print_table(
        "Remediation",
        ["action", "target", "shard", "deadline", "status"],
        [
            [
                o["action"],
                _short(o["target"]),
                "" if o["shard"] is None else o["shard"],
                o["deadline"],
                o["status"],
            ]
            for o in doc["remediation"]
        ],
    )


report.add_command(training_summary)  # issue 13

COMMANDS = [models, disclose, remediation, remediate, retrain, notices, report]
