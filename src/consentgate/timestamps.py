"""Parsing and formatting of timestamps: aware UTC datetimes everywhere.

consentgate refuses naive timestamps: RFC 3339 with a timezone (``Z`` or ``+hh:mm``) or a
date (``2024-09-18``, read as midnight UTC, for command-line convenience). After conversion to
UTC a timestamp must lie in 1970-01-01 .. 9999-12-31 (``consentgate.limits``): a
``0001-01-01T00:00:00+01:00`` is refused by name instead of overflowing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime

from consentgate.limits import timestamp_problem

Clock = Callable[[], datetime]
"""What use cases take to read the time (``utcnow`` by default; tests pass a fixed one)."""

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_timestamp(value: object, *, field: str, allow_date: bool = True) -> datetime:
    """Return ``value`` as an aware UTC datetime, or raise ``ValueError`` naming ``field``."""
    parsed = _parse(value, field=field, allow_date=allow_date)
    problem = timestamp_problem(parsed)
    if problem is not None:
        raise ValueError(f"{field}: timestamp {problem}")
    return parsed


def in_utc(value: datetime, *, field: str) -> datetime:
    """An aware ``value`` in UTC, or ``ValueError`` naming ``field`` when the shift leaves
    the range datetime can hold (``0001-01-01T00:00:00+01:00``)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"{field}: timestamp out of range (1970-01-01 to 9999-12-31, in UTC)"
        ) from None


def _parse(value: object, *, field: str, allow_date: bool) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{field}: timestamp has no timezone")
        return in_utc(value, field=field)
    if isinstance(value, date):
        if not allow_date:
            raise ValueError(f"{field}: expected a timestamp with a timezone, got a date")
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected an RFC 3339 timestamp, got {type(value).__name__}")
    text = value.strip()
    if allow_date and _DATE_ONLY.match(text):
        try:
            d = date.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"{field}: invalid date (want YYYY-MM-DD)") from exc
        return datetime(d.year, d.month, d.day, tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as exc:
        raise ValueError(f"{field}: invalid timestamp (want RFC 3339)") from exc
    if parsed.tzinfo is None:
        raise ValueError(f"{field}: timestamp has no timezone (add Z or +hh:mm)")
    return in_utc(parsed, field=field)


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix, microseconds only when present."""
    value = value.astimezone(UTC)
    text = value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def utcnow() -> datetime:
    return datetime.now(UTC)
