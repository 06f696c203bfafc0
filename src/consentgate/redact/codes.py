"""Recognizers of numbers and codes: payment cards, bank accounts, national ids, phones.

Digit-only formats (cards, SSNs, SINs, NHS, Aadhaar, PESEL, ...) share one parse of each
run of digits: a run is split into its groups and every format whose grouping and check
digits fit claims it. Phone numbers are candidates validated against the numbering plans
of ``phonenumbers`` (constructed directly rather than through ``phonenumbers.parse``,
which costs three times more); IBANs by country length and mod 97; alphanumeric ids by
their published structure.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Final

import phonenumbers

from consentgate.redact import validators as v
from consentgate.redact.catalog import SPAN_PRIORITY
from consentgate.redact.spans import Found, bounded, entity_span, word_char_at

__all__ = [
    "ALNUM_FORMATS",
    "ALNUM_GATES",
    "DIGIT_FORMATS",
    "PHONE_REGIONS",
    "SEVEN_DIGITS",
    "alnum_ids",
    "digit_ids",
    "ibans",
    "phones",
    "postcodes",
]

PHONE_REGIONS: Final = ("US", "GB", "DE", "FR", "IL", "IN", "BR", "CN")
"""Regions tried, in order, for a phone number written without a ``+`` country code
("US" stands for the whole North American numbering plan, Canada included)."""

# ------------------------------------------------------------------ digit sequences

# A chunk is digit groups joined by one repeated separator other than a space
# ("078-05-1123", "3123:4567:8909", "4111111111111111"); chunks of plain digits separated
# by single spaces form a run ("4111 1111 1111 1111"), whose sub-runs are tried too.
SEVEN_DIGITS: Final = r"[0-9](?:[ .:/()+-]{0,2}[0-9]){6}"
_NINE_DIGITS: Final = re.compile(r"[0-9](?:[ .:/-]?[0-9]){8,}")  # a region worth chunking
_PHONE_REGION: Final = re.compile(r"[0-9](?:[ .()-]{0,2}[0-9]){6,}\)?")  # "+", "(" added after
_CHUNK: Final = re.compile(r"[0-9]+(?:([.:/-])[0-9]+(?:\1[0-9]+)*)?")


def _shape_any(sizes: tuple[int, ...], lo: int, hi: int) -> bool:
    return len(sizes) == 1 or all(lo <= s <= hi for s in sizes)


# entity -> (allowed separators, shape predicate, validator, letters allowed before)
_DigitFormat = tuple[str, Callable[[tuple[int, ...]], bool], Callable[[str], bool], bool]
DIGIT_FORMATS: Final[dict[str, _DigitFormat]] = {
    "CREDIT_CARD": (" -", lambda s: 12 <= sum(s) <= 19 and _shape_any(s, 3, 6), v.card_ok, False),
    "US_SSN": (" .-", lambda s: s in ((9,), (3, 2, 4), (3, 6), (5, 4)), v.ssn_ok, False),
    "US_ITIN": (" .-", lambda s: s in ((9,), (3, 2, 4), (3, 6), (5, 4)), v.itin_ok, False),
    "CA_SIN": (" -", lambda s: s in ((9,), (3, 3, 3)), v.ca_sin_ok, False),
    "CH_AHV": (" .-", lambda s: s in ((13,), (3, 4, 4, 2)), v.ch_ahv_ok, False),
    "UK_NHS": (" -", lambda s: s in ((10,), (3, 3, 4)), v.nhs_ok, False),
    "IN_AADHAAR": (" -:", lambda s: s in ((12,), (4, 4, 4)), v.aadhaar_ok, False),
    "PL_PESEL": ("", lambda s: s == (11,), v.pesel_ok, False),
    "TR_NATIONAL_ID": ("", lambda s: s == (11,), v.tr_tckn_ok, False),
    "ZA_ID_NUMBER": ("", lambda s: s == (13,), v.za_id_ok, False),
    "SE_PERSONNUMMER": (
        "-",
        lambda s: s in ((12,), (10,), (8, 4), (6, 4)),
        v.se_personnummer_ok,
        True,
    ),
}


def _windows(sizes: list[int], lo: int, hi: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for i in range(len(sizes)):
        total = 0
        found: list[tuple[int, int]] = []
        for j in range(i, len(sizes)):
            total += sizes[j]
            if total > hi:
                break
            if total >= lo:
                found.append((i, j + 1))
        out.extend(reversed(found))
    return out


@functools.lru_cache(maxsize=64)
def _digit_formats(wanted: frozenset[str]) -> list[tuple[str, _DigitFormat]]:
    return [(e, f) for e, f in DIGIT_FORMATS.items() if e in wanted]


def digit_ids(text: str, out: Found, wanted: frozenset[str]) -> None:
    formats = _digit_formats(wanted)
    if formats:
        for region in _NINE_DIGITS.finditer(text):
            _digit_region(text, region.start(), region.end(), out, formats)


def _digit_region(
    text: str, start: int, end: int, out: Found, formats: list[tuple[str, _DigitFormat]]
) -> None:
    run: list[tuple[int, int]] = []
    for m in _CHUNK.finditer(text, start, end):
        sep = m.group(1)
        if sep is None and run and m.start() == run[-1][1] + 1 and text[run[-1][1]] == " ":
            run.append((m.start(), m.end()))
            continue
        _try_run(text, run, out, formats)
        run = []
        if sep is None:
            run = [(m.start(), m.end())]
        else:
            groups = m.group().split(sep)
            if sum(len(g) for g in groups) >= 9:
                _try_window(text, m.start(), m.end(), sep, groups, out, formats)
    _try_run(text, run, out, formats)


def _try_run(
    text: str, run: list[tuple[int, int]], out: Found, formats: list[tuple[str, _DigitFormat]]
) -> None:
    if not run or sum(e - s for s, e in run) < 9:
        return
    used_until = -1
    for i, j in _windows([e - s for s, e in run], 9, 19):
        s, e = run[i][0], run[j - 1][1]
        if s < used_until:
            continue
        groups = [text[a:b] for a, b in run[i:j]]
        if _try_window(text, s, e, " ", groups, out, formats):
            used_until = e


def _try_window(
    text: str,
    s: int,
    e: int,
    sep: str,
    groups: list[str],
    out: Found,
    formats: list[tuple[str, _DigitFormat]],
) -> bool:
    sizes = tuple(len(g) for g in groups)
    digits = "".join(groups)
    before = text[s - 1] if s > 0 else ""
    if before.isdigit() or word_char_at(text, e):
        return False
    hit = False
    for entity, (seps, shape, ok, letters_before) in formats:
        if len(sizes) > 1 and sep not in seps:
            continue
        if not shape(sizes) or (before.isalpha() and not letters_before):
            continue
        if ok(digits):
            out.append(entity_span(s, e, entity, digits))
            hit = True
    return hit


# ----------------------------------------------------------------------------- phone

_PHONE: Final = re.compile(
    r"(?:\+ ?[0-9]{1,3}[ .-]?)?(?:\([0-9]{1,5}\)[ .-]?)?[0-9]+(?:[ .-](?:\([0-9]{1,5}\)|[0-9]+)|\([0-9]{1,5}\))*"
)
_MAX_PHONE_TRIES: Final = 12
_TOKEN: Final = re.compile(r"[^ .-]+")
_NOT_PHONE: Final = re.compile(  # dates, IPv4 addresses and the US SSN shape
    r"[0-9]{4}([-./])[0-9]{1,2}\1[0-9]{1,2}|[0-9]{1,2}([-./])[0-9]{1,2}\2[0-9]{2,4}|"
    r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9]{3}([-. ])[0-9]{2}\3[0-9]{4}"
)
_CARD_GROUPING: Final = re.compile(r"[0-9]{4}(?:[ -][0-9]{4}){2,}(?:[ -][0-9]{1,4})?")


@functools.lru_cache(maxsize=65536)
def _phone_valid(candidate: str) -> bool:
    """Whether a candidate is a valid number of its country's numbering plan.

    Builds ``PhoneNumber`` objects directly instead of ``phonenumbers.parse`` (which costs
    about three times more); the validation itself is the library's, from its metadata.
    """
    digits = "".join(c for c in candidate if c.isdigit())
    n = len(digits)
    if n < 7 or n > 15 or _NOT_PHONE.fullmatch(candidate):
        return False
    if candidate.startswith("+"):
        for k in (1, 2, 3):
            cc = int(digits[:k])
            if cc in _CC_REGIONS:
                return _valid(cc, digits[k:], None)
        return False
    if n < 10 and candidate.isdigit():
        return False  # a bare short digit run is an amount or an id far more often
    # digit groups separated by spaces alone, not opened by a trunk 0 or an area code in
    # parentheses: house numbers and postcodes, amounts and dates are written so too
    loose = candidate[0] not in "0(" and not candidate.isdigit() and set(candidate) <= _SPACED
    for region in PHONE_REGIONS:
        cc = _REGION_CC[region]
        national = digits
        if national.startswith(_TRUNK[region]):
            national = national[len(_TRUNK[region]) :]
        elif (
            national.startswith(str(cc)) and n > 10 and _valid(cc, national[len(str(cc)) :], region)
        ):
            return True  # a country code without "+": grouped as the writer knows it
        if _valid(cc, national, region) and (not loose or _grouped(candidate, cc, national)):
            return True
    return False


def _grouped(candidate: str, cc: int, national: str) -> bool:
    """Whether the digit groups of a candidate written with spaces alone, without "+",
    "(" or a leading 0, follow the number's national format, groups possibly joined ("415 555 0132" and
    "415 5550132" for "(415) 555-0132"; not "41 55 55 01 32"), as libphonenumber's
    STRICT_GROUPING leniency asks. Digit runs that merely validate — a house number
    and a postcode, the parts of a date — are rarely grouped so."""
    number = phonenumbers.PhoneNumber(country_code=cc, national_number=int(national))
    formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    within = len(national)
    return {c for c in _cuts(candidate) if c < within} <= _cuts(formatted)


def _cuts(written: str) -> set[int]:
    """Where the digit groups of ``written`` end, counted in digits from its end."""
    cuts: set[int] = set()
    count = 0
    for ch in reversed(written):
        if ch.isdigit():
            count += 1
        elif count:
            cuts.add(count)
    cuts.discard(count)
    return cuts


_CC_REGIONS: Final = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
_SPACED: Final = frozenset("0123456789 ")
_REGION_CC: Final = {r: phonenumbers.country_code_for_region(r) for r in PHONE_REGIONS}
_TRUNK: Final = {r: ("1" if r == "US" else "0") for r in PHONE_REGIONS}


def _valid(cc: int, national: str, region: str | None) -> bool:
    if not national or len(national) > 14:
        return False
    number = phonenumbers.PhoneNumber(country_code=cc, national_number=int(national))
    zeros = len(national) - len(national.lstrip("0"))
    if zeros:
        number.italian_leading_zero = True
        number.number_of_leading_zeros = zeros
    if region is None or cc == 1:  # the North American plan: US, Canada, the Caribbean
        return bool(phonenumbers.is_valid_number(number))
    return bool(phonenumbers.is_valid_number_for_region(number, region))


# Dates and times are never part of a phone number: "2000-04-16 11:34", "16.04.2000",
# "04/16/2000 9:05", "11:34:07" (standalone: a French "01.23.45.67.89" is not a date).
_DATE_TIME: Final = re.compile(
    r"(?<![0-9./-])(?:[0-9]{4}([-./])[0-9]{1,2}\1[0-9]{1,2}|[0-9]{1,2}([-./])[0-9]{1,2}\2(?:[0-9]{4}|[0-9]{2}))"
    r"(?![./-]?[0-9])(?:[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)?"
    r"|(?<![0-9:])[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?(?![0-9:])"
)


def phones(text: str, out: Found) -> None:
    taken = [(t.start, t.end) for t in out if t.priority > SPAN_PRIORITY["PHONE_NUMBER"]]
    dates = [(m.start(), m.end()) for m in _DATE_TIME.finditer(text)] if _has_date(text) else []
    for region in _PHONE_REGION.finditer(text):
        start, end = region.start(), region.end()
        if any(a <= start and end <= b for a, b in taken):
            continue
        if start > 0 and text[start - 1] == "(":
            start -= 1
        if start > 0 and text[start - 1] == "+":
            start -= 1
        elif start > 1 and text[start - 2 : start] == "+ ":
            start -= 2
        for a, b in _outside(start, end, dates):
            _phone_region(text, a, b, taken, out)


def _has_date(text: str) -> bool:
    return ":" in text or "-" in text or "/" in text or "." in text


def _outside(start: int, end: int, holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ``[start, end)`` outside the ``holes`` (sorted, non-overlapping)."""
    parts: list[tuple[int, int]] = []
    for a, b in holes:
        if b <= start or a >= end:
            continue
        if a > start:
            parts.append((start, a))
        start = max(start, b)
    if start < end:
        parts.append((start, end))
    return parts


