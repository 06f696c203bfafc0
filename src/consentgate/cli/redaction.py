"""``consentgate scan``: what the redactor finds in each line of a text, for tuning profiles."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from consentgate.ingest import parse_members, read_members


@click.command()
@click.argument(
    "file", default="-", type=click.Path(allow_dash=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--members",
    "members_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Member directory (CSV, JSONL or Parquet: member_id, name, email, phone) to find people by name.",
)
@click.option(
    "--profile",
    "profile_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Redaction profile YAML (default: the shipped profile).",
)
@click.option(
    "--no-ner",
    is_flag=True,
    help="Find names by the directory and cues only, even with the ner extra installed.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Accepted for symmetry: the output is always JSON lines.",
)
def scan(
    file: Path, members_file: Path | None, profile_file: Path | None, no_ner: bool, as_json: bool
) -> None:
    """Print one JSON object per input line: {"line", "spans": [{"start", "end", "entity", "category"}], "labels"}.

    Offsets are character offsets into the line. FILE defaults to standard input.
    """
    from consentgate.redact import Directory, Redactor, load_profile, scan_lines
    from consentgate.redact.ner import default_ner

    directory = None
    if members_file is not None:
        parsed = parse_members(read_members(members_file), name=str(members_file))
        parsed.refuse_if_bad(f"{members_file}: member directory")
        directory = Directory.from_records(parsed.items)
    profile = load_profile(profile_file) if profile_file else None
    redactor = Redactor(profile, directory, ner=None if no_ner else default_ner())
    stream = sys.stdin if str(file) == "-" else file.open(encoding="utf-8")
    try:
        lines = (line.rstrip("\n") for line in stream)
        for obj in scan_lines(lines, redactor):
            click.echo(json.dumps(obj, ensure_ascii=False, sort_keys=True))
    finally:
        if stream is not sys.stdin:
            stream.close()


COMMANDS = [scan]
