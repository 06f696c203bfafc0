"""Input limits: every size, depth and range consentgate accepts from a file or the command
line, defined once here and stated in docs/formats.md "Limits". Pure.

Each limit turns what used to be a crash (``RecursionError`` on deep nesting, ``MemoryError``
on a YAML alias bomb, ``OverflowError`` on a timestamp shifted past year 9999, a database
error on an over-long field) into a refusal that names the file, line and field. The limits
are far above anything a real input needs, and the same on SQLite and PostgreSQL.

``json_nesting_exceeds`` is written by hand: the standard ``json`` module and Arrow's JSON
reader recurse once per level (``RecursionError``; Arrow crashes the process), so the depth
must be known before either sees the text. It is exact (brackets inside strings do not
count) and costs two ``count`` calls for the usual shallow line.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

# Nesting of any JSON or YAML document read from a file (members, events, policies,
# receipts, proofs, build sources); an event's ``evidence`` has its own, lower limit.
MAX_NESTING: Final = 32
# Digits of an integer literal in a JSON or YAML input (Python refuses > 4,300 itself).
MAX_INT_DIGITS: Final = 64
# Characters of a member's ``name``, ``email`` or ``phone``.
MAX_TEXT_CHARS: Final = 1024
# Bytes of one line of a JSONL members or events file (evidence included).
MAX_LINE_BYTES: Final = 1 << 20
# Characters of one CSV field (the csv module's own default limit, 128 KiB).
MAX_CSV_FIELD: Final = 128 << 10
# Bytes of a policy YAML file.
MAX_POLICY_BYTES: Final = 1 << 20
# Bytes of a receipt or proof file.
MAX_PROOF_BYTES: Final = 16 << 20

# Every timestamp consentgate stores, after conversion to UTC.
MIN_TIMESTAMP: Final = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIMESTAMP: Final = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)

_TOKENS: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


def json_nesting_exceeds(text: str | bytes, limit: int = MAX_NESTING) -> bool:
    """True when the JSON ``text`` opens more than ``limit`` arrays or objects inside one
    another (strings skipped). Valid or not: it only looks at brackets and quotes."""
    if isinstance(text, bytes):
        if text.count(b"[") + text.count(b"{") <= limit:
            return False
        return _deeper(text.decode("utf-8", errors="replace"), limit)
    if text.count("[") + text.count("{") <= limit:
        return False
    return _deeper(text, limit)


def _deeper(text: str, limit: int) -> bool:
    depth = 0
    for m in _TOKENS.finditer(text):
        first = m.group()[0]
        if first == "[" or first == "{":
            depth += 1
            if depth > limit:
                return True
        elif first != '"':
            depth -= 1
    return False


def timestamp_problem(value: datetime) -> str | None:
    """What is wrong with an aware UTC ``value`` as a stored timestamp, or None."""
    if value < MIN_TIMESTAMP or value > MAX_TIMESTAMP:
        return "out of range (1970-01-01 to 9999-12-31, in UTC)"
    return None
