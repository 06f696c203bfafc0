"""Every CLI command and every setting is documented; examples match the shipped data."""

from __future__ import annotations

from pathlib import Path

import click

from consentgate.cli import cli
from consentgate.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def _commands(group: click.Group, prefix: str = "consentgate") -> list[str]:
    out = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None
        path = f"{prefix} {name}"
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, path))
        else:
            out.append(path)
    return out


def test_every_command_is_documented() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    missing = [c for c in _commands(cli) if f"## {c}\n" not in text]
    assert not missing, f"undocumented commands: {missing}"


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"`{name}`" not in text]
    assert not missing
    assert all(f.description for f in Settings.model_fields.values())


def test_examples_match_demo_data() -> None:
    data = ROOT / "src" / "consentgate" / "data"
    for f in data.glob("policy-*.yaml"):
        assert (ROOT / "examples" / f.name).read_text() == f.read_text()
