"""The vocabulary: fideslang's data uses and data categories, plus declared extensions.

Keys are hierarchical (``user.content.private`` is covered by ``user.content``). The default
taxonomy comes from the ``fideslang`` package; a taxonomy file may declare extra keys, each
of which must hang under an existing key. Any unknown key is refused with its name.

Taxonomy file format (YAML)::

    data_categories:
      - key: user.workplace.employment_dispute
        name: Employment dispute
    data_uses:
      - key: train_ai_system.fine_tune
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml

from consentgate import strictyaml
from consentgate.errors import InvalidInput, TaxonomyError

FIRST_PARTY = "first_party"

# DESIGN.md "Privacy by default": content that may never default on.
PRIVATE_CONTENT = "user.content.private"
SPECIAL_CATEGORIES: tuple[str, ...] = (
    "user.health_and_medical",
    "user.biometric",
    "user.demographic.political_opinion",
    "user.demographic.religious_belief",
    "user.demographic.sexual_orientation",
    "user.demographic.race_ethnicity",
    "user.criminal_history",
    "user.government_id",
)

# Keys consentgate itself needs that fideslang lacks (sensitive-content labels).
BUILTIN_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "data_category": (
        "user.workplace.employment_dispute",
        "user.workplace.trade_union",
        "user.workplace.compensation",
        "user.content.confidential_business",
    ),
    "data_use": (),
}


def covers(parent: str, child: str) -> bool:
    """True when taxonomy key ``parent`` is ``child`` or one of its ancestors."""
    return child == parent or child.startswith(parent + ".")


def is_sensitive(category: str) -> bool:
    """True when a scope on ``category`` touches private content or a special category.

    A category is sensitive when it is, contains, or lies under one of them: ``user`` and
    ``user.content`` cover ``user.content.private``, so they are sensitive too.
    """
    for key in (PRIVATE_CONTENT, *SPECIAL_CATEGORIES):
        if covers(key, category) or covers(category, key):
            return True
    return False


@cache
def _fideslang_keys() -> tuple[frozenset[str], frozenset[str]]:
    from fideslang.default_taxonomy import DEFAULT_TAXONOMY

    cats = frozenset(c.fides_key for c in DEFAULT_TAXONOMY.data_category)
    uses = frozenset(u.fides_key for u in DEFAULT_TAXONOMY.data_use)
    return cats, uses


@dataclass(frozen=True, slots=True)
class Taxonomy:
    data_categories: frozenset[str]
    data_uses: frozenset[str]
    extensions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def check_category(self, key: str, *, where: str = "") -> str:
        if key not in self.data_categories:
            raise TaxonomyError("data category", key, where)
        return key

    def check_use(self, key: str, *, where: str = "") -> str:
        if key not in self.data_uses:
            raise TaxonomyError("data use", key, where)
        return key

    def extend(self, *, categories: Iterable[str] = (), uses: Iterable[str] = ()) -> Taxonomy:
        cats, use_set = set(self.data_categories), set(self.data_uses)
        problems: list[str] = []
        for kind, keys, known in (("data category", categories, cats), ("data use", uses, use_set)):
            for key in sorted(keys, key=lambda k: k.count(".")):
                parent = key.rpartition(".")[0]
                if not parent or parent not in known:
                    problems.append(f"{kind} {key!r}: parent {parent or '(none)'!r} is unknown")
                known.add(key)
        if problems:
            raise InvalidInput("taxonomy extension refused", problems)
        ext = {
            "data_category": tuple(sorted(cats - self.data_categories)),
            "data_use": tuple(sorted(use_set - self.data_uses)),
        }
        merged = {k: tuple(sorted({*self.extensions.get(k, ()), *v})) for k, v in ext.items()}
        return Taxonomy(frozenset(cats), frozenset(use_set), merged)


def default_taxonomy() -> Taxonomy:
    """fideslang's default taxonomy plus consentgate's built-in extension keys."""
    cats, uses = _fideslang_keys()
    return Taxonomy(cats, uses).extend(
        categories=BUILTIN_EXTENSIONS["data_category"], uses=BUILTIN_EXTENSIONS["data_use"]
    )


def parse_taxonomy(text: str, *, name: str = "taxonomy") -> tuple[list[str], list[str]]:
    """A taxonomy extension (YAML ``text``; ``name`` is how errors locate it) as
    (categories, uses). Refuses malformed ones.

    >>> parse_taxonomy("data_categories: [user.content.audio]")
    (['user.content.audio'], [])
    """
    path = name
    try:
        doc: Any = strictyaml.load(text)[1]
    except yaml.YAMLError as exc:
        line, reason = strictyaml.describe(exc, text)
        at = f":{line}" if line is not None else ""
        raise InvalidInput(f"{path}{at}: not valid YAML: {reason}") from exc
    if not isinstance(doc, dict):
        raise InvalidInput(f"{path}: taxonomy file must be a mapping")
    unknown = set(doc) - {"data_categories", "data_uses"}
    if unknown:
        raise InvalidInput(f"{path}: unknown field(s) {sorted(unknown)}")
    out: list[list[str]] = []
    for name in ("data_categories", "data_uses"):
        items = doc.get(name) or []
        keys: list[str] = []
        for i, item in enumerate(items):
            key = item.get("key") if isinstance(item, dict) else item
            if not isinstance(key, str) or not key:
                raise InvalidInput(f"{path}: {name}[{i}].key must be a non-empty string")
            keys.append(key)
        out.append(keys)
    return out[0], out[1]
