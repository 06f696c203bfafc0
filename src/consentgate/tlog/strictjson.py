"""Strict JSON for every JSON consentgate reads: no repeated fields, no NaN/Infinity, integers
of at most ``limits.MAX_INT_DIGITS`` digits, nesting of at most ``limits.MAX_NESTING``
levels, and integers that are not booleans. A lenient parser would let two readers see two
different documents in the same bytes (``"type": "grant", "type": "withdraw"``), and the
standard one recurses once per level (``RecursionError`` on deep nesting) and converts
integers of any length (``ValueError`` past 4,300 digits) — here each is a ``ValueError``
naming the rule, never the value.
"""

from __future__ import annotations

import json
from typing import Any

from consentgate.limits import MAX_INT_DIGITS, MAX_NESTING, json_nesting_exceeds


def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"field {_key_name(key)} is repeated")
            seen.add(key)
    return doc


def _key_name(key: str) -> str:
    """A repeated key by name when it looks like a field name (never a long or odd one)."""
    if len(key) <= 64 and key.isascii() and key.replace("_", "").replace("-", "").isalnum():
        return repr(key)
    return "(a key)"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid value")


def bounded_int(text: str) -> int:
    if len(text) - text.startswith("-") > MAX_INT_DIGITS:
        raise ValueError(f"an integer has more than {MAX_INT_DIGITS} digits")
    return int(text)


DECODER = json.JSONDecoder(
    object_pairs_hook=no_duplicates, parse_constant=_no_constant, parse_int=bounded_int
)
# For lines whose NaN/Infinity a caller reports by field (an event's evidence): the same
# rules, constants allowed through.
DECODER_WITH_CONSTANTS = json.JSONDecoder(object_pairs_hook=no_duplicates, parse_int=bounded_int)


def loads(
    text: str | bytes, *, max_depth: int = MAX_NESTING, decoder: json.JSONDecoder = DECODER
) -> Any:
    """``json.loads`` that refuses repeated fields, NaN/Infinity, over-long integers and
    nesting deeper than ``max_depth`` (``ValueError``; ``json.JSONDecodeError`` for syntax)."""
    if json_nesting_exceeds(text, max_depth):
        raise ValueError(f"nested deeper than {max_depth} levels")
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return decoder.decode(text)


def is_int(value: object) -> bool:
    """An integer, and not a boolean (``True`` is an ``int`` in Python)."""
    return isinstance(value, int) and not isinstance(value, bool)
