"""Recognizers that lean on surrounding words: people, places and dates of birth.

Without a directory or an NER backend, a name is only recognizable by its cues: a title
("Dr. Okafor"), a salutation opening a sentence ("Hi Priya,"), a sign-off line
("Best,\nPriya"). Places are street addresses and a gazetteer of large cities (matched
case-sensitively with Aho-Corasick); dates of birth are dates shortly after "born",
"DOB", "date of birth" or "birthday".
"""

from __future__ import annotations

import re
from typing import Final

import ahocorasick

from consentgate.redact.spans import Found, entity_span, word_char_at

__all__ = ["CITIES", "dates_of_birth", "greeted", "locations", "titled"]

CITIES: Final = (
    "Amsterdam|Athens|Atlanta|Auckland|Baltimore|Bangalore|Bangkok|Barcelona|Beijing|Berlin|"
    "Bogota|Boston|Brisbane|Brussels|Bucharest|Budapest|Buenos Aires|Cairo|Calgary|Cape Town|"
    "Chicago|Copenhagen|Dallas|Delhi|Denver|Detroit|Dubai|Dublin|Edinburgh|Frankfurt|Geneva|"
    "Glasgow|Hamburg|Helsinki|Hong Kong|Honolulu|Houston|Istanbul|Jakarta|Johannesburg|"
    "Karachi|Krakow|Kyiv|Lagos|Las Vegas|Lima|Lisbon|London|Los Angeles|Lyon|Madrid|Manchester|"
    "Manila|Marseille|Melbourne|Mexico City|Miami|Milan|Minneapolis|Montreal|Moscow|Mumbai|"
    "Munich|Nairobi|New York|Oakland|Oslo|Ottawa|Palo Alto|Paris|Philadelphia|Pittsburgh|"
    "Portland|Prague|Rome|Rotterdam|San Diego|San Francisco|San Jose|Santiago|Sao Paulo|"
    "Seattle|Seoul|Shanghai|Singapore|Stockholm|Stuttgart|Sydney|Taipei|Tel Aviv|Tokyo|"
    "Toronto|Vancouver|Vienna|Warsaw|Washington|Zurich"
)
_STREET: Final = (
    "Street|St|Road|Rd|Avenue|Ave|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|"
    "Terrace|Close|Square|Sq|Parkway|Pkwy|Highway|Hwy|Crescent|Gardens|Row|Strasse|Straße"
)


# ----------------------------------------------------------------- people and places

_NAME: Final = r"[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?"
# These patterns start with literals (no \b or lookbehind first) so that the regex engine
# can skip ahead in C; the context before a match is checked in Python.
_TITLED: Final = re.compile(rf"(?:Mr|Mrs|Ms|Mx|Dr|Prof|Miss)\.? ({_NAME}(?: {_NAME})?)")
_GREETING: Final = re.compile(
    r"(?:Hi|Hello|Hey|Dear|Thanks|Thank you|Cheers|Morning|Good morning|Best|Regards|"
    rf"Best regards|Kind regards|Sincerely|Warmly|Best wishes)(,? |,? *\n *)({_NAME}(?: {_NAME})?)"
)
_SIGN_OFFS: Final = frozenset(
    [
        "Best",
        "Regards",
        "Best regards",
        "Kind regards",
        "Cheers",
        "Thanks",
        "Sincerely",
        "Warmly",
        "Best wishes",
    ]
)
_SALUTATIONS: Final = frozenset(
    ["Hi", "Hello", "Hey", "Dear", "Thanks", "Thank you", "Cheers", "Morning", "Good morning"]
)
_NOT_NAMES: Final = frozenset(
    """
    All Team Everyone Folks Guys There Both Again Everybody Anyone So For In On Sir
    Madam It Legal Mom Dad Gang Friends Bro Man Mate Sure Much Ok Okay Yes No The This
    That Good Great Hello Hi Hey Thanks Thank You Morning Afternoon Evening Best Regards
    Cheers All Our Your My His Her Their We I Sorry Please Just Quick Happy Welcome
    Congrats
    """.split()  # noqa: SIM905
)


