"""Deadlines and legal bases of remediation work. Pure.

The clock starts when the controller learned of the request (the event's ``recorded_at``,
or its ``effective_at`` when that is later), not when a command happened to run:

* erasure and withdrawal of consent — ``withdrawal_days`` / ``erasure_days`` calendar
  days (default 30: GDPR Art. 12(3) gives one month to act on a data subject's request);
* a US member opting out of *sharing* (the data goes to a third party) —
  ``opt_out_business_days`` business days (default 15: California's CCPA regulations,
  11 CCR § 7026(f), require an opt-out of sale or sharing to be honoured within 15
  business days). Business days are Monday to Friday; public holidays are not modelled.

The legal basis is a short citation shown on orders and deletion notices so that a
recipient knows why it is asked to delete; it is informative, not legal advice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from consentgate.errors import InvalidInput

__all__ = ["Deadline", "DeadlineRules", "add_business_days", "deadline_for"]

EU_LIKE = ("EU", "UK", "EEA", "CH")


@dataclass(frozen=True, slots=True)
class DeadlineRules:
    """How long remediation may take, per kind of request (see the module docstring)."""

    withdrawal_days: int = 30
    erasure_days: int = 30
    opt_out_business_days: int = 15

    def __post_init__(self) -> None:
        problems = [
            f"{name}: must be at least 1, got {value}"
            for name, value in (
                ("withdrawal_days", self.withdrawal_days),
                ("erasure_days", self.erasure_days),
                ("opt_out_business_days", self.opt_out_business_days),
            )
            if value < 1
        ]
        if problems:
            raise InvalidInput("bad remediation deadline rules", problems)


@dataclass(frozen=True, slots=True)
class Deadline:
    """When the work is due and the rule that says so."""

    due: datetime
    legal_basis: str


def add_business_days(start: datetime, days: int) -> datetime:
    """``start`` plus ``days`` business days (Monday-Friday), keeping the time of day.

    A start on a weekend counts from the next Monday, so the result is always a weekday.
    """
    if days < 0:
        raise InvalidInput(f"business days must not be negative, got {days}")
    current = start
    while current.weekday() >= 5:
        current += timedelta(days=1)
    added = 0
    while added < days:
        current += timedelta(days=1)
        if current.weekday() < 5:
            added += 1
    return current


def _region(jurisdiction: str) -> str:
    return jurisdiction.split("-", 1)[0].upper()


def deadline_for(
    trigger: str,
    jurisdiction: str,
    received_at: datetime,
    *,
    third_party: bool,
    rules: DeadlineRules,
) -> Deadline:
    """The deadline and legal basis for one member's request.

    ``trigger``: ``withdraw``, ``deny``, ``erase`` or ``policy`` (a policy version dropped
    the scope); ``third_party``: the work concerns data that went to a third party.
    """
    region = _region(jurisdiction)
    if trigger == "erase":
        due = received_at + timedelta(days=rules.erasure_days)
        if region in EU_LIKE:
            basis = "GDPR Art. 17(1) erasure; Art. 19 notification of recipients"
        elif jurisdiction.upper() == "US-CA":
            basis = "CCPA § 1798.105(c) deletion; notify third parties"
        else:
            basis = "erasure request"
        return Deadline(due, basis)
    if trigger == "policy":
        return Deadline(
            received_at + timedelta(days=rules.withdrawal_days),
            "policy version no longer declares the scope",
        )
    if region == "US" and third_party:
        due = add_business_days(received_at, rules.opt_out_business_days)
        if jurisdiction.upper() == "US-CA":
            return Deadline(due, "CCPA § 1798.120 opt-out of sharing; 11 CCR § 7026(f)")
        return Deadline(due, "opt-out of sharing (US state privacy law)")
    due = received_at + timedelta(days=rules.withdrawal_days)
    if region in EU_LIKE:
        return Deadline(due, "GDPR Art. 7(3) withdrawal of consent; Art. 17(1)(b) erasure")
    return Deadline(due, "withdrawal of consent")
