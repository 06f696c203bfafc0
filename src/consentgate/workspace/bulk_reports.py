"""Bulk reports for privacy officers and auditors (``consentgate report ...``, the API's
``/reports``): members per dataset, disclosures per recipient and member, the consent
events, and exposure by jurisdiction and statute.

The officer's question "which members' private messages went to which third party, when,
under which policy version, and what exposure" is one call (``disclosures_report``) over
every disclosure rather than one ``report dsar`` per member. Row reports are
``ReportTable``: named columns and rows read lazily, a chunk of members or events at a time,
in one read transaction, so a CSV of millions of rows streams in bounded memory; iterate
the rows once. Values are text, integers or None (timestamps RFC 3339).

Exposure here is the amount the configured statutes set per member whose data went to a
third party, by the member's jurisdiction when it went: what is at stake if those
disclosures were unlawful (the case's question), not a finding that they were.
``audit-dataset`` (``datasets.exposure``) finds the records that actually should not have
been in a dataset and breaks its affected members down the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from consentgate.errors import InvalidInput, NotFound
from consentgate.gate.statutes import (
    Schedule,
    StatuteExposure,
    breakdown,
    default_schedule,
    parse_schedule,
    totals,
)
from consentgate.store import ledger, registry
from consentgate.store import reports as store
from consentgate.timestamps import Clock, format_timestamp, utcnow

__all__ = [
    "DISCLOSURE_COLUMNS",
    "EVENT_COLUMNS",
    "MEMBER_COLUMNS",
    "ExposureBreakdown",
    "RecipientSummary",
    "ReportTable",
    "consent_events_report",
    "dataset_members_report",
    "disclosures_report",
    "exposure_report",
    "load_schedule",
    "recipients_summary",
]


@dataclass(frozen=True)
class ReportTable:
    """A report's columns and its rows, read lazily (iterate once)."""

    name: str
    columns: tuple[str, ...]
    rows: Iterator[tuple[Any, ...]]


def load_schedule(text: str | None = None, *, name: str = "exposure_statutes") -> Schedule:
    """The statute schedule from YAML ``text`` (None: the shipped one)."""
    return default_schedule() if text is None else parse_schedule(text, name=name)


def schedule_from_file(path: Path | None) -> Schedule:
    """The schedule ``exposure_statutes`` names (None: the shipped one)."""
    if path is None:
        return default_schedule()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"{path}: cannot read the statute schedule: {type(exc).__name__}"
        ) from None
    return parse_schedule(text, name=str(path))


