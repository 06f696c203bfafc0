"""The ``Workspace``: what every use case of one deployment shares, built once from the
settings at the edge (the CLI, the API): the ledger's engine, the log's signing key file,
the outbox for deletion notices, and the deadline rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from consentgate.config import Settings
from consentgate.remediation.deadlines import DeadlineRules
from consentgate.store.engine import check_current, make_engine


def rules_from(settings: Settings) -> DeadlineRules:
    """Deadline rules from the settings."""
    return DeadlineRules(
        withdrawal_days=settings.withdrawal_deadline_days,
        erasure_days=settings.erasure_deadline_days,
        opt_out_business_days=settings.opt_out_deadline_business_days,
    )


@dataclass(frozen=True)
class Workspace:
    """One deployment's ledger, keys, outbox and rules.

    >>> from consentgate.config import Settings
    >>> ws = Workspace.from_settings(Settings(db_url="sqlite://"), check=False)
    >>> ws.rules.withdrawal_days
    30
    """

    settings: Settings
    engine: sa.Engine = field(repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, *, check: bool = True) -> Workspace:
        """Open the ledger of ``settings``; with ``check``, its schema must be current, the
        workspace's secret and signing key sound (``consentgate.workspace.startup``), and every dataset
        publication a crash interrupted is finished first."""
        engine = make_engine(settings.db_url, busy_timeout=settings.busy_timeout)
        if check:
            check_current(engine)
            from consentgate.workspace.startup import check_workspace

            check_workspace(engine, settings.signing_key_path)
            from consentgate.workspace.publication import recover

            recover(engine)
        return cls(settings, engine)

    @property
    def rules(self) -> DeadlineRules:
        return rules_from(self.settings)

    @property
    def signing_key(self) -> Path:
        return self.settings.signing_key_path

    @property
    def outbox(self) -> Path:
        return self.settings.outbox_path
