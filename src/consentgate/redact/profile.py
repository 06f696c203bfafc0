"""Redaction profiles: what to do with each entity and each sensitive label.

A profile is a YAML file::

    version: 1
    default_entity: redact        # for entities not listed
    default_label: keep           # for labels not listed
    entities:
      PERSON: pseudonymize
      URL: keep
    labels:
      health: exclude
      compensation: redact
    owner_columns: pseudonymize  # or drop; third-party datasets only

Actions: ``redact`` (the span becomes ``<ENTITY>``), ``pseudonymize`` (``<ENTITY_1>``,
``<ENTITY_2>``, ... consistent within a record), ``exclude`` (the record is dropped with
reason ``sensitive_content:<name>``) and ``keep``. For a label, ``redact`` and
``pseudonymize`` apply to the label's evidence spans (the amounts for ``compensation``,
the secrets for ``credentials``, the trigger phrases otherwise).

The shipped default (``default_profile.yaml`` in this package) redacts identifiers,
pseudonymizes people, redacts compensation amounts and excludes records about health,
sexual orientation, religion, political opinion, criminal history, trade union
membership and credentials.

``owner_columns`` says what a dataset for a third party does with the owner columns
(author, recipients): ``pseudonymize`` (the default: per-recipient keyed pseudonyms, see
docs/gate.md) or ``drop``. A first-party dataset keeps member ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Final

import yaml

from consentgate import strictyaml
from consentgate.errors import InvalidInput
from consentgate.redact.catalog import ENTITIES, LABELS

__all__ = [
    "ACTIONS",
    "OWNER_ACTIONS",
    "Profile",
    "default_profile",
    "load_profile",
    "parse_profile",
]

ACTIONS: Final = ("redact", "pseudonymize", "exclude", "keep")
OWNER_ACTIONS: Final = ("pseudonymize", "drop")
_KEYS: Final = frozenset(
    {
        "version",
        "description",
        "default_entity",
        "default_label",
        "entities",
        "labels",
        "owner_columns",
    }
)


@dataclass(frozen=True, slots=True)
class Profile:
    """Actions per entity and per label, with defaults for the ones not named."""

    entities: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    default_entity: str = "redact"
    default_label: str = "keep"
    source: str = "<profile>"
    owner_columns: str = "pseudonymize"

    def __post_init__(self) -> None:
        for name in ("entities", "labels"):
            value = getattr(self, name)
            if not isinstance(value, MappingProxyType):
                object.__setattr__(self, name, MappingProxyType(dict(value)))

    def __reduce__(self) -> tuple[type[Profile], tuple[object, ...]]:
        # mappingproxy does not pickle; Spark ships the redactor to its executors
        fields = (dict(self.entities), dict(self.labels), self.default_entity, self.default_label)
        return (Profile, (*fields, self.source, self.owner_columns))

    def entity_action(self, entity: str) -> str:
        return self.entities.get(entity, self.default_entity)

    def label_action(self, label: str) -> str:
        return self.labels.get(label, self.default_label)

    def as_dict(self) -> dict[str, object]:
        """The profile's rules as the YAML mapping ``parse_profile`` reads (a dataset's
        manifest records it, so that an audit applies the same rules)."""
        return {
            "version": 1,
            "default_entity": self.default_entity,
            "default_label": self.default_label,
            "entities": dict(sorted(self.entities.items())),
            "labels": dict(sorted(self.labels.items())),
            "owner_columns": self.owner_columns,
        }


def default_profile() -> Profile:
    """The profile shipped with consentgate (``default_profile.yaml``)."""
    text = resources.files("consentgate.redact").joinpath("default_profile.yaml").read_text("utf-8")
    return parse_profile(yaml.safe_load(text), source="default_profile.yaml")


def load_profile(path: str | Path) -> Profile:
    """Read and check a profile file; a bad one is refused with the file and field named."""
    where = str(path)
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise InvalidInput(
            f"cannot read redaction profile {where}", [f"{where}: {exc.strerror or exc}"]
        ) from exc
    try:
        data = strictyaml.load(text)[1]
    except yaml.YAMLError as exc:
        at, problem = strictyaml.describe(exc, text)
        line = f":{at}" if at is not None else ""
        raise InvalidInput(
            f"invalid redaction profile {where}", [f"{where}{line}: {problem}"]
        ) from exc
    return parse_profile(data, source=where)


def parse_profile(data: object, *, source: str = "<profile>") -> Profile:
    """Check a profile already parsed from YAML (or built in code)."""
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise InvalidInput(
            f"invalid redaction profile {source}",
            [f"{source}: expected a mapping at the top level"],
        )
    for key in data:
        if key not in _KEYS:
            problems.append(
                f"{source}: {key}: unknown field (expected one of {', '.join(sorted(_KEYS))})"
            )
    if data.get("version") != 1:
        problems.append(f"{source}: version: must be 1, got {data.get('version')!r}")
    default_entity = _action(
        data.get("default_entity", "redact"), f"{source}: default_entity", problems
    )
    default_label = _action(data.get("default_label", "keep"), f"{source}: default_label", problems)
    entities = _section(data, "entities", frozenset(ENTITIES), source, problems)
    labels = _section(data, "labels", frozenset(LABELS), source, problems)
    if "description" in data and not isinstance(data["description"], str):
        problems.append(f"{source}: description: must be a string")
    owner_columns = data.get("owner_columns", "pseudonymize")
    if owner_columns not in OWNER_ACTIONS:
        problems.append(
            f"{source}: owner_columns: unknown action {owner_columns!r} "
            f"(expected one of {', '.join(OWNER_ACTIONS)})"
        )
    if problems:
        raise InvalidInput(f"invalid redaction profile {source}", problems)
    return Profile(
        MappingProxyType(entities),
        MappingProxyType(labels),
        default_entity,
        default_label,
        source,
        str(owner_columns),
    )


def _action(value: object, where: str, problems: list[str]) -> str:
    if value not in ACTIONS:
        problems.append(f"{where}: unknown action {value!r} (expected one of {', '.join(ACTIONS)})")
        return "keep"
    return str(value)


def _section(
    data: Mapping[object, object],
    name: str,
    known: frozenset[str],
    source: str,
    problems: list[str],
) -> dict[str, str]:
    section = data.get(name) or {}
    if not isinstance(section, Mapping):
        problems.append(f"{source}: {name}: must be a mapping of name to action")
        return {}
    out: dict[str, str] = {}
    for key, value in section.items():
        where = f"{source}: {name}.{key}"
        if key not in known:
            problems.append(
                f"{where}: unknown {name[:-1] if name == 'labels' else 'entity'} (known: {', '.join(sorted(known))})"
            )
            continue
        out[str(key)] = _action(value, where, problems)
    return out