def titled(text: str, out: Found) -> None:
    for m in _TITLED.finditer(text):
        if not word_char_at(text, m.start() - 1):
            _person(text, m.start(1), m.group(1), out, titled=True)


def greeted(text: str, out: Found) -> None:
    """A capitalized name right after a salutation that opens a sentence ("Hi Jane,"), or
    on the line after a sign-off ("Best,\\nJane")."""
    for m in _GREETING.finditer(text):
        s = m.start()
        word = text[s : m.start(1)]
        name, end = m.group(2), m.end(2)
        if "\n" in m.group(1):
            rest = text[end : text.find("\n", end) if "\n" in text[end:] else len(text)]
            if word not in _SIGN_OFFS or rest.strip(" "):
                continue
        else:
            before = text[:s].rstrip(" ")
            if word not in _SALUTATIONS or (before and before[-1] not in "\n.!?;"):
                continue
            if end < len(text) and text[end] not in ",.!:;\n ":
                continue
        _person(text, m.start(2), name, out, titled=False)


def _person(text: str, start: int, name: str, out: Found, *, titled: bool) -> None:
    first, _, second = name.partition(" ")
    if first in _NOT_NAMES:
        return
    if not titled and second in _NOT_NAMES:
        name = first
    out.append(entity_span(start, start + len(name), "PERSON", name.lower()))


_ADDRESS: Final = re.compile(
    rf"\b[0-9]{{1,5}}[A-Za-z]? (?:[A-Z][a-z]+ ){{0,3}}[A-Z][a-z]+ (?:{_STREET})\b"
    r"(?:,? (?:Apt|Suite|Unit|Flat|#) ?[0-9A-Za-z]+)?"
    r"(?:, [A-Z][a-z]+(?: [A-Z][a-z]+)?(?:,? [A-Z]{2} [0-9]{5}(?:-[0-9]{4})?)?)?",
    re.ASCII,
)
_CITY: Final = ahocorasick.Automaton()
for _city in CITIES.split("|"):
    _CITY.add_word(_city, len(_city))
_CITY.make_automaton()


def locations(text: str, out: Found) -> None:
    for m in _ADDRESS.finditer(text):
        out.append(entity_span(m.start(), m.end(), "LOCATION", m.group().lower()))
    for end, length in _CITY.iter(text):  # city names, case-sensitive, as whole words
        start = end - length + 1
        if not word_char_at(text, start - 1) and not word_char_at(text, end + 1):
            out.append(entity_span(start, end + 1, "LOCATION", text[start : end + 1].lower()))


_MONTH: Final = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DATE: Final = re.compile(
    r"[0-9]{1,2}[/.-][0-9]{1,2}[/.-](?:[0-9]{4}|[0-9]{2})\b|[0-9]{4}[/.-][0-9]{1,2}[/.-][0-9]{1,2}\b|"
    rf"{_MONTH} [0-9]{{1,2}}(?:st|nd|rd|th)?(?:,? [0-9]{{4}})?\b|"
    rf"[0-9]{{1,2}}(?:st|nd|rd|th)? (?:of )?{_MONTH}(?:,? [0-9]{{4}})?\b|"
    r"(?<=in )(?:19|20)[0-9]{2}\b",
    re.IGNORECASE | re.ASCII,
)
_SENTENCE_BREAK: Final = re.compile(r"[.!?] |\n")
_DOB_CONTEXT: Final = re.compile(
    r"\b(?:born|birth ?date|date of birth|birthday|dob|d\.o\.b\.?)\b", re.IGNORECASE | re.ASCII
)


def dates_of_birth(text: str, out: Found) -> None:
    for m in _DOB_CONTEXT.finditer(text):
        window_end = min(len(text), m.end() + 32)
        d = _DATE.search(text, m.end(), window_end)
        if d is None:
            continue
        if _SENTENCE_BREAK.search(text, m.end(), d.start()):
            continue
        out.append(entity_span(d.start(), d.end(), "DATE_OF_BIRTH", d.group().lower()))