def _phone_region(
    text: str, start: int, end: int, taken: list[tuple[int, int]], out: Found
) -> None:
    for m in _PHONE.finditer(text, start, end):
        s, e = m.start(), m.end()
        if e - s < 7 or any(a <= s and e <= b for a, b in taken):
            continue

        cand = m.group()
        if sum(c.isdigit() for c in cand) < 7:
            continue
        if s > 0 and (text[s - 1].isalnum() or text[s - 1] in "_+-./"):
            continue
        if word_char_at(text, e):
            continue
        if _phone_valid(cand):
            out.append(entity_span(s, e, "PHONE_NUMBER", "".join(c for c in cand if c.isdigit())))
            continue
        # a run of numbers separated by spaces: try its sub-runs, longest first (not in
        # what is grouped like a card or an account number)
        if _CARD_GROUPING.fullmatch(cand):
            continue
        parts = [
            (s + p.start(), s + p.end(), sum(c.isdigit() for c in p.group()))
            for p in _TOKEN.finditer(cand)
        ]
        if len(parts) < 2:
            continue
        tries = 0
        done = -1
        for i in range(len(parts)):
            if parts[i][0] < done:
                continue
            total = 0
            subs = []
            for j in range(i, len(parts)):
                total += parts[j][2]
                if total > 15:
                    break
                plus = text[parts[i][0]] == "+"
                if (total >= 10 or (plus and total >= 7)) and not (i == 0 and j == len(parts) - 1):
                    subs.append(parts[j][1])
            for pe in reversed(subs):
                tries += 1
                if tries > _MAX_PHONE_TRIES:
                    break
                sub = text[parts[i][0] : pe]
                if any(a <= parts[i][0] and pe <= b for a, b in taken):
                    continue
                if _phone_valid(sub):
                    out.append(
                        entity_span(
                            parts[i][0], pe, "PHONE_NUMBER", "".join(c for c in sub if c.isdigit())
                        )
                    )
                    done = pe
                    break


