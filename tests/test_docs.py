"""Every CLI command and every setting is documented; examples match the shipped data."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

import click
import pytest

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


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_the_readme_python_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (block,) = _python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "README.md", "exec"), {"__name__": "__readme__"})
    state, grants, sha = out.getvalue().split()
    # mem-1 (US) is on by default for ai_training_posts; mem-2 (EU) granted it
    assert state == "default_on" and int(grants) == 2 and len(sha) == 64


def test_every_module_has_a_line_in_the_architecture() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    package = ROOT / "src" / "consentgate"
    missing = [
        str(p.relative_to(package))
        for p in package.rglob("*.py")
        if "migrations" not in p.parts and f"- `{p.relative_to(package)}` — " not in text
    ]
    assert not missing, f"modules missing from docs/architecture.md: {missing}"
