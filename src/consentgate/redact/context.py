"""Recognizers that lean on surrounding words: places and dates of birth.

Places are street addresses and a gazetteer of large cities (matched case-sensitively
with Aho-Corasick). A city name that is part of a longer proper name is not a place: one
directly followed by a capitalised word ("Paris Hilton", "London Stock Exchange",
"Washington Post") other than a word that continues a place name ("New York City",
"San Francisco Bay"), or directly preceded by a capitalised word ("Jack London"), or by "of" after one ("Bank
of London", "University of Toronto"), is left alone — unless that word is a common
sentence opener opening the sentence ("In London", "Most of London";
``cues.SENTENCE_STARTERS``). Dates of birth are dates shortly after "born", "DOB", "date of
birth" or "birthday". People found by their cues are in ``cues``.
"""

from __future__ import annotations

import re
from typing import Final

import ahocorasick

from consentgate.redact.cues import SENTENCE_STARTERS
from consentgate.redact.spans import Found, entity_span, word_char_at

__all__ = ["CITIES", "dates_of_birth", "locations"]

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


_PLACE_TAILS: Final = frozenset({"City", "Bay", "Area", "County", "Region", "Metro"})
_NEXT_WORD: Final = re.compile(r" ([^\W\d_][\w'’-]*)")
_PREVIOUS_WORD: Final = re.compile(r"([^\W\d_][\w'’-]*)( of)? $")
_OPENS_SENTENCE: Final = re.compile(r"(?:^|[.!?:;\n][\"'”’)]*\s*)$")


def locations(text: str, out: Found) -> None:
    for m in _ADDRESS.finditer(text):
        out.append(entity_span(m.start(), m.end(), "LOCATION", m.group().lower()))
    for end, length in _CITY.iter(text):  # city names, case-sensitive, as whole words
        start = end - length + 1
        if word_char_at(text, start - 1) or word_char_at(text, end + 1):
            continue
        if _inside_a_longer_name(text, start, end + 1):
            continue
        out.append(entity_span(start, end + 1, "LOCATION", text[start : end + 1].lower()))


def _inside_a_longer_name(text: str, start: int, end: int) -> bool:
    """Whether the city at ``text[start:end]`` is part of a longer proper name."""
    after = _NEXT_WORD.match(text, end)
    if after is not None and after.group(1)[0].isupper() and after.group(1) not in _PLACE_TAILS:
        return True
    before = _PREVIOUS_WORD.search(text, max(0, start - 40), start)
    if before is None or not before.group(1)[0].isupper():
        return False
    opens = _OPENS_SENTENCE.search(text, max(0, before.start() - 8), before.start())
    return not (opens and before.group(1).lower() in SENTENCE_STARTERS)


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