# ----------------------------------------------------------------------------- iban

_IBAN: Final = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]*(?:[ -][A-Z0-9]+)*")


def ibans(text: str, out: Found) -> None:
    pos = 0
    while (m := _IBAN.search(text, pos)) is not None:
        pos = m.end()
        s = m.start()
        if word_char_at(text, s - 1):
            continue
        want = v.IBAN_LENGTHS.get(text[s : s + 2])
        if want is None:
            continue
        compact: list[str] = []
        seps: set[str] = set()
        pos = s
        end = -1
        for tok in re.finditer(r"[A-Z0-9]+|[ -]", m.group()):
            t = tok.group()
            if t in " -":
                seps.add(t)
                continue
            compact.append(t)
            pos = s + tok.end()
            length = sum(len(c) for c in compact)
            if length == want:
                end = pos
                break
            if length > want:
                break
        if end < 0 or len(seps) > 1 or word_char_at(text, end):
            continue
        joined = "".join(compact)
        if v.iban_ok(joined):
            out.append(entity_span(s, end, "IBAN_CODE", joined))
            pos = end  # the next IBAN may follow in the same run of tokens


# ------------------------------------------------------------- alphanumeric identifiers

ALNUM_FORMATS: Final[dict[str, tuple[re.Pattern[str], Callable[[str], bool], bool]]] = {
    # entity -> (regex, validator on the separator-free match, letters allowed before)
    "UK_NINO": (
        re.compile(r"[A-Za-z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-Za-z]", re.ASCII),
        v.nino_ok,
        False,
    ),
    "US_MBI": (
        re.compile(
            r"[1-9][A-Za-z][A-Za-z0-9][0-9]-?[A-Za-z][A-Za-z0-9][0-9]-?[A-Za-z]{2}[0-9]{2}",
            re.ASCII,
        ),
        v.mbi_ok,
        False,
    ),
    "UK_DRIVING_LICENCE": (
        re.compile(r"[A-Za-z9]{5}[0-9]{6}[A-Za-z9]{2}[0-9][A-Za-z]{2}", re.ASCII),
        v.uk_driving_licence_ok,
        False,
    ),
    "IT_FISCAL_CODE": (
        re.compile(
            r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]"
        ),
        lambda s: any(c.isdigit() for c in s),
        False,
    ),
    "ES_NIF": (re.compile(r"[0-9]{7,8}-?[A-Za-z]", re.ASCII), v.es_nif_ok, False),
    "ES_NIE": (re.compile(r"[XYZxyz]-?[0-9]{7}-?[A-Za-z]", re.ASCII), v.es_nie_ok, False),
    "SG_NRIC_FIN": (re.compile(r"[A-Z][0-9]{7}[A-Z]"), lambda s: True, False),
    "FI_PERSONAL_IDENTITY_CODE": (
        re.compile(r"[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-Za-z]", re.ASCII),
        v.fi_hetu_ok,
        True,
    ),
}


