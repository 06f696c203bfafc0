"""``consentgate log publish|rotate-key`` and ``consentgate witness init|public-key|serve``:
the audit log published as C2SP tiles, witnessed, and a minimal witness."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from consentgate import workspace
from consentgate.cli.common import AppContext, echo_json, json_option, pass_app
from consentgate.errors import ConsentgateError, InvalidInput
from consentgate.tlog.checkpoint import Verifier, parse_verifier_key
from consentgate.tlog.policy import TlogPolicy, parse_policy

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
F = TypeVar("F", bound=Callable[..., Any])


def read_policy(path: Path | None) -> TlogPolicy | None:
    """The c2sp.org/tlog-policy file at ``path`` (None when not given)."""
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}") from exc
    return parse_policy(data, name=str(path))


def policy_option(help_text: str) -> Callable[[F], F]:
    return click.option(
        "--policy",
        "policy_file",
        type=FILE,
        help=help_text,
    )


def timeout_option(f: F) -> F:
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0.1, max=600),
        default=10.0,
        show_default=True,
        help="Seconds to wait for each witness or published log.",
    )(f)


@click.group("log")
def log_group() -> None:
    """Publish the audit log (C2SP tlog-tiles), have it witnessed, rotate its key."""


@log_group.command("publish")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@policy_option(
    "C2SP tlog-policy file: the head is published only once its witnesses' quorum has cosigned."
)
@click.option("--full", is_flag=True, help="Recompute every tile from entry 0.")
@timeout_option
@json_option
@pass_app
def publish(
    app: AppContext,
    directory: Path,
    policy_file: Path | None,
    full: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Sign the log's head, have it cosigned (with --policy) and write DIRECTORY as a
    tiled log: checkpoint, tile/<L>/<N>[.p/<W>], tile/entries/<N>[.p/<W>]."""
    from consentgate.workspace.log_publication import publish_log

    result = publish_log(
        app.engine(),
        app.settings.signing_key_path,
        directory,
        policy=read_policy(policy_file),
        full=full,
        timeout=timeout,
    )
    cp = result.checkpoint
    outcomes = result.witnessing.outcomes if result.witnessing else ()
    if as_json:
        echo_json(
            {
                "published": result.published,
                "directory": str(directory),
                "size": cp.size,
                "root": cp.root.hex(),
                "checkpoint": cp.number,
                "previous_size": result.previous_size,
                "files_written": result.written,
                "witnesses": list(result.witnesses),
                "outcomes": {
                    o.name: {"cosigned": o.cosigned, "detail": o.detail} for o in outcomes
                },
            }
        )
    else:
        for o in outcomes:
            click.echo(f"  witness {o.name}: {o.detail}")
        if result.published:
            extra = f", cosigned by {', '.join(result.witnesses)}" if result.witnesses else ""
            click.echo(
                f"Published {cp.size} entries in {directory} (checkpoint #{cp.number}, root "
                f"{cp.root.hex()}{extra}); {result.written} file(s) written"
            )
    if not result.published:
        raise ConsentgateError(
            f"not published: checkpoint #{cp.number} (size {cp.size}) lacks the policy's quorum"
        )


@log_group.command("rotate-key")
@json_option
@pass_app
def rotate_key(app: AppContext, as_json: bool) -> None:
    """Replace the log's signing key by a new one; the rotation is logged and signed by
    both keys, and earlier checkpoints stay verifiable."""
    result = workspace.rotate_key(app.engine(), app.settings.signing_key_path)
    if as_json:
        echo_json(
            {
                "old_key": result.old_key,
                "new_key": result.new_key,
                "checkpoint": result.checkpoint.number,
                "size": result.checkpoint.size,
                "retired_key_file": str(result.retired),
            }
        )
        return
    click.echo(f"Log key rotated; old key file kept as {result.retired}")
    click.echo(f"Old verifier key: {result.old_key}")
    click.echo(f"New verifier key: {result.new_key}")
    click.echo(
        f"Checkpoint #{result.checkpoint.number} (size {result.checkpoint.size}) signed by both "
        "keys; give witnesses and verifiers the new key."
    )


# -- the witness -----------------------------------------------------------------------------


@click.group("witness")
def witness_group() -> None:
    """A minimal C2SP tlog-witness: its own key, its own state, loopback by default."""


@witness_group.command("init")
@click.option("--key", "key_file", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--name", required=True, help="Key name, e.g. witness.example/w1.")
def witness_init(key_file: Path, name: str) -> None:
    """Create a witness key (mode 0600) and print its verifier key."""
    from consentgate.tlog.witness_server import create_witness_key

    click.echo(create_witness_key(key_file, name=name).verifier.key)


@witness_group.command("public-key")
@click.option("--key", "key_file", type=FILE, required=True)
def witness_public_key(key_file: Path) -> None:
    """Print the witness's verifier key (for tlog-policy files)."""
    from consentgate.tlog.witness_server import load_witness_key

    click.echo(load_witness_key(key_file).verifier.key)


def _trusted_logs(files: tuple[Path, ...]) -> dict[str, list[Verifier]]:
    logs: dict[str, list[Verifier]] = defaultdict(list)
    for path in files:
        try:
            key = parse_verifier_key(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, InvalidInput) as exc:
            raise InvalidInput(f"{path}: not a log verifier key: {exc}") from exc
        logs[key.name].append(key)
    return dict(logs)


@witness_group.command("serve")
@click.option("--key", "key_file", type=FILE, required=True, help="The witness's key file.")
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The witness's state file (created if missing).",
)
@click.option(
    "--log",
    "log_keys",
    type=FILE,
    multiple=True,
    required=True,
    help="A log's verifier key file (what `audit public-key` prints); repeatable.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=7380, show_default=True)
def witness_serve(
    key_file: Path, state_file: Path, log_keys: tuple[Path, ...], host: str, port: int
) -> None:
    """Serve POST /add-checkpoint and GET /<origin hash>/checkpoint until stopped."""
    import uvicorn

    from consentgate.tlog.witness_server import WitnessState, create_witness_app, load_witness_key

    cosigner = load_witness_key(key_file)
    app = create_witness_app(cosigner, _trusted_logs(log_keys), WitnessState(state_file))
    click.echo(f"witness {cosigner.verifier.key} on http://{host}:{port}/", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


COMMANDS = [log_group, witness_group]
