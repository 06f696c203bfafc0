"""The ```python examples of docs/ecosystem.md run against a freshly built dataset."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import CliResult, build_args

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)  # exactly "python": runnable

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:rdflib.*")


def _blocks() -> list[str]:
    return BLOCK.findall((ROOT / "docs" / "ecosystem.md").read_text())


def test_the_doc_has_runnable_examples() -> None:
    assert len(_blocks()) >= 4


def test_the_examples_run(
    cli: Callable[..., CliResult], world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    out = tmp_path / "posts"
    assert cli(*build_args(world, out, "--shards", "2")).exit_code == 0
    for n, code in enumerate(_blocks(), start=1):
        try:
            exec(compile(code, f"docs/ecosystem.md#python-{n}", "exec"), {"DATASET": str(out)})
        except Exception as exc:  # name the block that failed
            raise AssertionError(f"docs/ecosystem.md python example {n} failed: {exc!r}") from exc
