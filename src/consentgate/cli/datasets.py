"""``consentgate build``, ``datasets``, ``impact`` and ``audit-dataset``."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
from consentgate.cli.ecosystem import OUT_LOCATION, emit_lineage
from consentgate.errors import UsageError
from consentgate.taxonomy import FIRST_PARTY
from consentgate.timestamps import format_timestamp, utcnow


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    """A progress bar that appears only once a build has run for two seconds."""
    started = time.monotonic()
    state: dict[str, Any] = {"bar": None, "task": None}

    def update(done: int, total: int | None) -> None:
        if not enabled:
            return
        if state["bar"] is None:
            if time.monotonic() - started < 2.0:
                return
            bar = Progress(
                TextColumn("gating"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console_err(),
                transient=True,
            )
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task("gate", total=total)
        state["bar"].update(state["task"], completed=done, total=total)

    try:
        yield update
    finally:
        if state["bar"] is not None:
            state["bar"].stop()


def console_err() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _counts_rows(manifest: dict[str, Any]) -> list[list[Any]]:
    counts = manifest["counts"]
    rows: list[list[Any]] = [["included", counts["included"]]]
    rows += [[f"excluded: {reason}", n] for reason, n in sorted(counts["excluded"].items()) if n]
    rows.append(["input", counts["input"]])
    return rows


@click.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--use", required=True, help="Data use, e.g. train_ai_system.")
@click.option(
    "--recipient", required=True, help="first_party or a third party named in the policy."
)
@click.option(
    "--as-of",
    type=TIMESTAMP,
    help="Cutoff: records created up to this time, consented then and still now (default now; never in the future).",
)
@click.option(
    "--out",
    type=OUT_LOCATION,  # issue 13: local paths and file:// only, never a folder "s3:"
    required=True,
    help="Dataset directory to create (must not exist).",
)
@click.option(
    "--shards",
    type=click.IntRange(min=1),
    help="Split into N shards by a stable hash (for SISA unlearning).",
)
@click.option(
    "--shard-by", type=click.Choice(["author", "conversation"]), default="author", show_default=True
)
@click.option(
    "--runner",
    "--engine",
    "runner",
    type=click.Choice(["local", "spark"]),
    default=None,
    help="Where the gate runs: this process (local, the default) or Spark, whose "
    "executors write the parts (docs/gate.md).",
)
@click.option(
    "--map",
    "mapping",
    multiple=True,
    metavar="COLUMN=NAME",
    help="Read column NAME from the source as COLUMN (repeatable).",
)
@click.option(
    "--profile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Redaction profile YAML (default: the shipped profile).",
)
@click.option(
    "--no-redact", is_flag=True, help="Write text as it is (no redaction or content exclusion)."
)
@click.option(
    "--no-ner",
    is_flag=True,
    help="Find names by the member directory and cues only, even with the ner extra installed.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes for gating and redaction (default: one per core when NER runs on more than one batch, else 1).",
)
@click.option(
    "--name",
    help="A human name for the dataset (commands accept it instead of the id; issue 13).",
)
@json_option
@pass_app
def build(
    app: AppContext,
    source: Path,
    use: str,
    recipient: str,
    as_of: datetime | None,
    out: Path,
    shards: int | None,
    shard_by: str,
    runner: str | None,
    mapping: tuple[str, ...],
    profile: Path | None,
    no_redact: bool,
    no_ner: bool,
    workers: int | None,
    name: str | None,
    as_json: bool,
) -> None:
    """Gate SOURCE (Parquet file/dir or JSONL) into a consented training dataset at OUT.

    Text is redacted with the default profile unless --profile or --no-redact; names
    and places are also found by statistical NER when the ner extra is installed,
    unless --no-ner.
    """
    if profile and no_redact:
        raise UsageError("--profile and --no-redact exclude each other")
    runner = runner or "local"
    if no_redact and recipient != FIRST_PARTY:
        raise UsageError(
            "--no-redact is refused for a third party: its datasets are always redacted and "
            "carry no member ids (choose the rules with --profile)"
        )
    engine = app.engine()
    started_at = utcnow()  # issue 13: the OpenLineage START time
    app.checkpoint_now()  # the build starts from a signed log state
    redactor = None
    if not no_redact:
        rules = _profile(profile)
        redactor = workspace.make_redactor(engine, rules=rules, ner=not no_ner)
    from consentgate.gate.source import open_source

    records = open_source(source, column_map=column_map(mapping), require_text=not no_redact)
    with _progress(not as_json and sys.stderr.isatty()) as progress:
        result = workspace.build(
            engine,
            records,
            redactor=redactor,
            workers=workers,
            use=use,
            recipient=recipient,
            out=out,
            as_of=as_of,
            shards=shards,
            shard_by=shard_by,
            runner=runner,
            batch_rows=app.settings.gate_batch_rows,
            max_future_share=app.settings.gate_max_future_share,
            progress=progress,
            name=name,
        )
    same = result.registered
    if same is None:  # issue 13: a new dataset is a run; a verification is not
        emit_lineage(app, "build", out, inputs=[source], started_at=started_at)
    if as_json:
        echo_json(
            {
                "dataset_id": result.dataset_id,
                "out": str(out) if same is None else str(same["path"]),
                "registered": same is None,
                "identical_to": None if same is None else same["dataset_id"],
                "counts": result.manifest["counts"],
                "redactions": result.manifest.get("redactions", {}),
                "manifest_sha256": result.manifest_sha256
                if same is None
                else same["manifest_sha256"],
            }
        )
        return
    if same is not None:
        console().print(
            f"Verified: identical to registered dataset [bold]{same['dataset_id']}[/bold] "
            f"at {same['path']} ({same['status']}); nothing new was written or registered"
        )
    else:
        console().print(f"Dataset [bold]{result.dataset_id}[/bold] -> {out}")
    print_table("Records", ["", "records"], _counts_rows(result.manifest))


def _profile(path: Path | None) -> Any:
    """``--profile``: the redaction profile file, read and checked (None: not given)."""
    if path is None:
        return None
    from consentgate.redact import load_profile

    return load_profile(path)


@click.command()
@json_option
@pass_app
def datasets(app: AppContext, as_json: bool) -> None:
    """List registered datasets."""
    rows = workspace.list_datasets(app.engine())
    if as_json:
        echo_json(rows)
        return
    print_table(
        "Datasets",
        ["dataset_id", "use", "recipient", "as_of", "records", "members", "shards", "status"],
        [
            [
                r.dataset_id[:16] + "…",
                r.use,
                r.recipient,
                format_timestamp(r.as_of),
                r.records,
                r.members,
                r.shards or "",
                r.status,
            ]
            for r in rows
        ],
    )


@click.command()
@click.argument("member", type=MEMBER_ID)
@json_option
@pass_app
def impact(app: AppContext, member: str, as_json: bool) -> None:
    """Every registered dataset holding MEMBER's records, as author or participant."""
    rows = workspace.impact(app.engine(), member)
    if as_json:
        echo_json({"member_id": member, "datasets": rows})
        return
    print_table(
        f"Datasets holding {member}'s data",
        ["dataset_id", "use", "recipient", "as_author", "as_participant", "shards", "status"],
        [
            [
                r.dataset_id[:16] + "…",
                r.use,
                r.recipient,
                r.as_author,
                r.as_participant,
                ",".join(map(str, r.shards or [])),
                r.status,
            ]
            for r in rows
        ],
    )


