"""Use cases for consent snapshots: who may be used for (use, recipient) at an instant, as
the gate joins against (DESIGN.md "Consent snapshots")."""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa

from consentgate import consent as core
from consentgate.errors import InvalidInput, UsageError
from consentgate.policy import (
    PolicyHistory,
    Scope,
)
from consentgate.snapshot import ConsentSnapshot
from consentgate.store import ledger
from consentgate.taxonomy import FIRST_PARTY
from consentgate.timestamps import Clock, format_timestamp, utcnow

logger = logging.getLogger(__name__)


def check_recipient(history: PolicyHistory, use: str, recipient: str, at: datetime) -> None:
    """Refuse a third-party recipient the policy in force at ``at`` does not allow for ``use``."""
    if recipient == FIRST_PARTY:
        return
    from consentgate.errors import RecipientRefused

    policy = history.in_force(at)
    if policy is None:
        raise RecipientRefused(f"no policy version is in force at {format_timestamp(at)}")
    r = policy.recipient(recipient)
    if r is None:
        raise RecipientRefused(
            f"recipient {recipient!r} is not named by policy {policy.version!r} in force at {format_timestamp(at)}"
        )
    reason = r.allows(use, at)
    if reason:
        raise RecipientRefused(reason)


def build_snapshot(
    engine: sa.Engine,
    *,
    use: str,
    recipient: str,
    as_of: datetime,
    known_at: datetime | None = None,
    record: bool = True,
    now: Clock = utcnow,
    refuse_recipient: bool = True,
) -> ConsentSnapshot:
    """Compute (and record, with an audit entry) the consent snapshot for (use, recipient, as_of).

    ``refuse_recipient`` False: compute it even for a third party the policy does not
    allow at ``as_of`` (an audit reports that instead of refusing).
    """
    known_at = known_at or now()
    with engine.begin() as conn:
        taxonomy = ledger.load_taxonomy(conn)
        taxonomy.check_use(use, where="`use`")
        history = ledger.load_history(conn)
        if not history.versions:
            raise UsageError("no policy version is published yet")
        if refuse_recipient:
            check_recipient(history, use, recipient, as_of)
        categories = history.scope_categories(use, recipient)
        from consentgate.policy import settings_touching

        settings = settings_touching(history, [Scope(use, c, recipient) for c in categories])
        snap = core.compute_snapshot(
            members=ledger.members_table(conn, known_at=known_at),
            moves=ledger.moves_table(conn, as_of=as_of, known_at=known_at),
            events=ledger.events_table(conn, as_of=as_of, known_at=known_at, settings=settings),
            history=history,
            use=use,
            recipient=recipient,
            as_of=as_of,
            known_at=known_at,
        )
        if record:
            ledger.record_snapshot(conn, snap, sha256=snap.sha256, at=now())
    logger.info("snapshot computed: %d grant rows", snap.grants.num_rows)
    return snap


def build_snapshots(
    engine: sa.Engine,
    *,
    use: str,
    recipient: str,
    as_of: datetime,
    built_at: datetime,
) -> tuple[ConsentSnapshot, ConsentSnapshot]:
    """The two snapshots a build is judged by (DESIGN.md "Record eligibility"): consent at
    the cutoff ``as_of`` and at the build time ``built_at``, both as known at the build
    time (not recorded here: a build records them when it registers its dataset).

    Refuses a cutoff after the build time, and a third party the policy does not allow
    for ``use`` at either time. When ``as_of`` is the build time, one snapshot serves both.
    """
    if as_of > built_at:
        raise InvalidInput(
            f"`as_of` {format_timestamp(as_of)} is after the build time "
            f"{format_timestamp(built_at)}: a dataset's cutoff cannot be in the future"
        )
    at_cutoff = build_snapshot(
        engine, use=use, recipient=recipient, as_of=as_of, known_at=built_at, record=False
    )
    if as_of == built_at:
        return at_cutoff, at_cutoff
    at_build = build_snapshot(
        engine, use=use, recipient=recipient, as_of=built_at, known_at=built_at, record=False
    )
    return at_cutoff, at_build
