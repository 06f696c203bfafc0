"""``consentgate demo``: a synthetic platform, end to end."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-workspace"),
    show_default=True,
)
@click.option(
    "--members", "n_members", type=click.IntRange(min=50), default=3000, show_default=True
)
@click.option("--seed", type=int, default=7, show_default=True)
def demo(directory: Path, n_members: int, seed: int) -> None:
    """Build a demo workspace modelled on the case and walk through it."""
    from consentgate.demo import run_demo

    run_demo(directory, n_members=n_members, seed=seed, echo=click.echo)


COMMANDS = [demo]