def _ts(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


# --------------------------------------------------------------------------- members per dataset

MEMBER_COLUMNS = (
    "dataset_id",
    "member_id",
    "jurisdiction",
    "as_author",
    "as_participant",
    "shards",
)


def dataset_members_report(
    engine: sa.Engine, dataset_id: str, *, now: Clock = utcnow
) -> ReportTable:
    """Every member a dataset holds, with their jurisdiction at the dataset's cutoff (as
    known now) and how many of its records they authored or took part in."""
    known = now()
    with engine.connect() as conn:
        ds = registry.get_dataset(conn, dataset_id)
    if ds is None:
        raise NotFound("dataset", dataset_id)

    def rows() -> Iterator[tuple[Any, ...]]:
        with engine.connect() as conn:
            for chunk in store.dataset_member_chunks(conn, dataset_id):
                places = ledger.jurisdictions_at(
                    conn, [r["member_id"] for r in chunk], at=ds["as_of"], known_at=known
                )
                for r in chunk:
                    shards = r["shards"]
                    yield (
                        dataset_id,
                        r["member_id"],
                        places.get(r["member_id"]),
                        int(r["as_author"]),
                        int(r["as_participant"]),
                        ";".join(map(str, shards)) if shards else None,
                    )

    return ReportTable(f"members-{dataset_id[:16]}", MEMBER_COLUMNS, rows())


# --------------------------------------------------------------------------- disclosures

DISCLOSURE_COLUMNS = (
    "recipient",
    "disclosed_at",
    "disclosure_id",
    "dataset_id",
    "use",
    "policy_versions",
    "member_id",
    "jurisdiction",
    "records",
    "statutes",
    "exposure",
    "currency",
)


def _member_exposure(schedule: Schedule, jurisdiction: str | None) -> tuple[str, str, str | None]:
    """(statute ids, amount, currency) for one member; several currencies are listed."""
    found = schedule.for_jurisdiction(jurisdiction)
    if not found:
        return "", "0", None
    sums: dict[str, Decimal] = {}
    for s in found:
        sums[s.currency] = sums.get(s.currency, Decimal(0)) + s.per_member
    ids = ";".join(s.id for s in found)
    if len(sums) == 1:
        ((currency, amount),) = sums.items()
        return ids, str(amount), currency
    return ids, "; ".join(f"{v} {c}" for c, v in sorted(sums.items())), "mixed"


def _filtered(
    conn: sa.Connection, recipient: str | None, since: datetime | None, until: datetime | None
) -> list[dict[str, Any]]:
    if since is not None and until is not None and until <= since:
        raise InvalidInput("`until` must be after `since`")
    return store.disclosures(conn, recipient=recipient, since=since, until=until)


def disclosures_report(
    engine: sa.Engine,
    *,
    recipient: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    schedule: Schedule | None = None,
    now: Clock = utcnow,
) -> ReportTable:
    """One row per member per disclosure: which third party received which member's
    records, when, from which dataset built under which policy versions, the member's
    jurisdiction then, the statutes that apply there and the amount they set (by recipient,
    time, member id). ``since``/``until`` bound ``disclosed_at`` (until exclusive)."""
    schedule = schedule or default_schedule()
    known = now()
    with engine.connect() as conn:
        found = _filtered(conn, recipient, since, until)
        versions = store.snapshot_policy_versions(conn, [d["snapshot_sha256"] for d in found])

    def rows() -> Iterator[tuple[Any, ...]]:
        with engine.connect() as conn:
            for d in found:
                policy = ";".join(versions.get(d["snapshot_sha256"], []))
                for chunk in store.dataset_member_chunks(conn, d["dataset_id"]):
                    places = ledger.jurisdictions_at(
                        conn, [r["member_id"] for r in chunk], at=d["disclosed_at"], known_at=known
                    )
                    for r in chunk:
                        where = places.get(r["member_id"])
                        statutes, amount, currency = _member_exposure(schedule, where)
                        yield (
                            d["recipient"],
                            format_timestamp(d["disclosed_at"]),
                            d["disclosure_id"],
                            d["dataset_id"],
                            d["use"],
                            policy,
                            r["member_id"],
                            where,
                            int(r["as_author"]) + int(r["as_participant"]),
                            statutes,
                            amount,
                            currency,
                        )

    return ReportTable("disclosures", DISCLOSURE_COLUMNS, rows())


@dataclass(frozen=True, slots=True)
class RecipientSummary:
    """What one third party received: disclosures, datasets, distinct members, records,
    first and last delivery, the uses and the policy versions the datasets were built under."""

    recipient: str
    disclosures: int
    datasets: int
    members: int
    records: int
    first_disclosed_at: datetime
    last_disclosed_at: datetime
    uses: tuple[str, ...]
    policy_versions: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient,
            "disclosures": self.disclosures,
            "datasets": self.datasets,
            "members": self.members,
            "records": self.records,
            "first_disclosed_at": format_timestamp(self.first_disclosed_at),
            "last_disclosed_at": format_timestamp(self.last_disclosed_at),
            "uses": list(self.uses),
            "policy_versions": list(self.policy_versions),
        }