# entity -> a cheap necessary condition (led by a digit where possible, so that the
# regex engine skips ahead in C) checked before the full pattern
ALNUM_GATES: Final[dict[str, re.Pattern[str]]] = {
    "UK_NINO": re.compile(r"[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-Da-d](?:[^A-Za-z0-9]|$)"),
    "US_MBI": re.compile(r"[1-9][A-Za-z][A-Za-z0-9][0-9]-?[A-Za-z][A-Za-z0-9][0-9]"),
    "UK_DRIVING_LICENCE": re.compile(r"[0-9]{6}[A-Za-z9]{2}[0-9][A-Za-z]{2}"),
    "IT_FISCAL_CODE": re.compile(
        r"[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]"
    ),
    "ES_NIF": re.compile(r"[0-9]{7}-?[A-Za-z](?:[^A-Za-z0-9]|$)"),
    "ES_NIE": re.compile(r"[0-9]{7}-?[A-Za-z](?:[^A-Za-z0-9]|$)"),
    "SG_NRIC_FIN": re.compile(r"[0-9]{7}[A-Z](?:[^A-Za-z0-9]|$)"),
    "FI_PERSONAL_IDENTITY_CODE": re.compile(
        r"[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-Za-z](?:[^A-Za-z0-9]|$)"
    ),
}


