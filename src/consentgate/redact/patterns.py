"""The identifier recognizers as one registry, and the prefilter groups the engine uses.

Each recognizer (in ``web``, ``codes`` and ``context``) belongs to a *group* whose
``PREFILTERS`` pattern is a necessary condition for it to fire (``@`` for emails, a run of
seven digits for card and account numbers, ...). The engine evaluates those prefilters
over a whole Arrow string array at once with ``pyarrow.compute.match_substring_regex``
(RE2, in C++) and runs the Python recognizers of a group only on the rows where its
prefilter matched, which is where the speed comes from: most messages skip most
recognizers without any Python work. The prefilter patterns therefore use only syntax
RE2 and Python read alike, and tests check they never hide a detection.

Hand-written rather than Presidio's recognizers because Presidio runs every pattern
over every text and validates with scores; here a candidate either passes its
identifier's structural rules (Luhn, mod 97, area numbers, dates, check letters) or is
dropped, and digit sequences are parsed once and offered to every digit-only format.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from consentgate.redact import codes, context, cues, web
from consentgate.redact.codes import PHONE_REGIONS
from consentgate.redact.spans import Found, Span

__all__ = [
    "DIGIT_GROUPS",
    "FREQUENT",
    "GROUP_ENTITIES",
    "G_DIGITS",
    "G_DOB",
    "PHONE_REGIONS",
    "PREFILTERS",
    "find_identifiers",
    "longest_per_entity",
]

# ----------------------------------------------------------------------------- driver


G_DIGITS: Final = 1 << 2
"""The group of texts with a run of seven digits (cards, account and id numbers, phones)."""


@dataclass(frozen=True, slots=True)
class _Recognizer:
    bit: int
    prefilter: str  # RE2 and Python alike; matches every text ``find`` could fire on
    entities: frozenset[str]
    find: Callable[[str, Found, frozenset[str]], None]


def _one(fn: Callable[[str, Found], None]) -> Callable[[str, Found, frozenset[str]], None]:
    return lambda text, out, wanted: fn(text, out)


# In order: codes.phones run after the validated digit formats, IP and MAC addresses, and skip
# what those found.
_RECOGNIZERS: Final = (
    _Recognizer(1 << 0, "@", frozenset({"EMAIL_ADDRESS"}), _one(web.emails)),
    _Recognizer(
        1 << 1,
        r"://|[Ww][Ww][Ww]\.|[A-Za-z0-9-]\.[A-Za-z][A-Za-z]",  # a label may end in "-"
        frozenset({"URL"}),
        _one(web.urls),
    ),
    _Recognizer(G_DIGITS, codes.SEVEN_DIGITS, frozenset(codes.DIGIT_FORMATS), codes.digit_ids),
    _Recognizer(1 << 3, r"[A-Z]{2}[0-9]{2}", frozenset({"IBAN_CODE"}), _one(codes.ibans)),
    _Recognizer(
        1 << 4,
        "|".join(g.pattern for g in codes.ALNUM_GATES.values()),
        frozenset(codes.ALNUM_FORMATS),
        codes.alnum_ids,
    ),
    _Recognizer(
        1 << 5, r"[0-9][ABD-HJLNP-UW-Z]{2}", frozenset({"UK_POSTCODE"}), _one(codes.postcodes)
    ),
    _Recognizer(
        1 << 6, r"[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]", frozenset({"IP_ADDRESS"}), _one(web.ipv4)
    ),
    _Recognizer(1 << 7, r":[0-9A-Fa-f]{0,4}:", frozenset({"IP_ADDRESS"}), _one(web.ipv6)),
    _Recognizer(
        1 << 8,
        r"[0-9A-Fa-f]{2}[:-][0-9A-Fa-f]{2}[:-]|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.",
        frozenset({"MAC_ADDRESS"}),
        _one(web.macs),
    ),
    _Recognizer(
        1 << 9, r"[13][1-9A-HJ-NP-Za-km-z]{25}|[Bb][Cc]1", frozenset({"CRYPTO"}), _one(web.crypto)
    ),
    _Recognizer(G_DIGITS, codes.SEVEN_DIGITS, frozenset({"PHONE_NUMBER"}), _one(codes.phones)),
    _Recognizer(1 << 10, cues.TITLE_PREFILTER, frozenset({"PERSON"}), _one(cues.titled)),
    _Recognizer(1 << 11, cues.GREETING_PREFILTER, frozenset({"PERSON"}), _one(cues.greeted)),
    _Recognizer(1 << 14, cues.FIELD_PREFILTER, frozenset({"PERSON"}), _one(cues.fields)),
    _Recognizer(
        1 << 12,
        rf"[0-9][A-Za-z]? [A-Z][a-z]+|\b(?:{context.CITIES})\b",
        frozenset({"LOCATION"}),
        _one(context.locations),
    ),
    _Recognizer(
        1 << 13,
        r"(?i)born|birth|\bdob\b|d\.o\.b",
        frozenset({"DATE_OF_BIRTH"}),
        _one(context.dates_of_birth),
    ),
)

PREFILTERS: Final[dict[int, str]] = {r.bit: r.prefilter for r in _RECOGNIZERS}
"""Group bit -> RE2/Python pattern that every text a recognizer of the group fires on matches."""

GROUP_ENTITIES: Final[dict[int, frozenset[str]]] = {}
"""Group bit -> the entities its recognizers can produce."""
for _r in _RECOGNIZERS:
    GROUP_ENTITIES[_r.bit] = GROUP_ENTITIES.get(_r.bit, frozenset()) | _r.entities
G_DOB: Final = 1 << 13
FREQUENT: Final = (1 << 1) | G_DIGITS | (1 << 11)
"""Groups whose prefilters match many chat messages (URL-like "a.b", seven digits, a
greeting): the prefilter tests them one by one on the rows matching the union of all,
and the others through their own union first."""
DIGIT_GROUPS: Final = G_DIGITS | (1 << 3) | (1 << 5) | (1 << 6) | (1 << 9)
"""Groups whose prefilter matches only text holding an ASCII digit: the prefilter tests
them only on the rows where ``[0-9]`` matched (checked in the tests by parsing each
pattern)."""


def find_identifiers(text: str, groups: int, wanted: frozenset[str]) -> list[Span]:
    """Every identifier span in ``text`` from the recognizers of ``groups`` (a bit mask
    of prefilter groups that matched) producing an entity in ``wanted``.

    Spans may overlap (an IPv4 address inside an IPv6 one, a name found by two cues): the
    engine resolves overlaps, and :func:`longest_per_entity` gives each entity's spans as
    its recognizer alone would report them.
    """
    out: Found = []
    for find in _plan(groups & _ALL_BITS, wanted):
        find(text, out, wanted)
    return out


_ALL_BITS: Final = sum(PREFILTERS)


@functools.lru_cache(maxsize=4096)
def _plan(
    groups: int, wanted: frozenset[str]
) -> tuple[Callable[[str, Found, frozenset[str]], None], ...]:
    """The recognizers to run for a group mask, in order (cached: masks repeat)."""
    return tuple(
        r.find for r in _RECOGNIZERS if groups & r.bit and not r.entities.isdisjoint(wanted)
    )


def longest_per_entity(spans: Found) -> Found:
    """Per entity, the longest of overlapping spans (then the earliest); sorted."""
    if len(spans) < 2:
        return spans
    by_entity: dict[str, Found] = {}
    for s in spans:
        by_entity.setdefault(s.entity, []).append(s)
    result: Found = []
    for group in by_entity.values():
        if len(group) == 1:
            result.extend(group)
            continue
        group.sort(key=lambda s: (s.start - s.end, s.start))
        kept: Found = []
        for s in group:
            if all(s.end <= k.start or k.end <= s.start for k in kept):
                kept.append(s)
        result.extend(kept)
    result.sort()
    return result
