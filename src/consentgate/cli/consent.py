"""``consentgate members import``, ``consent import|record|status`` and ``snapshot``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, cast

import click

from consentgate import workspace
from consentgate.cli.common import (
    EVENT_ID,
    MEMBER_ID,
    TIMESTAMP,
    AppContext,
    F,
    echo_json,
    json_option,
    out_path,
    pass_app,
    print_table,
)
from consentgate.cli.ecosystem import export_record
from consentgate.encoding import jsonable
from consentgate.timestamps import format_timestamp, utcnow

ON_ERROR = click.Choice(["refuse", "skip"])


def _report(
    result: workspace.ImportResult, what: str, as_json: bool, *, moves: bool = False
) -> None:
    data: dict[str, Any] = {
        "added": result.added,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "rejected": result.rejected,
        "rejects_file": str(result.rejects_path) if result.rejects_path else None,
        "erased": result.erased,
    }
    if moves:
        data["moved"] = result.moved
    if as_json:
        echo_json(data)
        return
    erased = f", {result.erased} erased (not stored again)" if result.erased else ""
    moved = f", {result.moved} moved" if moves else ""
    click.echo(
        f"{what}: {result.added} added, {result.updated} updated{moved}, {result.unchanged} unchanged, {result.rejected} rejected{erased}."
    )
    if result.rejects_path:
        click.echo(f"Rejected lines written to {result.rejects_path}")


def _rejects(file: Path, rejects: Path | None) -> Path:
    """``--rejects``, by default FILE.rejects beside the file."""
    return rejects or file.with_name(file.name + ".rejects")


def import_options(f: F) -> F:
    """FILE, --on-error, --rejects, --json and the app context: shared by every import."""
    g: Any = json_option(pass_app(f))
    g = click.option(
        "--rejects",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Where to write rejected lines (default FILE.rejects).",
    )(g)
    g = click.option(
        "--on-error",
        type=ON_ERROR,
        default="refuse",
        show_default=True,
        help="refuse: any bad line refuses the file; skip: import good lines, write bad ones "
        "to a rejects file.",
    )(g)
    return cast(
        F, click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))(g)
    )


@click.group()
def members() -> None:
    """Import members (data subjects) and record their jurisdiction moves."""


@members.command("import")
@import_options
def members_import(
    app: AppContext, file: Path, on_error: str, rejects: Path | None, as_json: bool
) -> None:
    """Import members from CSV, JSONL or Parquet (member_id, jurisdiction,
    jurisdiction_effective_at, name, email, phone). A known member with another
    jurisdiction is recorded as a move, never overwritten."""
    from consentgate.ingest import read_members

    _report(
        workspace.import_members(
            app.engine(),
            read_members(file),
            source=str(file),
            on_error=on_error,
            rejects=_rejects(file, rejects),
        ),
        "Members",
        as_json,
        moves=True,
    )


@members.command("move")
@click.argument("member", type=MEMBER_ID)
@click.option("--jurisdiction", required=True, help="The new jurisdiction, e.g. US, US-CA, EU.")
@click.option("--effective-at", type=TIMESTAMP, required=True, help="When the member moved there.")
@json_option
@pass_app
def members_move(
    app: AppContext, member: str, jurisdiction: str, effective_at: datetime, as_json: bool
) -> None:
    """Record that MEMBER is in a jurisdiction from --effective-at on (append-only)."""
    data = workspace.move_member(
        app.engine(), member, jurisdiction=jurisdiction, effective_at=effective_at
    )
    if as_json:
        echo_json(data)
    elif data.moved:
        click.echo(f"Recorded: {member} in {jurisdiction} from {format_timestamp(effective_at)}")
    else:
        click.echo(
            f"Unchanged: {member} is already in {jurisdiction} at {format_timestamp(effective_at)}"
        )


@click.group()
def consent() -> None:
    """Record consent events and query effective consent."""


@consent.command("import")
@import_options
def consent_import(
    app: AppContext, file: Path, on_error: str, rejects: Path | None, as_json: bool
) -> None:
    """Import consent events from JSONL (idempotent by event_id)."""
    from consentgate.ingest import read_event_lines

    _report(
        workspace.import_events(
            app.engine(),
            read_event_lines(file),
            source=str(file),
            on_error=on_error,
            rejects=_rejects(file, rejects),
            rules=app.workspace().rules,
        ),
        "Consent events",
        as_json,
    )


@consent.command("record")
@click.argument("member", type=MEMBER_ID)
@click.option("--setting", help="Setting id (not for erase).")
@click.option(
    "--type", "etype", type=click.Choice(["grant", "deny", "withdraw", "erase"]), required=True
)
@click.option("--policy-version", help="Policy version the member saw (required for grant).")
@click.option("--effective-at", type=TIMESTAMP, help="When it takes effect (default now).")
@click.option(
    "--covers-from", type=TIMESTAMP, help="Grant only: earliest creation time of data it covers."
)
@click.option(
    "--source",
    type=click.Choice(["web", "api", "import", "gpc", "cli"]),
    default="cli",
    show_default=True,
)
@click.option("--event-id", type=EVENT_ID, help="Idempotency key (generated when absent).")
@json_option
@pass_app
def consent_record(
    app: AppContext,
    member: str,
    setting: str | None,
    etype: str,
    policy_version: str | None,
    effective_at: datetime | None,
    covers_from: datetime | None,
    source: str,
    event_id: str | None,
    as_json: bool,
) -> None:
    """Record one consent event for MEMBER."""
    record = {
        "event_id": event_id,
        "member_id": member,
        "type": etype,
        "setting": setting,
        "policy_version": policy_version,
        "effective_at": format_timestamp(effective_at or utcnow()),
        "covers_from": format_timestamp(covers_from) if covers_from else None,
        "source": source,
    }
    record = {k: v for k, v in record.items() if v is not None}
    event, created = workspace.record_event(app.engine(), record, rules=app.workspace().rules)
    data = {
        "event_id": event.event_id,
        "created": created,
        "seq": event.seq,
        "recorded_at": format_timestamp(event.recorded_at),
    }
    if as_json:
        echo_json(data)
    else:
        click.echo(
            f"{'Recorded' if created else 'Already recorded'}: {etype} event {event.event_id}"
        )


@consent.command("status")
@click.argument("member", type=MEMBER_ID)
@click.option("--setting", required=True)
@click.option("--at", type=TIMESTAMP, help="Point in time (default now).")
@click.option(
    "--known-at", type=TIMESTAMP, help="As the system knew it at this time (default now)."
)
@json_option
@pass_app
def consent_status(
    app: AppContext,
    member: str,
    setting: str,
    at: datetime | None,
    known_at: datetime | None,
    as_json: bool,
) -> None:
    """Effective consent state of MEMBER for a setting."""
    data = workspace.consent_status(app.engine(), member, setting, at=at, known_at=known_at)
    if as_json:
        echo_json(data)
        return
    row = jsonable(data)  # the same text as --json
    print_table(
        None,
        [
            "member_id",
            "setting",
            "jurisdiction",
            "state",
            "covers_from",
            "event_id",
            "policy_version",
        ],
        [
            [
                row[k]
                for k in (
                    "member_id",
                    "setting",
                    "jurisdiction",
                    "state",
                    "covers_from",
                    "event_id",
                    "policy_version",
                )
            ]
        ],
    )


@click.command()
@click.option("--use", required=True, help="Data use, e.g. train_ai_system.")
@click.option(
    "--recipient", required=True, help="first_party or a third party named in the policy."
)
@click.option("--as-of", type=TIMESTAMP, help="Point in time (default now).")
@click.option(
    "--known-at", type=TIMESTAMP, help="As the system knew it at this time (default now)."
)
@click.option(
    "--out",
    type=out_path(dir_okay=False),
    required=True,
    help="Parquet file to write.",
)
@json_option
@pass_app
def snapshot(
    app: AppContext,
    use: str,
    recipient: str,
    as_of: datetime | None,
    known_at: datetime | None,
    out: Path,
    as_json: bool,
) -> None:
    """Write the consent snapshot (member_id, category, covers_from) for (use, recipient, as-of)."""
    snap = workspace.build_snapshot(
        app.engine(), use=use, recipient=recipient, as_of=as_of or utcnow(), known_at=known_at
    )
    from consentgate.files import write_atomic

    sha = write_atomic(out, snap.grants_parquet_bytes())
    data = {
        "sha256": sha,
        "rows": snap.grants.num_rows,
        "members": snap.members.num_rows,
        "categories": list(snap.categories),
        "as_of": format_timestamp(snap.as_of),
        "out": str(out),
    }
    if as_json:
        echo_json(data)
    else:
        click.echo(
            f"Snapshot {sha}: {data['rows']} consented (member, category) rows over {data['members']} members -> {out}"
        )


consent.add_command(export_record)  # issue 13: ISO/IEC TS 27560-shaped record

COMMANDS = [members, consent, snapshot]
_ = print_table
