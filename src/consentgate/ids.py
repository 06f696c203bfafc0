"""Member ids and event ids: one alphabet, one normal form, checked in one place. Pure.

Every way an id enters consentgate — ``members import`` (CSV, JSONL, Parquet), ``consent
import``, ``consent record`` and the member arguments of the other commands — calls
``member_id_problem`` / ``event_id_problem``, so SQLite and PostgreSQL accept exactly the
same ids, and an id that only *looks* like another can never become a second member.

An id (docs/formats.md "Ids") is a string of 1 to ``MEMBER_ID_MAX`` (255) or
``EVENT_ID_MAX`` (128) characters — Unicode code points, which is how PostgreSQL's
``varchar(n)`` counts, so the limit is the same on both databases and fits the columns —

* in Unicode NFC, and equal to its NFKC form: no fullwidth letters, ligatures, superscripts
  or other compatibility characters (RFC 8264's PRECIS IdentifierClass excludes them too);
* without control (Cc), format (Cf: zero-width characters, bidirectional controls, soft
  hyphen, byte order mark), surrogate, private-use or unassigned characters, without the
  other default-ignorable (invisible) characters (Hangul fillers, variation selectors, the
  combining grapheme joiner), without separators other than the ASCII space, with no space
  at either end, and not starting with a combining mark;
* in one script, as UTS #39 "highly restrictive" defines it: characters of the Common and
  Inherited scripts (digits, punctuation, combining accents) go with any script; other
  characters must share a script, except that Latin, Han, Hiragana and Katakana (Japanese),
  Latin, Han and Hangul (Korean), and Latin, Han and Bopomofo may be mixed. An id mixing
  Latin and Cyrillic (``аlice`` with a Cyrillic ``а``) is refused.

Ids are case-sensitive and otherwise compared exactly: nothing is normalised silently (an id
must match the author and recipient columns of the records it names, byte for byte).

Problems are returned as text naming the rule, never the id (ids may be personal data);
callers prefix the file, line and field.

Why the script check uses ``fontTools.unicodedata``: Python's ``unicodedata`` has no Script
or Script_Extensions property; fontTools ships the Unicode data files' tables and is pinned.
The default-ignorable characters below that are not Cf or unassigned are listed by hand
from DerivedCoreProperties.txt (a short list that the standard keeps stable).
"""

from __future__ import annotations

import functools
import math
import unicodedata
from collections.abc import Iterator
from typing import Any, Final

from consentgate import limits

MEMBER_ID_MAX: Final = 255
EVENT_ID_MAX: Final = 128

_REFUSED_CATEGORIES: Final = {
    "Cc": "a control character",
    "Cf": "an invisible formatting character (zero-width, bidirectional control, soft hyphen)",
    "Cs": "a lone surrogate",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Zs": "a space other than the ASCII space",
}
# Default_Ignorable_Code_Point characters that are letters or marks (the rest are Cf or Cn).
_IGNORABLE: Final = frozenset(
    [
        *(0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F, 0x3164, 0xFFA0),
        *range(0xFE00, 0xFE10),  # variation selectors
        *range(0xE0100, 0xE01F0),  # variation selectors supplement
    ]
)
_ANY_SCRIPT: Final = frozenset({"Zyyy", "Zinh"})  # Common, Inherited
# UTS #39 5.2 "highly restrictive": these sets may be mixed within one id.
_ALLOWED_MIXES: Final = (
    frozenset({"Latn", "Hani", "Hira", "Kana"}),
    frozenset({"Latn", "Hani", "Hang"}),
    frozenset({"Latn", "Hani", "Bopo"}),
)


def member_id_problem(value: Any) -> str | None:
    """What is wrong with ``value`` as a member id (no value in the text), or None."""
    if (
        type(value) is str
        and 0 < len(value) <= MEMBER_ID_MAX
        and value.isascii()
        and value.isprintable()
        and value[0] != " "
        and value[-1] != " "
    ):
        return None  # the usual case, at C speed: printable ASCII without surrounding spaces
    return _problem(value, MEMBER_ID_MAX)


def event_id_problem(value: Any) -> str | None:
    """What is wrong with ``value`` as an event id (no value in the text), or None."""
    if (
        type(value) is str
        and 0 < len(value) <= EVENT_ID_MAX
        and value.isascii()
        and value.isprintable()
        and value[0] != " "
        and value[-1] != " "
    ):
        return None
    return _problem(value, EVENT_ID_MAX)


