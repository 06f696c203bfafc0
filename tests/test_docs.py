"""Every CLI command and every setting is documented; examples match the shipped data."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
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


SKIP = "# doc-test: skip ("


def _sh_blocks(text: str) -> list[str]:
    """The ```sh runnable blocks of a document (other shell blocks are illustrations)."""
    return re.findall(r"^```sh runnable\n(.*?)^```", text, flags=re.S | re.M)


def _runnable(block: str) -> tuple[str, list[str]]:
    """The block as a script: the lines marked ``# doc-test: skip (reason)`` left out (each
    must give its reason), every other line as written."""
    kept, skipped = [], []
    for line in block.splitlines():
        if SKIP in line:
            assert line.rstrip().endswith(")") and line.split(SKIP)[1].strip(" )"), line
            skipped.append(line)
        else:
            kept.append(line)
    return "\n".join(kept) + "\n", skipped


def test_readme_sh_blocks_keep_skips_to_servers_and_the_demo() -> None:
    (block,) = _sh_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    script, skipped = _runnable(block)
    assert [line.split()[1] for line in skipped] == ["witness", "log", "serve", "serve", "demo"]
    # A failing command inside `a && b` does not stop `bash -e`: one command per line.
    assert "&&" not in script


@pytest.mark.slow
def test_the_readme_cli_block_runs_as_written(tmp_path: Path) -> None:
    """Every line of the README's command-line block, in a fresh directory against a fresh
    SQLite workspace, with `bash -e`: any command exiting non-zero fails the test (a
    refusal the README shows is written `|| test $? -eq 1`, so it must exit 1)."""
    (block,) = _sh_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    script, _ = _runnable(block)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    bindir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTGATE_")} | {
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"
    }
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    assert (tmp_path / "consentgate.db").is_file() and (tmp_path / "access.html").is_file()
    assert "VALID" in done.stdout and "Audit trail intact" in done.stdout
