"""``consentgate audit verify|checkpoint|public-key``: the audit trail as a transparency log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from consentgate import workspace
from consentgate.cli.common import AppContext, echo_json, json_option, pass_app
from consentgate.cli.log import policy_option, read_policy, timeout_option
from consentgate.errors import InvalidInput
from consentgate.tlog.proof import is_tlog_proof, parse_tlog_proof

if TYPE_CHECKING:
    from consentgate.tlog.receipts import SignedHead

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def audit() -> None:
    """Verify the tamper-evident audit trail and sign its checkpoints."""


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}") from exc


def _checkpoint_note(path: Path) -> str:
    """A signed checkpoint from a note file, a tlog-proof file (a receipt or proof), or a
    JSON receipt's ``checkpoint`` field."""
    text = _read(path)
    if is_tlog_proof(text):
        try:
            return parse_tlog_proof(text).checkpoint
        except InvalidInput as exc:
            raise InvalidInput(f"{path}: {exc}") from exc
    try:
        doc = json.loads(text)
    except ValueError:
        return text
    if isinstance(doc, dict) and isinstance(doc.get("checkpoint"), str):
        return str(doc["checkpoint"])
    raise InvalidInput(f"{path}: neither a signed checkpoint nor a receipt")


@audit.command("verify")
@click.option(
    "--public-key",
    "public_key_file",
    type=FILE,
    help="File holding the log's verifier key (what `audit public-key` prints); "
    "default: the signing key's own.",
)
@click.option(
    "--checkpoint",
    "checkpoint_files",
    type=FILE,
    multiple=True,
    help="A signed checkpoint kept outside the database (a note file, a receipt or a "
    "proof); repeatable. The log must extend each one.",
)
@policy_option(
    "C2SP tlog-policy file: its log keys are trusted, and the latest checkpoint (and every "
    "given one) must carry its witnesses' quorum."
)
@click.option(
    "--published",
    metavar="DIR|URL",
    help="The published log (tiles): the log must extend it; names the first entry that differs.",
)
@click.option(
    "--datasets",
    "check_datasets",
    is_flag=True,
    help="Also verify every registered dataset's files (as `verify-dataset` does).",
)
@timeout_option
@json_option
@pass_app
@click.pass_context
def verify(
    ctx: click.Context,
    app: AppContext,
    public_key_file: Path | None,
    checkpoint_files: tuple[Path, ...],
    policy_file: Path | None,
    published: str | None,
    check_datasets: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Check the hash chain, the Merkle tree against every signed checkpoint, and every
    audited row; exit 1 naming the first broken entry or checkpoint. The log must have
    a signed checkpoint once it has entries, and must extend the latest checkpoint kept
    outside the database (<key_dir>/checkpoint.latest). With --datasets, every
    registered dataset too (exit 1 naming each one that does not verify)."""
    given = [(str(p), _checkpoint_note(p)) for p in checkpoint_files]
    report = workspace.verify_log(
        app.engine(),
        key_file=app.settings.signing_key_path,
        public_key=_read(public_key_file) if public_key_file else None,
        checkpoints=given,
        policy=read_policy(policy_file),
        published=published,
        timeout=timeout,
    )
    log = report.log
    latest = log.latest if log else None
    # imported here, so that `audit ... --help` stays quick (issue 10, start-up)
    from consentgate.workspace.autocheckpoint import compare_outside, latest_path
    from consentgate.workspace.dataset_verify import verify_registry
    from consentgate.workspace.log_status import require_checkpoint

    require_checkpoint(app.engine(), report.entries)
    outside = compare_outside(app.engine(), latest_path(app.settings.key_dir))
    datasets = verify_registry(app.engine()) if check_datasets else []
    failed = [d for d in datasets if not d.ok]
    if as_json:
        echo_json(
            {
                "datasets": [d.as_dict() for d in datasets] if check_datasets else None,
                "outside_checkpoint_size": outside,
                "ok": True,
                "entries": report.entries,
                "rows": report.rows,
                "head": report.head,
                "root": report.root,
                "checkpoints": log.checkpoints if log else 0,
                "signatures_checked": log.signatures_checked if log else False,
                "latest_checkpoint": (
                    {"number": latest.number, "size": latest.size} if latest else None
                ),
                "uncovered": log.uncovered if log else report.entries,
                "witnesses": list(report.witnesses),
                "published_size": report.published.size if report.published else None,
            }
        )
        if failed:
            ctx.exit(1)
        return
    click.echo(
        f"Audit trail intact: {report.entries} entries, {report.rows} rows verified, "
        f"head {report.head}"
    )
    click.echo(f"Merkle root {report.root} over {report.entries} entries")
    if log is None or latest is None:
        click.echo("No signed checkpoint yet: run `consentgate audit checkpoint`.")
    else:
        click.echo(
            f"{log.checkpoints} signed checkpoint(s) verified; the log extends every one "
            f"(latest {latest.label}, size {latest.size}; {log.uncovered} entries since)"
        )
    if report.witnesses:
        click.echo(f"Latest checkpoint cosigned by {', '.join(report.witnesses)} (quorum met)")
    if report.published is not None:
        click.echo(
            f"The log extends the published log in {published} ({report.published.size} entries)"
        )
    if outside is not None:
        click.echo(f"The log extends the checkpoint kept outside the database (size {outside})")
    if check_datasets:
        for dataset in datasets:
            from consentgate.cli.verify import print_report

            print_report(dataset)
        click.echo(f"{len(datasets) - len(failed)} of {len(datasets)} registered datasets verified")
    if failed:
        ctx.exit(1)


@audit.command("checkpoint")
@json_option
@pass_app
def checkpoint(app: AppContext, as_json: bool) -> None:
    """Sign and store the log's current head (a C2SP checkpoint in an Ed25519 signed note)."""
    head: SignedHead = workspace.create_checkpoint(app.engine(), app.settings.signing_key_path)
    cp = head.checkpoint
    from consentgate.workspace.autocheckpoint import write_latest

    write_latest(app.settings.key_dir, cp.note)
    if as_json:
        prev = head.previous
        data: dict[str, Any] = {
            "number": cp.number,
            "size": cp.size,
            "root": cp.root.hex(),
            "note": cp.note,
            "created": head.created,
            "previous": {"number": prev.number, "size": prev.size} if prev else None,
        }
        echo_json(data)
        return
    if head.created:
        click.echo(f"Checkpoint #{cp.number} signed: {cp.size} entries, root {cp.root.hex()}")
    else:
        click.echo(f"The log has not grown since checkpoint #{cp.number}; nothing new signed.")
    click.echo(cp.note, nl=False)


@audit.command("public-key")
@pass_app
def public_key(app: AppContext) -> None:
    """Print the log's verifier key: give it to members and auditors (verify-receipt)."""
    click.echo(workspace.log_public_key(app.engine(), app.settings.signing_key_path))


COMMANDS = [audit]