def alnum_ids(text: str, out: Found, wanted: frozenset[str]) -> None:
    for entity, (regex, ok, letters_before) in ALNUM_FORMATS.items():
        if entity not in wanted or ALNUM_GATES[entity].search(text) is None:
            continue
        for m in regex.finditer(text):
            s, e = m.start(), m.end()
            before = text[s - 1] if s > 0 else ""
            if before and (
                before.isdigit() or before == "_" or (before.isalpha() and not letters_before)
            ):
                continue
            if word_char_at(text, e):
                continue
            compact = (
                m.group().replace(" ", "").replace("-", "")
                if entity != "FI_PERSONAL_IDENTITY_CODE"
                else m.group()
            )
            if ok(compact):
                out.append(entity_span(s, e, entity, compact.upper()))


_POSTCODE: Final = re.compile(
    r"GIR ?0AA|[A-PR-UWYZ](?:[0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][A-HJKPSTUW]|[A-HK-Y][0-9][ABEHMNPRVWXY])"
    r" ?[0-9][ABD-HJLNP-UW-Z]{2}"
)


def postcodes(text: str, out: Found) -> None:
    for m in _POSTCODE.finditer(text):
        if bounded(text, m.start(), m.end()):
            out.append(entity_span(m.start(), m.end(), "UK_POSTCODE", m.group().replace(" ", "")))
