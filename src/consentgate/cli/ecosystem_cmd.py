"""Issue 13 hooks for the CLI: OpenLineage emission after a run, dataset id prefixes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import click

from consentgate.cli.common import AppContext, pass_app
from consentgate.dataset_refs import resolve_dataset
from consentgate.errors import UsageError
from consentgate.locations import local_location
from consentgate.timestamps import utcnow

__all__ = ["OUT_LOCATION", "dataset_path", "dataset_ref", "emit_lineage", "training_summary"]


def dataset_ref(app: AppContext, ref: str) -> str:
    """The full id of the dataset a command argument names (id or unique prefix)."""
    return resolve_dataset(app.engine(), ref)


def emit_lineage(
    app: AppContext,
    kind: str,
    directory: Path,
    *,
    inputs: Sequence[Path] = (),
    output: tuple[str, str] | None = None,
    started_at: datetime | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """Emit the run's OpenLineage events when ``openlineage`` is configured (else nothing)."""
    config = app.settings.openlineage
    if not config:
        return
    from consentgate.ecosystem.lineage import emit_dataset_run, local_dataset

    emit_dataset_run(
        config,
        kind,
        directory,
        inputs=[local_dataset(p) for p in inputs],
        output=output,
        started_at=started_at,
        now=utcnow(),
        tags=tags,
    )


def dataset_path(app: AppContext, dataset_id: str) -> Path | None:
    """Where a registered dataset lives (None when unknown)."""
    from consentgate import builds

    for row in builds.list_datasets(app.engine()):
        if row["dataset_id"] == dataset_id:
            return Path(str(row["path"]))
    return None


class _OutLocation(click.ParamType[Path]):
    """``--out``: a local path or ``file://`` URI; other URL schemes refused (exit 2)."""

    name = "PATH|file://URI"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> Path:
        if isinstance(value, Path):
            return value
        try:
            return local_location(str(value))
        except UsageError as exc:
            self.fail(str(exc), param, ctx)


OUT_LOCATION = _OutLocation()


@click.command("training-summary")
@click.option("--model", required=True, help="Model id (name@vN) or name (its latest version).")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of Markdown.")
@pass_app
def training_summary(app: AppContext, model: str, as_json: bool) -> None:
    """The EU AI Act Art. 53(1)(d) public summary of MODEL's training content (the parts
    the ledger knows; blanks marked for the provider to answer)."""
    from consentgate.ecosystem.summary import render_markdown
    from consentgate.ecosystem.training import summary_for_model

    doc = summary_for_model(app.engine(), model)
    if as_json:
        click.echo(json.dumps(doc, indent=2, sort_keys=False))
    else:
        click.echo(render_markdown(doc), nl=False)
