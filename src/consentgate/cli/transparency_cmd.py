"""``consentgate receipt``, ``verify-receipt`` and ``verify-proof``.

The two ``verify-*`` commands need no database: they check a file offline against a
public key or a published root, exit 0 when it is valid and 1 when it is not.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any, NoReturn

import click

from consentgate import auditlog
from consentgate.checkpoint import Verifier, parse_verifier_key
from consentgate.cli.common import (
    EVENT_ID,
    MEMBER_ID,
    AppContext,
    echo_json,
    json_option,
    pass_app,
)
from consentgate.cli.ecosystem_cmd import dataset_ref
from consentgate.cli.log_cmd import policy_option, read_policy, timeout_option
from consentgate.errors import AuditChainBroken, InvalidInput, NotFound
from consentgate.membership import verify_proof_json
from consentgate.published import open_log
from consentgate.tlog.proof import is_tlog_proof
from consentgate.tlog.statements import (
    verify_in_published,
    verify_membership_proof,
    verify_receipt_proof,
)
from consentgate.tlog.tiles import CHECKPOINT
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
    help="Where to write the receipt (a c2sp.org/tlog-proof file).",
)
@policy_option("C2SP tlog-policy file: prove against a checkpoint cosigned by its quorum.")
@timeout_option
@json_option
@pass_app
def receipt(
    app: AppContext,
    member: str,
    event_id: str | None,
    out: Path,
    policy_file: Path | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Write a receipt for one of MEMBER's consent events as a tlog-proof file: the
    checkpoint, the entry's inclusion proof, and the log's signed statement of the event."""
    issued = auditlog.issue_receipt_proof(
        app.engine(),
        app.settings.signing_key_path,
        member,
        event_id=event_id,
        policy=read_policy(policy_file),
        timeout=timeout,
    )
    _write_atomic(out, issued.text)
    if as_json:
        echo_json(
            {
                "out": str(out),
                "event_id": issued.event_id,
                "leaf_index": issued.leaf_index,
                "tree_size": issued.checkpoint.size,
                "witnesses": list(issued.witnesses),
            }
        )
    else:
        click.echo(
            f"Receipt for consent event {issued.event_id} (audit entry {issued.leaf_index}) "
            f"written to {out}"
        )


def _verifiers(key_file: Path | None, policy_file: Path | None) -> tuple[list[Verifier], Any]:
    if key_file is None and policy_file is None:
        raise click.UsageError("give --public-key FILE or --policy FILE")
    keys = []
    if key_file is not None:
        try:
            keys.append(parse_verifier_key(_read_bytes(key_file).decode("utf-8")))
        except (UnicodeDecodeError, InvalidInput) as exc:
            raise InvalidInput(f"{key_file}: {exc}") from exc
    return keys, read_policy(policy_file)