@click.command("audit-dataset")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--use", required=True)
@click.option("--recipient", required=True)
@click.option("--as-of", type=TIMESTAMP, required=True, help="The one past time judged.")
@click.option(
    "--per-member-usd",
    type=click.FloatRange(min=0),
    default=1000.0,
    show_default=True,
    help="Exposure per affected member (Stored Communications Act minimum).",
)
@click.option("--map", "mapping", multiple=True, metavar="COLUMN=NAME")
@click.option(
    "--profile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Redaction profile to check content with (default: the build's, from its manifest; else the shipped one).",
)
@click.option("--no-content-check", is_flag=True, help="Check consent only, not the content.")
@json_option
@pass_app
@click.pass_context
def audit_dataset(
    ctx: click.Context,
    app: AppContext,
    source: Path,
    use: str,
    recipient: str,
    as_of: datetime,
    per_member_usd: float,
    mapping: tuple[str, ...],
    profile: Path | None,
    no_content_check: bool,
    as_json: bool,
) -> None:
    """Re-check any dataset against the ledger at one past time: violations (consent and
    content), affected members, exposure. Exits 1 when it finds a violation."""
    report = workspace.exposure(
        app.engine(),
        source,
        use=use,
        recipient=recipient,
        as_of=as_of,
        column_map=column_map(mapping),
        per_member_usd=per_member_usd,
        profile=_profile(profile),
        check_content=not no_content_check,
    )
    if as_json:
        echo_json(report.to_dict())
    else:
        print_table(
            "Records that should not be there",
            ["reason", "records"],
            [[k, v] for k, v in sorted(report.counts.items()) if v],
        )
        if report.recipient_problem:
            click.echo(
                f"Recipient not allowed at {format_timestamp(as_of)}: {report.recipient_problem}"
            )
        click.echo(
            f"{report.violations.num_rows} of {report.records} records violate consent or the "
            f"content rules; {len(report.affected_members)} members affected; exposure "
            f"${report.exposure_usd:,.0f}"
        )
    if report.violates:
        ctx.exit(1)


COMMANDS = [build, datasets, impact, audit_dataset]