def recipients_summary(
    engine: sa.Engine,
    *,
    recipient: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[RecipientSummary]:
    """Per third party, what it received (the console's recipients page), by name."""
    with engine.connect() as conn:
        found = _filtered(conn, recipient, since, until)
        versions = store.snapshot_policy_versions(conn, [d["snapshot_sha256"] for d in found])
        by: dict[str, list[dict[str, Any]]] = {}
        for d in found:
            by.setdefault(d["recipient"], []).append(d)
        out = []
        for name, ds in sorted(by.items()):
            dataset_ids = sorted({d["dataset_id"] for d in ds})
            out.append(
                RecipientSummary(
                    recipient=name,
                    disclosures=len(ds),
                    datasets=len(dataset_ids),
                    members=store.distinct_disclosed_members(conn, dataset_ids),
                    records=sum(int(d["records"]) for d in ds),
                    first_disclosed_at=min(d["disclosed_at"] for d in ds),
                    last_disclosed_at=max(d["disclosed_at"] for d in ds),
                    uses=tuple(sorted({d["use"] for d in ds})),
                    policy_versions=tuple(
                        sorted({v for d in ds for v in versions.get(d["snapshot_sha256"], [])})
                    ),
                )
            )
    return out


# --------------------------------------------------------------------------- exposure


@dataclass(frozen=True, slots=True)
class ExposureBreakdown:
    """Exposure by jurisdiction and statute over the members whose data went to third
    parties (each member once, in the jurisdiction of their first disclosure in scope)."""

    members: int
    disclosures: int
    recipients: tuple[str, ...]
    rows: tuple[StatuteExposure, ...]
    schedule: Schedule

    @property
    def totals(self) -> dict[str, str]:
        return totals(self.rows)

    def as_dict(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "disclosures": self.disclosures,
            "recipients": list(self.recipients),
            "by_statute": [r.as_dict() for r in self.rows],
            "totals": self.totals,
            "schedule": self.schedule.as_dict(),
        }


def exposure_report(
    engine: sa.Engine,
    *,
    recipient: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    schedule: Schedule | None = None,
    now: Clock = utcnow,
) -> ExposureBreakdown:
    """Exposure by jurisdiction and statute for the members whose data was disclosed
    (optionally to one ``recipient``, disclosed in [``since``, ``until``))."""
    schedule = schedule or default_schedule()
    known = now()
    first: dict[str, str | None] = {}
    with engine.connect() as conn:
        found = _filtered(conn, recipient, since, until)
        for d in sorted(found, key=lambda d: (d["disclosed_at"], d["disclosure_id"])):
            for chunk in store.dataset_member_chunks(conn, d["dataset_id"]):
                fresh = [r["member_id"] for r in chunk if r["member_id"] not in first]
                if not fresh:
                    continue
                places = ledger.jurisdictions_at(conn, fresh, at=d["disclosed_at"], known_at=known)
                for m in fresh:
                    first[m] = places.get(m)
    return ExposureBreakdown(
        members=len(first),
        disclosures=len(found),
        recipients=tuple(sorted({d["recipient"] for d in found})),
        rows=tuple(breakdown(first.values(), schedule)),
        schedule=schedule,
    )


def exposure_of_members(
    engine: sa.Engine,
    member_ids: Sequence[str],
    *,
    at: datetime,
    schedule: Schedule,
    now: Clock = utcnow,
) -> list[StatuteExposure]:
    """The breakdown for given affected members by their jurisdiction at ``at`` (as known
    now): what ``audit-dataset`` reports for the members its violations affect."""
    with engine.connect() as conn:
        places = ledger.jurisdictions_at(conn, list(member_ids), at=at, known_at=now())
    return breakdown([places.get(m) for m in member_ids], schedule)


# --------------------------------------------------------------------------- consent events

EVENT_COLUMNS = store.EVENT_COLUMNS


def consent_events_report(
    engine: sa.Engine,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    setting: str | None = None,
) -> ReportTable:
    """Every consent event in the order recorded (``recorded_at`` in [since, until);
    optionally one setting), as stored: the export auditors ask for."""
    if since is not None and until is not None and until <= since:
        raise InvalidInput("`until` must be after `since`")

    def rows() -> Iterator[tuple[Any, ...]]:
        with engine.connect() as conn:
            for chunk in store.event_chunks(conn, since=since, until=until, setting=setting):
                for r in chunk:
                    yield (
                        r.event_id,
                        r.member_id,
                        r.type,
                        r.setting,
                        r.policy_version,
                        _ts(r.effective_at),
                        _ts(r.recorded_at),
                        _ts(r.covers_from),
                        r.source,
                    )

    return ReportTable("consent-events", EVENT_COLUMNS, rows())
