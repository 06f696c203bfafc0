"""Recognizers of addresses on the network: email, URL, IP and MAC addresses, Bitcoin.

Each is a candidate regex followed by the format's own rules (a known TLD for a bare
domain, ``ipaddress`` for IPs, base58check and bech32 checksums for Bitcoin). The
patterns start with a character class where they can, so that Python's regex engine
skips ahead in C; context before a match is checked in Python.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

from consentgate.redact import validators as v
from consentgate.redact.spans import Found, bounded, entity_span, word_char_at

__all__ = ["crypto", "emails", "ipv4", "ipv6", "macs", "urls"]

# ----------------------------------------------------------------------------- email

_LABEL: Final = r"(?:[A-Za-z0-9][A-Za-z0-9-]*+\.)"  # a domain label and its dot
_EMAIL: Final = re.compile(
    rf"(?<![A-Za-z0-9._%+-])[A-Za-z0-9_][A-Za-z0-9._%+-]*+@{_LABEL}+"
    r"(?:[A-Za-z]{2,24}|xn--[A-Za-z0-9-]{2,59})(?![A-Za-z0-9-]|\.[A-Za-z0-9])",
    re.ASCII,
)


def emails(text: str, out: Found) -> None:
    for m in _EMAIL.finditer(text):
        s = m.start()
        if s > 0 and (text[s - 1].isalnum() or text[s - 1] in "._%+-"):
            continue
        out.append(entity_span(s, m.end(), "EMAIL_ADDRESS", m.group().lower()))


# ----------------------------------------------------------------------------- url

_CCTLDS: Final = frozenset(
    """
    ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn
    bo br bs bt bw by bz ca cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk
    dm dz ec ee eg er es et eu fi fj fk fm fo fr ga gd ge gf gg gh gi gl gm gn gp gq gr
    gs gt gu gw gy hk hm hn hr ht hu ie il im io iq ir it je jm jo jp ke kg kh ki km kn
    kp kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mg mh mm mn mo mp mq mr
    ms mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pm
    pn pr pt pw py qa re ro rs ru rw sa sb sd se sg si sk sl sm sn sr ss su sv sx sy sz
    tc td tf tg th tj tk tl tm tn to tr tt tv tw tz ua ug uk us uy uz va vc ve vg vi vn
    vu wf ws ye yt za zm zw
    """.split()  # noqa: SIM905
)
# Two-letter TLDs that are also English words, file extensions or attribute names: a bare
# "this.is" or "setup.py" is not a link. They still count after a scheme or "www.".
_BARE_EXCLUDED: Final = frozenset(
    """
    am an as at be by do go he id if in is it md me mk ml my no of on or pl pm ps py rs sc
    sh so st to ts up us we
    """.split()  # noqa: SIM905
)
_BARE_TLDS: Final = (_CCTLDS - _BARE_EXCLUDED) | frozenset(
    """
    com net org edu gov mil int biz info app dev xyz online site tech store cloud blog
    shop news live io ai co
    """.split()  # noqa: SIM905
)
_HOST: Final = rf"{_LABEL}+(?:[A-Za-z]{{2,24}}|xn--[A-Za-z0-9-]{{2,59}})"
_PATH: Final = r"(?::[0-9]{1,5})?(?:[/?#][^\s<>\"'`]*)?"
_URL_SCHEME: Final = re.compile(rf"(?:https?|ftp)://{_HOST}{_PATH}", re.ASCII | re.IGNORECASE)
_URL_BARE: Final = re.compile(
    rf"(?<![A-Za-z0-9@._/:-])(?:www[0-9]{{0,3}}\.)?{_LABEL}+([A-Za-z]{{2,24}})"
    rf"(?![A-Za-z0-9@-]|\.[A-Za-z0-9]){_PATH}",
    re.ASCII,
)
_TRAILING: Final = ".,;:!?'\"*"


def _trim_url(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1] in _TRAILING + ")]}":
        ch = text[end - 1]
        if ch in ")]}" and text.count("([{"[")]}".index(ch)], start, end) >= text.count(
            ch, start, end
        ):
            break
        end -= 1
    return end


def urls(text: str, out: Found) -> None:
    taken: list[tuple[int, int]] = []
    for m in _URL_SCHEME.finditer(text):
        s = m.start()
        if word_char_at(text, s - 1):
            continue
        e = _trim_url(text, s, m.end())
        taken.append((s, e))
        out.append(entity_span(s, e, "URL", text[s:e].lower()))
    for m in _URL_BARE.finditer(text):
        s = m.start()
        if s > 0 and (text[s - 1].isalnum() or text[s - 1] in "@._/:-"):
            continue
        if any(a <= s < b for a, b in taken):
            continue
        tld = m.group(1)
        www = text[s : s + 4].lower() == "www."
        if www and tld.lower() not in _BARE_TLDS | _CCTLDS:
            continue
        if not www:
            host_end = m.end(1)
            if tld != tld.lower() or tld not in _BARE_TLDS:
                continue
            if host_end < len(text) and text[host_end] == "(":
                continue  # a method call, not a domain
        e = _trim_url(text, s, m.end())
        out.append(entity_span(s, e, "URL", text[s:e].lower()))


# ----------------------------------------------------------------------- ip and mac

_IPV4: Final = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?:/[0-9]{1,3})?")
_IPV6: Final = re.compile(
    r"(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{0,4})(?:%[0-9A-Za-z]+)?(?:/[0-9]+)?"
)
_MAC: Final = re.compile(
    r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}"
)


def ipv4(text: str, out: Found) -> None:
    for m in _IPV4.finditer(text):
        s, e = m.start(), m.end()
        if s > 0 and (text[s - 1].isalnum() or text[s - 1] in "._"):
            continue
        addr, _, prefix = m.group().partition("/")
        if prefix and int(prefix) > 32:
            e = s + len(addr)
        if word_char_at(text, e) or any(int(o) > 255 for o in addr.split(".")):
            continue
        out.append(entity_span(s, e, "IP_ADDRESS", addr))


def ipv6(text: str, out: Found) -> None:
    for m in _IPV6.finditer(text):
        s = m.start()
        if s > 0 and (text[s - 1].isalnum() or text[s - 1] in "_:."):
            continue
        cand = m.group()
        addr, _, prefix = cand.partition("/")
        if prefix and int(prefix) > 128:
            cand = addr
        elif prefix:
            addr = cand.partition("/")[0]
        e = s + len(cand)
        if word_char_at(text, e) or (e < len(text) and text[e] == ":"):
            continue
        if e + 1 < len(text) and text[e] == "." and text[e + 1].isdigit():
            continue
        try:
            ipaddress.IPv6Address(addr)
        except ValueError:
            continue
        out.append(entity_span(s, e, "IP_ADDRESS", addr.lower()))


def macs(text: str, out: Found) -> None:
    for m in _MAC.finditer(text):
        s, e = m.start(), m.end()
        if (
            not bounded(text, s, e)
            or (s > 0 and text[s - 1] in ":-.")
            or (e < len(text) and text[e] in ":-")
        ):
            continue
        hexes = re.sub(r"[^0-9A-Fa-f]", "", m.group()).upper()
        if hexes in ("000000000000", "FFFFFFFFFFFF"):
            continue
        out.append(entity_span(s, e, "MAC_ADDRESS", hexes))


# ----------------------------------------------------------------------------- crypto

_BTC: Final = re.compile(
    r"[13][1-9A-HJ-NP-Za-km-z]{25,34}|(?:bc1|BC1)[02-9AC-HJ-NP-Zac-hj-np-z]{6,87}"
)


def crypto(text: str, out: Found) -> None:
    for m in _BTC.finditer(text):
        s, e = m.start(), m.end()
        if not bounded(text, s, e):
            continue
        addr = m.group()
        ok = v.bech32_address_ok(addr) if addr[:3].lower() == "bc1" else v.base58check_ok(addr)
        if ok:
            out.append(entity_span(s, e, "CRYPTO", addr))
