"""The public Python API: what ``consentgate`` exports, and the runnable examples in the
use cases' docstrings."""

from __future__ import annotations

import doctest
import importlib
import os
from pathlib import Path

import pytest

import consentgate

ROOT = Path(__file__).resolve().parent.parent

PUBLIC = [
    "AuditChainBroken",
    "Conflict",
    "ConsentEvent",
    "ConsentSnapshot",
    "ConsentgateError",
    "Decision",
    "InvalidInput",
    "NotFound",
    "PolicyError",
    "PolicyHistory",
    "PolicyVersion",
    "RecipientRefused",
    "Scope",
    "Settings",
    "UsageError",
    "Workspace",
    "__version__",
    "effective_consent",
    "make_engine",
    "parse_policy",
    "setting_status",
    "workspace",
]


def test_all_is_pinned_and_every_name_resolves() -> None:
    assert consentgate.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(consentgate, name) is not None, name
    with pytest.raises(AttributeError):
        consentgate.no_such_name  # noqa: B018


def test_every_workspace_name_resolves() -> None:
    from consentgate import workspace

    for name in workspace.__all__:
        assert getattr(workspace, name) is not None, name


@pytest.mark.parametrize(
    "module",
    [
        "consentgate.workspace.policies",
        "consentgate.workspace.context",
        "consentgate.workspace.consent",
        "consentgate.workspace.datasets",
        "consentgate.workspace.disclosures",
        "consentgate.workspace.models",
        "consentgate.workspace.notices",
        "consentgate.workspace.remediation",
        "consentgate.workspace.reports",
        "consentgate.encoding",
        "consentgate.taxonomy",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    mod = importlib.import_module(module)
    cwd = os.getcwd()
    os.chdir(ROOT)  # the examples read examples/
    try:
        failed, _tried = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    finally:
        os.chdir(cwd)
    assert failed == 0 and _tried > 0


def test_package_docstring_example_runs(tmp_path: Path) -> None:
    text = consentgate.__doc__ or ""
    code = text.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    exec(compile("\n".join(line[4:] for line in code.splitlines()), "consentgate", "exec"), {})