POLICY_VERSION_MAX: Final = 64
POLICY_ID_MAX: Final = 128


def policy_id_problem(value: Any, limit: int = POLICY_ID_MAX) -> str | None:
    """What is wrong with a policy version, setting or recipient id (the id rules above,
    with the column's ``limit``), or None."""
    if (
        type(value) is str
        and 0 < len(value) <= limit
        and value.isascii()
        and value.isprintable()
        and value[0] != " "
        and value[-1] != " "
    ):
        return None
    return _problem(value, limit)


def _problem(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return "required, a string" if value is None else "expected a string"
    if not value:
        return "required, a non-empty string"
    if len(value) > limit:
        return f"longer than {limit} characters"
    for position, ch in enumerate(value, start=1):
        category = unicodedata.category(ch)
        what = _REFUSED_CATEGORIES.get(category) if ch != " " else None
        if what is None and ord(ch) in _IGNORABLE:
            what = "an invisible (default-ignorable) character"
        if what is not None:
            return f"character {position} is U+{ord(ch):04X}, {what}"
    if value[0] == " " or value[-1] == " ":
        return "starts or ends with a space"
    if unicodedata.category(value[0]).startswith("M"):
        return "starts with a combining mark"
    if not unicodedata.is_normalized("NFC", value):
        return "is not in Unicode NFC form (normalise it where the id is made)"
    if not unicodedata.is_normalized("NFKC", value):
        return "has a compatibility character (fullwidth, ligature, superscript, ...)"
    scripts = mixed_scripts(value)
    if scripts:
        return f"mixes scripts ({', '.join(scripts)}): it could pass for another id"
    return None


def mixed_scripts(value: str) -> list[str]:
    """The scripts ``value`` mixes against the rule above (their Unicode names), or []."""
    if value.isascii():
        return []
    sets = [s for s in map(_scripts, value) if s is not None]
    if not sets or frozenset.intersection(*sets):
        return []
    if any(all(s & allowed for s in sets) for allowed in _ALLOWED_MIXES):
        return []
    return sorted({_script_name(min(s)) for s in sets})


@functools.lru_cache(maxsize=4096)
def _scripts(ch: str) -> frozenset[str] | None:
    """The Script_Extensions of ``ch`` (ISO 15924 codes), None for Common/Inherited."""
    from fontTools import unicodedata as ucd

    codes = frozenset(ucd.script_extension(ch))
    return None if codes & _ANY_SCRIPT else codes


def _script_name(code: str) -> str:
    from fontTools import unicodedata as ucd

    return str(ucd.script_name(code, default=code))


# --------------------------------------------------------------------------- evidence

EVIDENCE_MAX_DEPTH: Final = 16


def evidence_problem(value: Any) -> str | None:
    """What is wrong with an event's ``evidence`` (None is fine), or None.

    Evidence is stored as JSON on both databases, so it must be a JSON object whose numbers
    are finite (``NaN`` and ``Infinity`` are not JSON), whose strings and keys hold no NUL
    and no lone surrogate (PostgreSQL and UTF-8 refuse them), nested at most
    ``EVIDENCE_MAX_DEPTH`` levels.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        return "expected an object"
    for problem in _json_problems(value, 1):
        return problem
    return None


def _json_problems(value: Any, depth: int) -> Iterator[str]:
    if depth > EVIDENCE_MAX_DEPTH:
        yield f"nested deeper than {EVIDENCE_MAX_DEPTH} levels"
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                yield "object keys must be strings"
            else:
                yield from _text_problems(k)
            yield from _json_problems(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            yield from _json_problems(v, depth + 1)
    elif isinstance(value, str):
        yield from _text_problems(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield "a number is NaN or infinite (not JSON)"
    elif value is not None and not isinstance(value, bool | int):
        yield f"a {type(value).__name__} is not a JSON value"


def _text_problems(text: str) -> Iterator[str]:
    if "\x00" in text:
        yield "a string holds a NUL character"
    elif not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            yield "a string holds a lone surrogate (not UTF-8)"


def text_problem(value: Any, limit: int = limits.MAX_TEXT_CHARS) -> str | None:
    """What is wrong with an optional free-text field (a member's name, email or phone, a
    policy's labels), or None: a string of at most ``limit`` characters without control
    characters or lone surrogates."""
    if value is None:
        return None
    if not isinstance(value, str):
        return "expected a string"
    if len(value) > limit:
        return f"longer than {limit} characters"
    if value.isprintable():
        return None
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        return "has a control character or a lone surrogate"
    return None
