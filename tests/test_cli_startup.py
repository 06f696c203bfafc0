"""The CLI starts lazily: ``--help`` imports no command, a command imports only its module,
and the table ``--help`` lists matches the commands themselves."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import click

from consentgate.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("pyarrow", "pandas", "sqlalchemy", "pyspark", "sklearn", "spacy", "rich", "pydantic")


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {m.split(".")[0] for m in out}


def test_the_lazy_table_matches_every_command() -> None:
    for name, (module, short_help) in COMMANDS.items():
        loaded = importlib.import_module(f"consentgate.cli.{module}")
        (command,) = [c for c in loaded.COMMANDS if c.name == name]
        assert command.get_short_help_str(limit=10_000) == short_help, name
    every = {
        c.name
        for m in {m for m, _ in COMMANDS.values()}
        for c in importlib.import_module(f"consentgate.cli.{m}").COMMANDS
    }
    assert every == set(COMMANDS)


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys\nfrom consentgate.cli import main\nsys.argv = ['consentgate', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    loaded = _loaded_after(code)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_importing_the_package_and_the_use_cases_is_light() -> None:
    loaded = _loaded_after("import consentgate\nfrom consentgate import workspace")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_command_is_found_and_runs_after_lazy_loading() -> None:
    ctx = click.Context(cli)
    command = cli.get_command(ctx, "policy")
    assert isinstance(command, click.Group) and "publish" in command.commands
    assert cli.get_command(ctx, "no-such-command") is None


def test_consent_status_loads_neither_numpy_nor_pyarrow(tmp_path: Path) -> None:
    """The per-member question pays for SQLAlchemy and the consent rules only: the Arrow
    snapshot code, the gate and the import parsers stay unloaded (issue 10, start-up)."""
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    members = tmp_path / "members.csv"
    members.write_text("member_id,jurisdiction\nm1,US\n", encoding="utf-8")
    env = {**os.environ, "CONSENTGATE_KEY_DIR": str(tmp_path / "keys")}
    for args in (
        ["init"],
        ["policy", "publish", str(ROOT / "examples" / "policy-v2.yaml")],
        ["members", "import", str(members)],
    ):
        subprocess.run(
            [str(Path(sys.executable).with_name("consentgate")), "--db", db, *args],
            check=True,
            capture_output=True,
            env=env,
            cwd=tmp_path,
        )
    argv = ["consentgate", "--db", db, "consent", "status", "m1", "--setting"]
    code = (
        f"import sys\nfrom consentgate.cli import main\nsys.argv = {[*argv, 'ai_training_posts', '--json']!r}"
        "\ntry:\n    main()\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code"
    )
    out = subprocess.run(
        [sys.executable, "-c", code + "\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tmp_path,
    ).stdout
    assert '"state": "default_on"' in out  # it answered
    loaded = {m.split(".")[0] for m in out.split()} | set(out.split())
    assert {"numpy", "pyarrow", "consentgate.ingest", "consentgate.gate.run"}.isdisjoint(loaded)


def test_a_subcommand_help_loads_no_database_or_arrow_library() -> None:
    code = (
        "import sys\nfrom consentgate.cli import main\n"
        "sys.argv = ['consentgate', 'audit', 'verify', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    loaded = _loaded_after(code)
    assert "consentgate" in loaded  # it ran
    assert not loaded & {"sqlalchemy", "pyarrow", "numpy"}, sorted(loaded)
