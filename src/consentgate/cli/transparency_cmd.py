"""``consentgate receipt``, ``verify-receipt`` and ``verify-proof``.

The two ``verify-*`` commands need no database: they check a file offline against a
public key or a published root, exit 0 when it is valid and 1 when it is not.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

import click

from consentgate import auditlog
from consentgate.checkpoint import parse_verifier_key
from consentgate.cli.common import (
    EVENT_ID,
    MEMBER_ID,
    AppContext,
    echo_json,
    json_option,
    pass_app,
)
from consentgate.errors import AuditChainBroken, InvalidInput
from consentgate.membership import verify_proof_json
from consentgate.transparency import Receipt, verify_receipt

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}") from exc


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _invalid(reason: str, as_json: bool) -> NoReturn:
    """Print the verdict and exit 1 (``SystemExit``: ``cli.main`` runs click with
    ``standalone_mode=False``, which would turn ``ctx.exit(1)`` into exit code 0)."""
    if as_json:
        echo_json({"valid": False, "reason": reason})
    else:
        click.echo(f"INVALID: {reason}")
    sys.exit(1)


@click.command()
@click.argument("member", type=MEMBER_ID)
@click.option(
    "--event", "event_id", type=EVENT_ID, metavar="ID", help="The event (default: the latest)."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the receipt (JSON).",
)
@json_option
@pass_app
def receipt(app: AppContext, member: str, event_id: str | None, out: Path, as_json: bool) -> None:
    """Write a signed receipt for one of MEMBER's consent events: the event, its audit
    entry, an inclusion proof and the signed checkpoint it is proven against."""
    issued: Receipt = auditlog.issue_receipt(
        app.engine(), app.settings.signing_key_path, member, event_id=event_id
    )
    _write_atomic(out, issued.to_json())
    if as_json:
        echo_json({"out": str(out), "event_id": issued.entry.key, "leaf_index": issued.entry.idx})
    else:
        click.echo(
            f"Receipt for consent event {issued.entry.key} (audit entry {issued.entry.idx}) "
            f"written to {out}"
        )


@click.command("verify-receipt")
@click.argument("file", type=FILE)
@click.option(
    "--public-key",
    "key_file",
    type=FILE,
    required=True,
    help="File holding the log's verifier key (what `audit public-key` prints).",
)
@json_option
def verify_receipt_cmd(file: Path, key_file: Path, as_json: bool) -> None:
    """Check a consent receipt offline; exit 0 when valid, 1 when not (no database)."""
    try:
        verifier = parse_verifier_key(_read_bytes(key_file).decode("utf-8"))
    except (UnicodeDecodeError, InvalidInput) as exc:
        raise InvalidInput(f"{key_file}: {exc}") from exc
    try:
        check = verify_receipt(_read_bytes(file), verifier)
    except AuditChainBroken as exc:
        _invalid(str(exc), as_json)
    cp = check.checkpoint
    if as_json:
        echo_json(
            {
                "valid": True,
                "event_id": check.event_id,
                "event_type": check.event_type,
                "leaf_index": check.leaf_index,
                "origin": cp.origin,
                "tree_size": cp.size,
                "root": cp.root.hex(),
            }
        )
        return
    click.echo(
        f"VALID: consent event {check.event_id} ({check.event_type}) is entry "
        f"{check.leaf_index} of the log {cp.origin}, proven against its signed checkpoint "
        f"of {cp.size} entries (root {cp.root.hex()})"
    )


def _secret(ctx: click.Context, param: click.Parameter, value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise click.BadParameter("must be hexadecimal", ctx, param) from None


@click.command("verify-proof")
@click.argument("file", type=FILE)
@click.option("--root", "root_hex", metavar="HEX", required=True, help="The members_root.")
@click.option("--size", type=click.IntRange(min=0), help="Expected member count (tree size).")
@click.option("--dataset", "dataset_id", metavar="ID", help="Expected dataset id.")
@click.option(
    "--secret",
    metavar="HEX",
    callback=_secret,
    help="The member's secret: check the proof is about this member (with --member).",
)
@click.option(
    "--member", "member_id", type=MEMBER_ID, metavar="ID", help="The member id (with --secret)."
)
@json_option
def verify_proof_cmd(
    file: Path,
    root_hex: str,
    size: int | None,
    dataset_id: str | None,
    secret: bytes | None,
    member_id: str | None,
    as_json: bool,
) -> None:
    """Check a dataset membership proof offline against the manifest's members_root;
    print whether the member is IN or OUT. Exit 0 when valid, 1 when not (no database)."""
    if (secret is None) != (member_id is None):
        raise click.UsageError("give --secret and --member together, or neither")
    result = verify_proof_json(
        _read_bytes(file),
        root_hex,
        tree_size=size,
        dataset_id=dataset_id,
        secret=secret,
        member_id=member_id,
    )
    if not result.valid:
        _invalid(result.reason, as_json)
    status = "in" if result.present else "out"
    if as_json:
        echo_json(
            {"valid": True, "present": result.present, "status": status, "reason": result.reason}
        )
    else:
        click.echo(f"VALID: {result.reason}")


@click.command("proof")
@click.argument("member", type=MEMBER_ID)
@click.option("--dataset", "dataset_id", required=True, help="Registered dataset id.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Proof file (JSON) to write.",
)
@json_option
@pass_app
def proof_cmd(app: AppContext, member: str, dataset_id: str, out: Path, as_json: bool) -> None:
    """Write a proof that MEMBER's data is, or is NOT, in a dataset (checkable offline).

    Prints the dataset's members_root and the member's secret, which the member needs to
    check that the proof is about them: verify-proof FILE --root R --secret S --member ID.
    """
    from consentgate.proofs import prove_member

    issued = prove_member(app.engine(), member, dataset_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(out, issued.proof.to_json())
    data = {
        "member_id": member,
        "dataset_id": dataset_id,
        "present": issued.present,
        "members_root": issued.members_root,
        "member_secret": issued.member_secret_hex,
        "out": str(out),
    }
    if as_json:
        echo_json(data)
        return
    click.echo(
        f"{'Membership' if issued.present else 'Non-membership'} proof for {member} -> {out}"
    )
    click.echo(f"members_root {issued.members_root}")
    click.echo(f"member secret {issued.member_secret_hex} (give only to this member)")


COMMANDS = [receipt, verify_receipt_cmd, proof_cmd, verify_proof_cmd]
