"""``consentgate init`` and ``consentgate policy publish|list|show|diff``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from consentgate import workspace
from consentgate.cli.common import (
    AppContext,
    echo_json,
    json_option,
    pass_app,
    print_table,
    read_text,
)
from consentgate.timestamps import format_timestamp


@click.command()
@click.option(
    "--taxonomy",
    "taxonomy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML file declaring extra taxonomy keys.",
)
@json_option
@pass_app
def init(app: AppContext, taxonomy_file: Path | None, as_json: bool) -> None:
    """Create or upgrade the ledger database (idempotent) and the log's signing key."""
    engine = app.engine(check=False)
    key_file = app.settings.signing_key_path
    result = workspace.init_workspace(
        engine,
        taxonomy=None if taxonomy_file is None else read_text(taxonomy_file),
        taxonomy_name=str(taxonomy_file),
        key_file=key_file,
    )
    if as_json:
        echo_json(result)
        return
    click.echo(
        f"Database ready at revision {result.revision}; "
        f"{result.taxonomy_keys_added} taxonomy key(s) added."
    )
    click.echo(f"Log signing key: {key_file} (keep it outside the database, backed up)")
    click.echo(f"Verifier key: {result.public_key}")


@click.group()
def policy() -> None:
    """Publish and inspect policy versions."""


@policy.command("publish")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--notice-days",
    type=click.IntRange(min=0),
    default=None,
    help="Notice period for material changes (default 30, or $CONSENTGATE_NOTICE_DAYS).",
)
@json_option
@pass_app
def publish(app: AppContext, file: Path, notice_days: int | None, as_json: bool) -> None:
    """Validate FILE against the publication rules and publish it."""
    days = app.settings.notice_days if notice_days is None else notice_days
    result = workspace.publish_policy(
        app.engine(),
        read_text(file),
        name=str(file),
        notice_days=days,
        rules=app.workspace().rules,
    )
    material = [c for c in result.changes if c.material]
    if as_json:
        echo_json(
            {
                "version": result.policy.version,
                "created": result.created,
                "sha256": result.policy.sha256,
                "changes": [c.as_dict() for c in result.changes],
            }
        )
        return
    verb = "Published" if result.created else "Already published (identical)"
    click.echo(
        f"{verb}: policy {result.policy.version} effective {format_timestamp(result.policy.effective_from)}; {len(material)} material change(s)."
    )
    for c in material:
        click.echo(f"  * {c.subject}: {c.detail}")


@policy.command("list")
@json_option
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """List published policy versions in order."""
    rows = workspace.list_policies(app.engine())
    if as_json:
        echo_json(rows)
        return
    print_table(
        "Policy versions",
        ["version", "published_at", "effective_from", "settings"],
        [
            [
                r.version,
                format_timestamp(r.published_at),
                format_timestamp(r.effective_from),
                ", ".join(r.settings),
            ]
            for r in rows
        ],
    )


@policy.command("show")
@click.argument("version")
@json_option
@pass_app
def show(app: AppContext, version: str, as_json: bool) -> None:
    """Show one policy version's settings, scopes and defaults."""
    p = workspace.get_policy(app.engine(), version)
    data: dict[str, Any] = {
        "version": p.version,
        "published_at": format_timestamp(p.published_at),
        "effective_from": format_timestamp(p.effective_from),
        "sha256": p.sha256,
        "recipients": [
            {
                "id": r.id,
                "name": r.name,
                "uses": list(r.uses),
                "contract_until": format_timestamp(r.contract_until) if r.contract_until else None,
            }
            for r in p.recipients
        ],
        "settings": [
            {
                "id": s.id,
                "label": s.label,
                "use": s.use,
                "categories": list(s.categories),
                "recipients": list(s.recipients),
                "defaults": {k: "on" if v else "off" for k, v in s.defaults.items()},
            }
            for s in p.settings
        ],
    }
    if as_json:
        echo_json(data)
        return
    click.echo(
        f"Policy {p.version}: published {data['published_at']}, effective {data['effective_from']}"
    )
    print_table(
        "Settings",
        ["id", "use", "categories", "recipients", "defaults"],
        [
            [
                s["id"],
                s["use"],
                ", ".join(s["categories"]),
                ", ".join(s["recipients"]),
                ", ".join(f"{k}={v}" for k, v in s["defaults"].items()),
            ]
            for s in data["settings"]
        ],
    )
    if data["recipients"]:
        print_table(
            "Third parties",
            ["id", "name", "uses", "contract_until"],
            [
                [r["id"], r["name"], ", ".join(r["uses"]), r["contract_until"]]
                for r in data["recipients"]
            ],
        )


@policy.command("diff")
@click.argument("a")
@click.argument("b")
@json_option
@pass_app
def diff(app: AppContext, a: str, b: str, as_json: bool) -> None:
    """Changes from version A to version B; material ones need notice and fresh consent."""
    changes = workspace.diff_policies(app.engine(), a, b)
    if as_json:
        echo_json([c.as_dict() for c in changes])
        return
    print_table(
        f"{a} -> {b}",
        ["material", "kind", "subject", "detail"],
        [["yes" if c.material else "", c.kind, c.subject, c.detail] for c in changes],
    )


COMMANDS = [init, policy]
