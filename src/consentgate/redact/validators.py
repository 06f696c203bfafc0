"""Check digits and structure rules of the identifiers ``consentgate.redact`` recognizes.

Each function takes the identifier with its separators already removed and answers
whether it can be a real one. They are hand-written because each is a few lines of
arithmetic from the identifier's published definition (ISO 7064 mod 97-10 for IBAN,
Luhn for payment cards, base58check/bech32 for Bitcoin addresses, the Verhoeff scheme
for Aadhaar, ...), and the packages that bundle them (``python-stdnum``) would be a
dependency for a page of code on the hot path.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Final

__all__ = [
    "aadhaar_ok",
    "base58check_ok",
    "bech32_address_ok",
    "ca_sin_ok",
    "card_ok",
    "ch_ahv_ok",
    "es_nie_ok",
    "es_nif_ok",
    "fi_hetu_ok",
    "iban_ok",
    "itin_ok",
    "luhn_ok",
    "mbi_ok",
    "nhs_ok",
    "nino_ok",
    "pesel_ok",
    "se_personnummer_ok",
    "ssn_ok",
    "tr_tckn_ok",
    "uk_driving_licence_ok",
    "za_id_ok",
]


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check used by payment cards, Canadian SINs and others."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# Issuer prefixes and lengths of the card schemes in circulation (ISO/IEC 7812 ranges).
def card_ok(digits: str) -> bool:
    """A payment card number: a known issuer range, its length, and the Luhn check.

    Covers Visa (13, 16 and 19 digits), Mastercard (51-55 and the 2221-2720 "2-series"),
    American Express, Diners Club, Discover, JCB (3528-3589, and 15 digits from 1800 or
    2131), UnionPay and Maestro.
    """
    n = len(digits)
    if n < 12 or n > 19 or not luhn_ok(digits) or len(set(digits)) == 1:
        return False
    p2 = int(digits[:2])
    p4 = int(digits[:4])
    p6 = int(digits[:6])
    if digits[0] == "4":  # Visa
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard
        return n == 16
    if p2 in (34, 37):  # American Express
        return n == 15
    if p2 == 36 or 300 <= int(digits[:3]) <= 305 or p2 in (38, 39):  # Diners Club
        return 14 <= n <= 19
    if p4 == 6011 or p2 == 65 or 644 <= int(digits[:3]) <= 649 or 622126 <= p6 <= 622925:
        return 16 <= n <= 19  # Discover
    if 3528 <= p4 <= 3589:  # JCB
        return 16 <= n <= 19
    if p4 in (1800, 2131):  # JCB's 15-digit ranges
        return n == 15
    if p2 == 62:  # UnionPay
        return 16 <= n <= 19
    if p2 in (50, 56, 57, 58, 63, 67) or p2 == 60:  # Maestro and other debit ranges
        return 12 <= n <= 19
    return p2 == 12 and n == 15  # UATP / test ranges


IBAN_LENGTHS: Final[dict[str, int]] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
}  # fmt: skip


def iban_ok(compact: str) -> bool:
    """An IBAN: registered country, that country's length, and ISO 7064 mod 97-10."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


_SSN_FAKES: Final = ("123456789", "98765432", "078051120")


def ssn_ok(digits: str) -> bool:
    """A US Social Security number: area not 000, 666 or 9xx, group and serial not zero.

    Also refuses well-known fakes (123-45-6789, the Woolworth wallet card 078-05-1120)
    and numbers of a single repeated digit.
    """
    if len(digits) != 9 or len(set(digits)) == 1 or digits.startswith(_SSN_FAKES):
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def itin_ok(digits: str) -> bool:
    """A US ITIN: 9xx, then a group in 50-65, 70-88, 90-92 or 94-99."""
    if len(digits) != 9 or digits[0] != "9":
        return False
    g = int(digits[3:5])
    return 50 <= g <= 65 or 70 <= g <= 88 or 90 <= g <= 92 or 94 <= g <= 99


_NINO_BAD_FIRST: Final = frozenset("DFIQUV")
_NINO_BAD_SECOND: Final = frozenset("DFIOQUV")
_NINO_BAD_PREFIXES: Final = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def nino_ok(compact: str) -> bool:
    """A UK National Insurance number: allowed prefix letters, six digits, suffix A-D."""
    s = compact.upper()
    return (
        len(s) == 9
        and s[0] not in _NINO_BAD_FIRST
        and s[1] not in _NINO_BAD_SECOND
        and s[:2] not in _NINO_BAD_PREFIXES
        and s[2:8].isdigit()
        and s[8] in "ABCD"
    )


