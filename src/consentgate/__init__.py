"""consentgate: decide, enforce and prove which user data may train AI models.

The names users script against, imported on first use so ``import consentgate`` stays
cheap (``tests/test_api.py`` pins ``__all__``)::

    import consentgate

    ws = consentgate.Workspace.from_settings(consentgate.Settings(db_url="sqlite://"), check=False)
    consentgate.workspace.init_workspace(ws.engine)

``consentgate.workspace`` holds every use case (one module per concept); the pure core is
``consent``, ``policy``, ``snapshot``, ``gate``, ``redact``, ``remediation``, ``unlearn`` and
``tlog``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from consentgate import workspace
    from consentgate.config import Settings
    from consentgate.consent import ConsentEvent, Decision, effective_consent, setting_status
    from consentgate.errors import (
        AuditChainBroken,
        Conflict,
        ConsentgateError,
        InvalidInput,
        NotFound,
        PolicyError,
        RecipientRefused,
        UsageError,
    )
    from consentgate.policy import PolicyHistory, PolicyVersion, Scope, parse_policy
    from consentgate.snapshot import ConsentSnapshot
    from consentgate.store.engine import make_engine
    from consentgate.workspace.context import Workspace

__version__ = "0.1.0"

_WHERE = {
    "workspace": ("consentgate", "workspace"),
    "Workspace": ("consentgate.workspace.context", "Workspace"),
    "Settings": ("consentgate.config", "Settings"),
    "make_engine": ("consentgate.store.engine", "make_engine"),
    "ConsentEvent": ("consentgate.consent", "ConsentEvent"),
    "Decision": ("consentgate.consent", "Decision"),
    "effective_consent": ("consentgate.consent", "effective_consent"),
    "setting_status": ("consentgate.consent", "setting_status"),
    "ConsentSnapshot": ("consentgate.snapshot", "ConsentSnapshot"),
    "PolicyHistory": ("consentgate.policy", "PolicyHistory"),
    "PolicyVersion": ("consentgate.policy", "PolicyVersion"),
    "Scope": ("consentgate.policy", "Scope"),
    "parse_policy": ("consentgate.policy", "parse_policy"),
    "ConsentgateError": ("consentgate.errors", "ConsentgateError"),
    "AuditChainBroken": ("consentgate.errors", "AuditChainBroken"),
    "Conflict": ("consentgate.errors", "Conflict"),
    "InvalidInput": ("consentgate.errors", "InvalidInput"),
    "NotFound": ("consentgate.errors", "NotFound"),
    "PolicyError": ("consentgate.errors", "PolicyError"),
    "RecipientRefused": ("consentgate.errors", "RecipientRefused"),
    "UsageError": ("consentgate.errors", "UsageError"),
}

__all__ = [
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


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = where
    value = (
        importlib.import_module(f"consentgate.{attr}")
        if module == "consentgate"
        else getattr(importlib.import_module(module), attr)
    )
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
