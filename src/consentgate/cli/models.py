"""``consentgate models`` and ``models register``: model versions and how they forget."""

from __future__ import annotations

from pathlib import Path

import click

from consentgate import workspace
from consentgate.cli.common import (
    AppContext,
    echo_json,
    json_option,
    pass_app,
    print_table,
    shorten,
)
from consentgate.cli.ecosystem import dataset_ref
from consentgate.errors import UsageError


def _shards(value: str | None) -> list[int] | None:
    if value is None or value == "all":
        return None
    try:
        return sorted({int(v) for v in value.split(",") if v.strip()})
    except ValueError as exc:
        raise UsageError(
            f"--trained-shards expects all or a list like 0,3,7; got {value!r}"
        ) from exc


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
                ", ".join(shorten(d, 12) for d in r.datasets),
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


COMMANDS = [models]