def nhs_ok(digits: str) -> bool:
    """A UK NHS number: ten digits with a mod-11 check digit."""
    if len(digits) != 10 or len(set(digits)) == 1:
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def ch_ahv_ok(digits: str) -> bool:
    """A Swiss social security number (AHV/AVS, 756.XXXX.XXXX.XC): thirteen digits, the
    country prefix 756, and the EAN-13 check digit."""
    if len(digits) != 13 or not digits.startswith("756"):
        return False
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits[:12]))
    return (10 - total % 10) % 10 == int(digits[12])


def ca_sin_ok(digits: str) -> bool:
    """A Canadian Social Insurance Number: nine digits, not starting with 0 or 8, Luhn."""
    return len(digits) == 9 and digits[0] not in "08" and len(set(digits)) > 1 and luhn_ok(digits)


_ES_LETTERS: Final = "TRWAGMYFPDXBNJZSQVHLCKE"


def es_nif_ok(compact: str) -> bool:
    """A Spanish DNI/NIF: up to eight digits and the check letter of the number mod 23."""
    digits, letter = compact[:-1], compact[-1].upper()
    return digits.isdigit() and _ES_LETTERS[int(digits) % 23] == letter


def es_nie_ok(compact: str) -> bool:
    """A Spanish NIE: X, Y or Z (read as 0, 1, 2), seven digits, the NIF check letter."""
    s = compact.upper()
    if len(s) != 9 or s[0] not in "XYZ":
        return False
    return es_nif_ok(str("XYZ".index(s[0])) + s[1:])


_VERHOEFF_D: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6), (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4), (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)  # fmt: skip
_VERHOEFF_P: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2), (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)  # fmt: skip


def aadhaar_ok(digits: str) -> bool:
    """An Indian Aadhaar number: twelve digits, first 2-9, not a palindrome, Verhoeff."""
    if len(digits) != 12 or digits[0] in "01" or digits == digits[::-1]:
        return False
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][int(ch)]]
    return c == 0


def pesel_ok(digits: str) -> bool:
    """A Polish PESEL: a valid birth date (century in the month) and its check digit."""
    if len(digits) != 11:
        return False
    month = int(digits[2:4])
    century = {0: 1900, 20: 2000, 40: 2100, 60: 2200, 80: 1800}.get(month - month % 20)
    if century is None or not _date_ok(century + int(digits[:2]), month % 20, int(digits[4:6])):
        return False
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    total = sum(int(d) * w for d, w in zip(digits[:10], weights, strict=True))
    return (10 - total % 10) % 10 == int(digits[10])


def se_personnummer_ok(digits: str) -> bool:
    """A Swedish personnummer (10 or 12 digits): a valid date (day+60 for a
    samordningsnummer) and the Luhn check over the last ten digits."""
    if len(digits) == 12:
        year = int(digits[:4])
        if not 1800 <= year <= 2099:
            return False
        short = digits[2:]
    elif len(digits) == 10:
        short = digits
        year = 1900 + int(digits[:2])
    else:
        return False
    day = int(short[4:6])
    if day > 60:
        day -= 60
    return _date_ok(year, int(short[2:4]), day) and luhn_ok(short)


_FI_CENTURY: Final = {"+": 1800, "-": 1900, "A": 2000}
_FI_CENTURY.update(dict.fromkeys("YXWVU", 1900))
_FI_CENTURY.update(dict.fromkeys("BCDEF", 2000))
_FI_CHECK: Final = "0123456789ABCDEFHJKLMNPRSTUVWXY"


def fi_hetu_ok(code: str) -> bool:
    """A Finnish henkilötunnus: DDMMYY, century sign, individual number, check char."""
    s = code.upper()
    if len(s) != 11 or s[6] not in _FI_CENTURY or not (s[:6] + s[7:10]).isdigit():
        return False
    if not _date_ok(_FI_CENTURY[s[6]] + int(s[4:6]), int(s[2:4]), int(s[:2])):
        return False
    return int(s[7:10]) >= 2 and _FI_CHECK[int(s[:6] + s[7:10]) % 31] == s[10]


