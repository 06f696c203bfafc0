"""Issue 13 hooks for the CLI: OpenLineage emission after a run, dataset id prefixes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import click

from consentgate.cli.common import MEMBER_ID, TIMESTAMP, AppContext, out_path, pass_app
from consentgate.dataset_refs import resolve_dataset
from consentgate.errors import UsageError
from consentgate.locations import local_location
from consentgate.timestamps import utcnow

__all__ = [
    "COMMANDS",
    "OUT_LOCATION",
    "dataset_path",
    "dataset_ref",
    "emit_lineage",
    "export_record",
    "training_summary",
]


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
    from consentgate import workspace

    for row in workspace.list_datasets(app.engine()):
        if row.dataset_id == dataset_id:
            return Path(row.path)
    return None


class _OutLocation(click.ParamType[Path]):
    """``--out``: a local path or ``file://`` URI; other URL schemes refused (exit 2); the
    path checked like :func:`out_path` before anything is written (exit 1)."""

    name = "PATH|file://URI"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> Path:
        if isinstance(value, Path):
            return value
        try:
            path = local_location(str(value))
        except UsageError as exc:
            self.fail(str(exc), param, ctx)
        # issue 16: the location must be writable before anything is written
        return out_path().convert(str(path), param, ctx)


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


@click.group()
def signals() -> None:
    """Machine-readable AI-use preferences (IETF AIPREF, W3C TDMRep): export and import."""


@signals.command("export")
@click.option("--setting", required=True, help="The setting that governs public content.")
@click.option("--at", type=TIMESTAMP, help="Consent as of this time (default now).")
@click.option(
    "--path-template",
    required=True,
    help="Where a member's public content lives, e.g. /u/{member}/.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for robots.txt, .well-known/tdmrep.json and headers.json.",
)
@pass_app
def signals_export(
    app: AppContext, setting: str, at: datetime | None, path_template: str, out: Path
) -> None:
    """Write each member's preference as robots.txt Content-Usage rules, tdmrep.json and
    per-path response headers, from the ledger as of --at."""
    from consentgate.ecosystem.preferences import export_signals

    doc = export_signals(app.engine(), setting=setting, path_template=path_template, at=at)
    (out / ".well-known").mkdir(parents=True, exist_ok=True)
    (out / "robots.txt").write_text(doc["robots_txt"], encoding="utf-8")
    (out / ".well-known" / "tdmrep.json").write_text(
        json.dumps(doc["tdmrep_json"], indent=2) + "\n", encoding="utf-8"
    )
    headers = {k: doc[k] for k in ("vocabulary", "setting", "at", "headers")}
    (out / "headers.json").write_text(json.dumps(headers, indent=2) + "\n", encoding="utf-8")
    click.echo(f"{len(doc['headers'])} paths -> {out} ({doc['vocabulary']['aipref']})")


@signals.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--setting", required=True, help="The setting the signals speak for.")
@click.option(
    "--policy-version", required=True, help="The policy version a consenting signal grants under."
)
@pass_app
def signals_import(app: AppContext, file: Path, setting: str, policy_version: str) -> None:
    """Record fetched signals (JSONL: member_id, fetched_at, content_usage or
    tdm_reservation, url) as consent evidence; unknown is recorded as no consent."""
    from consentgate.ecosystem.preferences import import_signals

    result = import_signals(app.engine(), file, setting=setting, policy_version=policy_version)
    click.echo(f"{result.added} signal(s) recorded, {result.unchanged} unchanged")


@click.command("export-record")
@click.argument("member", type=MEMBER_ID)
@click.option("--event-id", help="The event (default: the latest recorded).")
@pass_app
def export_record(app: AppContext, member: str, event_id: str | None) -> None:
    """MEMBER's consent event as an ISO/IEC TS 27560-shaped consent record (JSON)."""
    from consentgate.ecosystem.preferences import consent_record

    click.echo(json.dumps(consent_record(app.engine(), member, event_id=event_id), indent=2))


COMMANDS = [signals]
