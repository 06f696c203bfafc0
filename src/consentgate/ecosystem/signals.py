"""Machine-readable AI-use preferences: export consent as the signals crawlers read, and
read those signals back as consent evidence.

Vocabularies (drafts, not standards; the category names changed between drafts, so the
version is recorded in every export and in the evidence of every import):

* IETF AIPREF — ``AIPREF_VOCABULARY`` (category ``train-ai``: AI training) attached as in
  ``AIPREF_ATTACH``: an HTTP ``Content-Usage`` header whose value is an RFC 9651
  Dictionary of tokens ``y``/``n`` (``train-ai=n``), and robots.txt ``Content-Usage``
  rules with an optional path prefix (``Content-Usage: /u/alice/ train-ai=n``).
* W3C TDMRep (Community Group Final Report, 2024) — ``tdm-reservation`` 1 (rights
  reserved: no text and data mining) or 0, as an HTTP header and in
  ``/.well-known/tdmrep.json`` (``[{"location": "/u/alice/*", "tdm-reservation": 1}]``).

Export: a member whose consent for the setting is effective (``granted`` or
``default_on``) at the time asked gets ``train-ai=y`` / ``tdm-reservation: 0``; every
other state gets ``train-ai=n`` / ``tdm-reservation: 1``.

Import: ``y``/``0`` is a grant, ``n``/``1`` a deny; a signal that says nothing about
``train-ai`` (absent, unparseable, or another vocabulary's category) is **unknown, and
unknown is no consent**: it is recorded as a deny, never as a grant. Each becomes a
consent event with source ``signal`` and evidence ``{signal, vocabulary, value,
fetched_at, url}``. The Structured Field Dictionary parsing is a small hand-written subset
of RFC 9651 (tokens and booleans as values, parameters ignored), enough for this
vocabulary; anything else is treated as unknown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "AIPREF_ATTACH",
    "AIPREF_CATEGORY",
    "AIPREF_VOCABULARY",
    "TDMREP_VERSION",
    "consented",
    "content_usage",
    "parse_content_usage",
    "robots_lines",
    "signal_event",
    "tdmrep_entries",
]

AIPREF_VOCABULARY = "draft-ietf-aipref-vocab-05"
AIPREF_ATTACH = "draft-ietf-aipref-attach-04"
AIPREF_CATEGORY = "train-ai"
TDMREP_VERSION = "W3C TDMRep CG Final Report 2024"
EFFECTIVE = frozenset({"granted", "default_on"})

_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]*")


def consented(state: str) -> bool:
    """Whether a consent state (``consent status``) lets the content be used."""
    return state in EFFECTIVE


def content_usage(allowed: bool) -> str:
    """The ``Content-Usage`` header value for one member's content."""
    return f"{AIPREF_CATEGORY}={'y' if allowed else 'n'}"


def robots_lines(paths: Mapping[str, bool]) -> list[str]:
    """robots.txt ``Content-Usage`` rules, one per path prefix, under ``User-Agent: *``."""
    lines = [
        f"# AI-use preferences ({AIPREF_VOCABULARY}, {AIPREF_ATTACH}), from consentgate",
        "User-Agent: *",
        "Allow: /",
    ]
    lines += [f"Content-Usage: {p} {content_usage(a)}" for p, a in sorted(paths.items())]
    return lines


def tdmrep_entries(paths: Mapping[str, bool]) -> list[dict[str, Any]]:
    """``/.well-known/tdmrep.json``: one entry per path prefix (1 = reserved)."""
    return [
        {"location": f"{p.rstrip('*')}*", "tdm-reservation": 0 if a else 1}
        for p, a in sorted(paths.items())
    ]


def parse_content_usage(value: str) -> dict[str, bool] | None:
    """The y/n members of a ``Content-Usage`` Dictionary; None when it does not parse."""
    out: dict[str, bool] = {}
    text = value.strip()
    if not text:
        return out
    for member in text.split(","):
        item = member.strip().split(";", 1)[0].strip()  # parameters are ignored
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not _KEY.fullmatch(key):
            return None
        if not eq:  # a bare key is boolean true in RFC 9651; not a y/n preference
            continue
        raw = raw.strip()
        if raw in ("y", "n"):
            out[key] = raw == "y"
        elif not (_TOKEN.fullmatch(raw) or raw in ("?0", "?1")):
            return None
    return out


def _aipref(value: Any) -> bool | None:
    if not isinstance(value, str):
        return None
    parsed = parse_content_usage(value)
    return None if parsed is None else parsed.get(AIPREF_CATEGORY)


def _tdmrep(value: Any) -> bool | None:
    text = str(value).strip() if value is not None else ""
    return {"0": True, "1": False}.get(text)


def signal_event(rec: Mapping[str, Any], *, setting: str, policy_version: str) -> dict[str, Any]:
    """The consent event (consent import JSONL) for one fetched signal record.

    ``rec`` holds ``member_id``, ``fetched_at`` and ``content_usage`` (the header or
    robots.txt value) or ``tdm_reservation``, and optionally ``url``.
    """
    if "content_usage" in rec:
        kind, vocabulary, raw = "aipref", AIPREF_VOCABULARY, rec["content_usage"]
        allowed = _aipref(raw)
    elif "tdm_reservation" in rec:
        kind, vocabulary, raw = "tdmrep", TDMREP_VERSION, rec["tdm_reservation"]
        allowed = _tdmrep(raw)
    else:
        raise ValueError("needs content_usage or tdm_reservation")
    evidence: dict[str, Any] = {
        "signal": kind,
        "vocabulary": vocabulary,
        "value": raw if isinstance(raw, str | int) else None,
        "fetched_at": rec.get("fetched_at"),
        "understood_as": {True: "consent", False: "refusal", None: "unknown"}[allowed],
    }
    if rec.get("url") is not None:
        evidence["url"] = rec["url"]
    event: dict[str, Any] = {
        "member_id": rec.get("member_id"),
        "type": "grant" if allowed is True else "deny",  # unknown is no consent
        "setting": setting,
        "effective_at": rec.get("fetched_at"),
        "source": "signal",
        "evidence": evidence,
    }
    if allowed is True:
        event["policy_version"] = policy_version
    return event
