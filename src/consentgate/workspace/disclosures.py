"""Disclosures: a dataset built for a third party, delivered to it. Recording one makes
the recipient follow the dataset's remediation orders (it gets deletion notices).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from consentgate.errors import Conflict, InvalidInput, RecipientRefused, UsageError
from consentgate.store import ledger
from consentgate.store import remediation as store
from consentgate.taxonomy import FIRST_PARTY
from consentgate.timestamps import Clock, format_timestamp, utcnow
from consentgate.workspace.dataset_files import registered_dataset
from consentgate.workspace.remediation import follow_dataset_orders
from consentgate.workspace.results import from_row
from consentgate.workspace.snapshots import check_recipient


def disclose(
    engine: sa.Engine,
    dataset_id: str,
    *,
    recipient: str,
    at: datetime | None = None,
    historical: bool = False,
    evidence: str | None = None,
    now: Clock = utcnow,
) -> Disclosure:
    """Record that a dataset built for a third party was delivered to it (``disclose``).

    Refused for a recipient the dataset was not built for, for ``first_party``, for a
    superseded version, when the policy no longer allows the recipient for the use, and
    for a time ``at`` before the dataset was registered — unless ``historical``, with
    ``evidence`` (where the proof of that earlier delivery is kept), which is recorded
    with the disclosure (source ``historical``).
    """
    stamp = now()
    when = at or stamp
    if historical and not (evidence and evidence.strip()):
        raise UsageError("`historical` needs `evidence`: where the proof of the delivery is kept")
    if evidence is not None and not historical:
        raise UsageError("`evidence` goes with `historical`")
    with engine.begin() as conn:
        ds = registered_dataset(conn, dataset_id)
        if when < ds["created_at"] and not historical:
            raise InvalidInput(
                f"`at` {format_timestamp(when)} is before dataset {dataset_id} was registered "
                f"({format_timestamp(ds['created_at'])}): a delivery of the dataset cannot "
                "precede it; to record an earlier delivery of its data, give `historical` "
                "with `evidence`"
            )
        if recipient == FIRST_PARTY:
            raise InvalidInput("first_party is not a third party: nothing to disclose")
        if ds["recipient"] != recipient:
            raise RecipientRefused(
                f"dataset {dataset_id} was built for {ds['recipient']!r}; only a dataset built "
                f"for {recipient!r} (consent checked for it) may be disclosed to it"
            )
        if ds["status"] != "active":
            raise Conflict(f"dataset {dataset_id} is {ds['status']}; disclose its current version")
        check_recipient(ledger.load_history(conn), ds["use"], recipient, when)
        values = store.record_disclosure(
            conn,
            dataset_id=dataset_id,
            recipient=recipient,
            records=int(ds["records"]),
            members=int(ds["members"]),
            at=stamp,
            source="historical" if historical else "cli",
            disclosed_at=when,
        )
        result = from_row(Disclosure, values)
        if historical:
            assert evidence is not None
            kept = store.record_disclosure_evidence(
                conn, str(values["disclosure_id"]), {"note": evidence.strip()}, at=stamp
            )
            result = from_row(HistoricalDisclosure, values, evidence=kept)
        follow_dataset_orders(conn, dataset_id, recipient=recipient, at=stamp)
    return result


@dataclass(frozen=True, slots=True)
class Disclosure:
    """A dataset delivered to a third party: when (``disclosed_at``), its counts, how it
    was recorded (``source``: ``build``, ``cli`` or ``historical``) and when."""

    disclosure_id: str
    dataset_id: str
    recipient: str
    disclosed_at: datetime
    records: int
    members: int
    source: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class HistoricalDisclosure(Disclosure):
    """A delivery recorded after the fact, with the evidence given for it."""

    evidence: Mapping[str, Any]


def list_disclosures(engine: sa.Engine) -> list[Disclosure]:
    """Every disclosure, by delivery time.

    >>> from consentgate import workspace
    >>> from consentgate.store.engine import make_engine
    >>> engine = make_engine("sqlite://")
    >>> _ = workspace.init_workspace(engine)
    >>> workspace.list_disclosures(engine)
    []
    """
    with engine.connect() as conn:
        return [from_row(Disclosure, r) for r in store.list_disclosures(conn)]
