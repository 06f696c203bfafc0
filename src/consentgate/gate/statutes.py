"""Statutory amounts per member, by jurisdiction: what exposure analysis multiplies by.

Exposure used to be one flat figure (affected members x the Stored Communications Act's
$1,000 minimum). A member's exposure depends on where they are and which statutes apply
there, so a **schedule** lists statutes, each with the jurisdictions it applies in and an
amount per affected member:

.. code-block:: yaml

    statutes:
      - id: us_sca
        name: Stored Communications Act, 18 U.S.C. 2707(c) (minimum statutory damages)
        jurisdictions: [US]          # "US" also covers "US-CA", "US-NY", ...
        per_member: 1000
        currency: USD

A jurisdiction matches a statute's entry when equal to it or when the entry is its prefix
before a ``-`` (``US`` covers ``US-CA``); every statute that matches applies (a Californian
counts under the federal statute and the state one). Members in a jurisdiction no statute
covers (or with no known jurisdiction) are reported with no statute and a zero amount, never
dropped. The shipped schedule (``consentgate/data/statutes.yaml``) is a starting point, not
legal advice; ``exposure_statutes`` (docs/configuration.md) names your own.

Pure: parsing takes the file's text, and the breakdown takes values.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

import yaml

from consentgate import strictyaml
from consentgate.errors import InvalidInput

__all__ = [
    "NO_STATUTE",
    "Schedule",
    "Statute",
    "StatuteExposure",
    "breakdown",
    "default_schedule",
    "parse_schedule",
    "totals",
]

NO_STATUTE = "none"  # the statute id of members no statute covers
_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_JURISDICTION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,8})?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_FIELDS = {"id", "name", "jurisdictions", "per_member", "currency"}


@dataclass(frozen=True, slots=True)
class Statute:
    id: str
    name: str
    jurisdictions: tuple[str, ...]
    per_member: Decimal
    currency: str

    def covers(self, jurisdiction: str) -> bool:
        return any(
            jurisdiction == j or jurisdiction.startswith(j + "-") for j in self.jurisdictions
        )


@dataclass(frozen=True, slots=True)
class Schedule:
    statutes: tuple[Statute, ...]
    source: str = "consentgate/data/statutes.yaml"

    def for_jurisdiction(self, jurisdiction: str | None) -> tuple[Statute, ...]:
        if jurisdiction is None:
            return ()
        return tuple(s for s in self.statutes if s.covers(jurisdiction))

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "statutes": [
                {
                    "id": s.id,
                    "name": s.name,
                    "jurisdictions": list(s.jurisdictions),
                    "per_member": str(s.per_member),
                    "currency": s.currency,
                }
                for s in self.statutes
            ],
        }


@dataclass(frozen=True, slots=True)
class StatuteExposure:
    """One row of the breakdown: affected members in ``jurisdiction`` under ``statute``."""

    jurisdiction: str | None
    statute: str  # a statute id, or NO_STATUTE
    statute_name: str
    members: int
    per_member: Decimal
    currency: str | None

    @property
    def amount(self) -> Decimal:
        return self.members * self.per_member

    def as_dict(self) -> dict[str, Any]:
        return {
            "jurisdiction": self.jurisdiction,
            "statute": self.statute,
            "statute_name": self.statute_name,
            "members": self.members,
            "per_member": str(self.per_member),
            "amount": str(self.amount),
            "currency": self.currency,
        }


def breakdown(jurisdictions: Iterable[str | None], schedule: Schedule) -> list[StatuteExposure]:
    """Exposure by (jurisdiction, statute) for affected members given by their
    jurisdictions (one item per member; None: none known). Sorted by jurisdiction, then
    statute id; jurisdictions no statute covers appear once with ``NO_STATUTE``."""
    counts = Counter(jurisdictions)
    rows: list[StatuteExposure] = []
    for jurisdiction, n in counts.items():
        found = schedule.for_jurisdiction(jurisdiction)
        if not found:
            rows.append(
                StatuteExposure(
                    jurisdiction, NO_STATUTE, "no statute configured", n, Decimal(0), None
                )
            )
        for s in found:
            rows.append(StatuteExposure(jurisdiction, s.id, s.name, n, s.per_member, s.currency))
    return sorted(rows, key=lambda r: (r.jurisdiction or "", r.statute))


def totals(rows: Iterable[StatuteExposure]) -> dict[str, str]:
    """The sum of the breakdown per currency (amounts as decimal text)."""
    out: dict[str, Decimal] = {}
    for r in rows:
        if r.currency is not None:
            out[r.currency] = out.get(r.currency, Decimal(0)) + r.amount
    return {c: str(v) for c, v in sorted(out.items())}


def _line(node: yaml.Node | None) -> str:
    return f":{node.start_mark.line + 1}" if node is not None else ""


def _items(node: yaml.Node | None) -> list[yaml.Node | None]:
    """The statute nodes of the document (for line numbers), or Nones."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == "statutes" and isinstance(value, yaml.SequenceNode):
                return list(value.value)
    return []