@click.command("verify-receipt")
@click.argument("file", type=FILE)
@click.option(
    "--public-key",
    "key_file",
    type=FILE,
    help="File holding the log's verifier key (what `audit public-key` prints).",
)
@policy_option("C2SP tlog-policy file: the log's keys, and the witnesses' quorum to require.")
@click.option(
    "--log",
    "log_location",
    metavar="DIR|URL",
    help="The published log (tiles): check the receipt's checkpoint is a prefix of it.",
)
@timeout_option
@json_option
def verify_receipt_cmd(
    file: Path,
    key_file: Path | None,
    policy_file: Path | None,
    log_location: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Check a consent receipt offline (a tlog-proof file, or the older JSON form); exit
    0 when valid, 1 when not (no database)."""
    keys, policy = _verifiers(key_file, policy_file)
    data = _read_bytes(file)
    published = None
    try:
        if is_tlog_proof(data):
            check = verify_receipt_proof(data, log_keys=keys, policy=policy)
            event_id, event_type, index = check.event_id, check.event_type, check.leaf_index
            cp, witnesses, entry = check.checkpoint, check.witnesses, check.entry
        else:
            if not keys:
                raise click.UsageError("a JSON receipt needs --public-key FILE")
            old = verify_receipt(data, keys[0])
            event_id, event_type, index, cp = (
                old.event_id,
                old.event_type,
                old.leaf_index,
                old.checkpoint,
            )
            witnesses, entry = (), Receipt.from_json(data).entry.entry_bytes()
            if policy is not None:
                witnesses = policy.verify(Receipt.from_json(data).checkpoint).witnesses
        if log_location is not None:
            fetch = open_log(log_location, timeout=timeout)
            published = verify_in_published(
                index,
                entry,
                cp,
                note=fetch(CHECKPOINT).decode("utf-8", errors="replace"),
                fetch=fetch,
                log_keys=keys,
                policy=policy,
            )
    except (AuditChainBroken, NotFound) as exc:
        _invalid(str(exc), as_json)
    if as_json:
        data_out: dict[str, Any] = {
            "valid": True,
            "event_id": event_id,
            "event_type": event_type,
            "leaf_index": index,
            "origin": cp.origin,
            "tree_size": cp.size,
            "root": cp.root.hex(),
            "witnesses": list(witnesses),
        }
        if published is not None:
            data_out["published_size"] = published[0].size
        echo_json(data_out)
        return
    click.echo(
        f"VALID: consent event {event_id} ({event_type}) is entry "
        f"{index} of the log {cp.origin}, proven against its signed checkpoint "
        f"of {cp.size} entries (root {cp.root.hex()})"
        + (f", cosigned by {', '.join(witnesses)}" if witnesses else "")
    )
    if published is not None:
        click.echo(
            f"The published log ({published[0].size} entries) extends that checkpoint and "
            "still contains the entry."
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
@click.option(
    "--root",
    "root_hex",
    metavar="HEX",
    help="The manifest's members_root (required for the older JSON form).",
)
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
@click.option(
    "--public-key",
    "key_file",
    type=FILE,
    help="File holding the log's verifier key (for a tlog-proof file).",
)
@policy_option("C2SP tlog-policy file: the log's keys, and the witnesses' quorum to require.")
@json_option
def verify_proof_cmd(
    file: Path,
    root_hex: str | None,
    size: int | None,
    dataset_id: str | None,
    secret: bytes | None,
    member_id: str | None,
    key_file: Path | None,
    policy_file: Path | None,
    as_json: bool,
) -> None:
    """Check a dataset membership proof offline: a tlog-proof file (against the log's key
    or a policy) or the older JSON form (against --root); print whether the member is IN
    or OUT. Exit 0 when valid, 1 when not (no database)."""
    if (secret is None) != (member_id is None):
        raise click.UsageError("give --secret and --member together, or neither")
    data = _read_bytes(file)
    witnesses: tuple[str, ...] = ()
    if is_tlog_proof(data):
        keys, policy = _verifiers(key_file, policy_file)
        try:
            checked = verify_membership_proof(
                data,
                log_keys=keys,
                policy=policy,
                secret=secret,
                member_id=member_id,
                root_hex=root_hex,
            )
        except AuditChainBroken as exc:
            _invalid(str(exc), as_json)
        problem = None
        if size is not None and checked.members_count != size:
            problem = f"the proof is for a tree of {checked.members_count} leaves, expected {size}"
        if dataset_id is not None and checked.dataset_id != dataset_id:
            problem = f"the proof is for dataset {checked.dataset_id!r}, expected {dataset_id!r}"
        if problem:
            _invalid(problem, as_json)
        present, reason, witnesses = checked.present, checked.reason, checked.witnesses
    else:
        if root_hex is None:
            raise click.UsageError("a JSON membership proof needs --root HEX")
        result = verify_proof_json(
            data,
            root_hex,
            tree_size=size,
            dataset_id=dataset_id,
            secret=secret,
            member_id=member_id,
        )
        if not result.valid:
            _invalid(result.reason, as_json)
        present, reason = result.present, result.reason
    status = "in" if present else "out"
    if as_json:
        echo_json(
            {
                "valid": True,
                "present": present,
                "status": status,
                "reason": reason,
                "witnesses": list(witnesses),
            }
        )
    else:
        extra = f" (checkpoint cosigned by {', '.join(witnesses)})" if witnesses else ""
        click.echo(f"VALID: {reason}{extra}")


@click.command("proof")
@click.argument("member", type=MEMBER_ID)
@click.option(
    "--dataset", "dataset_id", required=True, help="Registered dataset: id, unique prefix or name."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Proof file (c2sp.org/tlog-proof) to write.",
)
@policy_option("C2SP tlog-policy file: prove against a checkpoint cosigned by its quorum.")
@timeout_option
@json_option
@pass_app
def proof_cmd(
    app: AppContext,
    member: str,
    dataset_id: str,
    out: Path,
    policy_file: Path | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Write a proof that MEMBER's data is, or is NOT, in a dataset (checkable offline).

    Prints the dataset's members_root and the member's secret, which the member needs to
    check that the proof is about them: verify-proof FILE --public-key K --secret S --member ID.
    """
    from consentgate.proofs import prove_member_tlog

    dataset_id = dataset_ref(app, dataset_id)  # issue 13
    issued = prove_member_tlog(
        app.engine(),
        app.settings.signing_key_path,
        member,
        dataset_id,
        policy=read_policy(policy_file),
        timeout=timeout,
    )
    _write_atomic(out, issued.text)
    data = {
        "member_id": member,
        "dataset_id": dataset_id,
        "present": issued.present,
        "members_root": issued.members_root,
        "member_secret": issued.member_secret_hex,
        "leaf_index": issued.leaf_index,
        "witnesses": list(issued.witnesses),
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
