"""Parsing and formatting of timestamps: aware UTC datetimes everywhere.

consentgate refuses naive timestamps: RFC 3339 with a timezone (``Z`` or ``+hh:mm``) or a
date (``2024-09-18``, read as midnight UTC, for command-line convenience).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime

Clock = Callable[[], datetime]
"""What use cases take to read the time (``utcnow`` by default; tests pass a fixed one)."""

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_timestamp(value: object, *, field: str, allow_date: bool = True) -> datetime:
    """Return ``value`` as an aware UTC datetime, or raise ``ValueError`` naming ``field``."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{field}: timestamp {value.isoformat()!r} has no timezone")
        return value.astimezone(UTC)
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
            raise ValueError(f"{field}: invalid date {text!r}") from exc
        return datetime(d.year, d.month, d.day, tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as exc:
        raise ValueError(f"{field}: invalid timestamp {text!r} (want RFC 3339)") from exc
    if parsed.tzinfo is None:
        raise ValueError(f"{field}: timestamp {text!r} has no timezone (add Z or +hh:mm)")
    return parsed.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix, microseconds only when present."""
    value = value.astimezone(UTC)
    text = value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def utcnow() -> datetime:
    return datetime.now(UTC)