def tr_tckn_ok(digits: str) -> bool:
    """A Turkish T.C. Kimlik No: eleven digits, no leading zero, two check digits."""
    if len(digits) != 11 or digits[0] == "0":
        return False
    d = [int(c) for c in digits]
    d10 = ((d[0] + d[2] + d[4] + d[6] + d[8]) * 7 - (d[1] + d[3] + d[5] + d[7])) % 10
    return d10 == d[9] and sum(d[:10]) % 10 == d[10]


def za_id_ok(digits: str) -> bool:
    """A South African ID number: a valid YYMMDD birth date, citizenship 0-2, Luhn."""
    if len(digits) != 13 or digits[10] not in "012":
        return False
    yy, mm, dd = int(digits[:2]), int(digits[2:4]), int(digits[4:6])
    if not (_date_ok(2000 + yy, mm, dd) or _date_ok(1900 + yy, mm, dd)):
        return False
    return luhn_ok(digits)


_MBI_LETTERS: Final = frozenset("ACDEFGHJKMNPQRTUVWXY")


def mbi_ok(compact: str) -> bool:
    """A US Medicare Beneficiary Identifier: the CMS character class at each position
    (digit 1-9, letter, letter-or-digit, digit, letter, letter-or-digit, digit, letter,
    letter, digit, digit; letters exclude S, L, O, I, B and Z)."""
    s = compact.upper()
    if len(s) != 11 or s[0] not in "123456789":
        return False
    for ch, kind in zip(s[1:], "AXNAXNAANN", strict=True):
        if kind == "N":
            ok = ch.isdigit()
        elif kind == "A":
            ok = ch in _MBI_LETTERS
        else:
            ok = ch.isdigit() or ch in _MBI_LETTERS
        if not ok:
            return False
    return True


_DVLA: Final = re.compile(r"[A-Z]{1,5}9{0,4}[0-9]{6}[A-Z][A-Z9][0-9][A-Z]{2}")


def uk_driving_licence_ok(code: str) -> bool:
    """A UK (DVLA) driving licence number: surname (padded with 9s), a valid encoded
    birth date (decade, month + 50 for women, day, year), initials, digit, two letters."""
    s = code.upper()
    if len(s) != 16 or _DVLA.fullmatch(s) is None:
        return False
    month, day, year = int(s[6:8]), int(s[8:10]), int(s[5] + s[10])
    if month > 50:
        month -= 50
    return _date_ok(1900 + year, month, day) or _date_ok(2000 + year, month, day)


_B58: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX: Final = {c: i for i, c in enumerate(_B58)}


def base58check_ok(address: str) -> bool:
    """A base58check string (legacy P2PKH/P2SH Bitcoin address): 25 bytes, version
    0x00 or 0x05, and the double-SHA-256 checksum."""
    n = 0
    for ch in address:
        value = _B58_INDEX.get(ch)
        if value is None:
            return False
        n = n * 58 + value
    pad = len(address) - len(address.lstrip("1"))
    try:
        raw = b"\x00" * pad + n.to_bytes((n.bit_length() + 7) // 8, "big")
    except OverflowError:  # pragma: no cover - n is never negative
        return False
    if len(raw) != 25 or raw[0] not in (0x00, 0x05):
        return False
    digest = hashlib.sha256(hashlib.sha256(raw[:-4]).digest()).digest()
    return digest[:4] == raw[-4:]


_BECH32_CHARSET: Final = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_CONST: Final = 1
_BECH32M_CONST: Final = 0x2BC830A3


def _bech32_polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= gen[i]
    return chk


def bech32_address_ok(address: str) -> bool:
    """A segwit Bitcoin address (BIP 173 bech32 for v0, BIP 350 bech32m for v1+)."""
    if address.lower() != address and address.upper() != address:
        return False
    s = address.lower()
    pos = s.rfind("1")
    if pos < 1 or pos + 7 > len(s) or len(s) > 90:
        return False
    hrp = s[:pos]
    if hrp not in ("bc", "tb"):
        return False
    try:
        data = [_BECH32_CHARSET.index(c) for c in s[pos + 1 :]]
    except ValueError:
        return False
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    const = _bech32_polymod(expanded + data)
    if not data:
        return False
    version = data[0]
    if version == 0:
        return const == _BECH32_CONST and len(data) - 7 in (32, 52)  # 20 or 32 bytes
    return const == _BECH32M_CONST and 1 <= version <= 16


def _date_ok(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True