def parse_schedule(text: str, *, name: str) -> Schedule:
    """A schedule from YAML ``text`` (``name`` locates errors: ``FILE:LINE: field``)."""
    try:
        node, raw = strictyaml.load(text)
    except yaml.YAMLError as exc:
        line, reason = strictyaml.describe(exc, text)
        where = f"{name}:{line}" if line else name
        raise InvalidInput(f"{where}: {reason}") from None
    if (
        not isinstance(raw, dict)
        or set(raw) != {"statutes"}
        or not isinstance(raw["statutes"], list)
    ):
        raise InvalidInput(f"{name}: expected a mapping with one key, `statutes`: a list")
    nodes = _items(node)
    problems: list[str] = []
    statutes: list[Statute] = []
    seen: set[str] = set()
    for i, item in enumerate(raw["statutes"]):
        where = f"{name}{_line(nodes[i] if i < len(nodes) else None)}: statutes[{i}]"
        parsed = _statute(item, where, problems)
        if parsed is None:
            continue
        if parsed.id in seen:
            problems.append(f"{where}.id: {parsed.id!r} is listed twice")
            continue
        seen.add(parsed.id)
        statutes.append(parsed)
    if problems:
        raise InvalidInput(f"{name}: invalid statute schedule", problems)
    return Schedule(tuple(statutes), source=name)


def _statute(item: Any, where: str, problems: list[str]) -> Statute | None:
    if not isinstance(item, dict):
        problems.append(f"{where}: expected a mapping")
        return None
    before = len(problems)
    for extra in sorted(set(map(str, item)) - _FIELDS):
        problems.append(f"{where}.{extra}: unknown field")
    for missing in sorted(_FIELDS - set(map(str, item))):
        problems.append(f"{where}.{missing}: required")
    if len(problems) > before:
        return None
    sid, label, places, amount, currency = (
        item["id"],
        item["name"],
        item["jurisdictions"],
        item["per_member"],
        item["currency"],
    )
    if not isinstance(sid, str) or not _ID.match(sid) or sid == NO_STATUTE:
        problems.append(f"{where}.id: expected lower-case letters, digits and _ (not `none`)")
    if not isinstance(label, str) or not label.strip() or len(label) > 300:
        problems.append(f"{where}.name: expected text of 1-300 characters")
    if (
        not isinstance(places, list)
        or not places
        or not all(isinstance(p, str) and _JURISDICTION.match(p) for p in places)
    ):
        problems.append(f"{where}.jurisdictions: expected a list of codes such as US or US-CA")
    value = _amount(amount)
    if value is None:
        problems.append(f"{where}.per_member: expected a number >= 0")
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        problems.append(f"{where}.currency: expected an ISO 4217 code such as USD")
    if len(problems) > before or value is None:
        return None
    return Statute(sid, label.strip(), tuple(places), value, currency)


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        found = Decimal(str(value))
    except InvalidOperation:
        return None
    if not found.is_finite() or found < 0 or found > Decimal(10) ** 12:
        return None
    return found


def default_schedule() -> Schedule:
    """The shipped schedule (``consentgate/data/statutes.yaml``)."""
    text = resources.files("consentgate").joinpath("data/statutes.yaml").read_text("utf-8")
    return parse_schedule(text, name="consentgate/data/statutes.yaml")
