"""Policy versions: the settings members see, their scopes and defaults, and publication rules.

A policy version is a YAML document (format in docs/formats.md)::

    version: v2
    published_at: 2024-08-14T00:00:00Z
    effective_from: 2024-09-18T00:00:00Z
    recipients:
      - {id: acme-ai, name: Acme AI, uses: [train_ai_system], contract_until: 2026-12-31T00:00:00Z}
    settings:
      - id: ai_training_posts
        label: Use my posts to train AI
        use: train_ai_system
        categories: [user.content.public]
        recipients: [first_party]
        defaults: {US: "on", "*": "off"}

Publication rules (DESIGN.md), checked by :func:`check_publication`, each refusal naming the
rule, the setting and the YAML line:

``privacy-by-default``  no setting may default on for private content or a special category;
``notice``              a material change (a new use, category or recipient in a setting, a
                        default turned on, or a third party's terms widened: a new allowed
                        use, a later or removed ``contract_until``) needs
                        ``published_at + notice`` ≤ ``effective_from``;
``ordering``            versions take effect in publication order, never retroactively;
``immutability``        a published version never changes (enforced by the store).

Everything here is pure: it takes parsed values and returns values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from consentgate import ids, limits, strictyaml
from consentgate.errors import InvalidInput, PolicyError
from consentgate.taxonomy import FIRST_PARTY, Taxonomy, covers, is_sensitive
from consentgate.timestamps import parse_timestamp

DEFAULT_NOTICE_DAYS = 30


@dataclass(frozen=True, slots=True, order=True)
class Scope:
    """The unit consent is about: (data use, data category, recipient)."""

    use: str
    category: str
    recipient: str

    def covers(self, other: Scope) -> bool:
        return (
            covers(self.use, other.use)
            and covers(self.category, other.category)
            and self.recipient == other.recipient
        )

    def __str__(self) -> str:
        return f"({self.use}, {self.category}, {self.recipient})"


@dataclass(frozen=True, slots=True)
class Recipient:
    id: str
    name: str
    uses: tuple[str, ...]
    contract_until: datetime | None

    def allows(self, use: str, at: datetime) -> str | None:
        """None when the contract allows ``use`` at ``at``; else the reason it does not."""
        if not any(covers(u, use) for u in self.uses):
            return f"the contract with {self.id!r} does not allow use {use!r}"
        if self.contract_until is not None and at >= self.contract_until:
            return f"the contract with {self.id!r} ended on {self.contract_until.isoformat()}"
        return None


@dataclass(frozen=True, slots=True)
class Setting:
    id: str
    label: str
    use: str
    categories: tuple[str, ...]
    recipients: tuple[str, ...]
    defaults: Mapping[str, bool]

    @property
    def scopes(self) -> tuple[Scope, ...]:
        return tuple(Scope(self.use, c, r) for c in self.categories for r in self.recipients)

    def default_for(self, jurisdiction: str) -> bool:
        """The default by jurisdiction: exact, then the part before ``-``, then ``*``; else off."""
        for key in (jurisdiction, jurisdiction.split("-", 1)[0], "*"):
            if key in self.defaults:
                return self.defaults[key]
        return False

    def covers(self, scope: Scope) -> bool:
        return any(s.covers(scope) for s in self.scopes)


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    version: str
    published_at: datetime
    effective_from: datetime
    recipients: tuple[Recipient, ...]
    settings: tuple[Setting, ...]
    source: str = field(default="", compare=False)
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()

    def setting(self, setting_id: str) -> Setting | None:
        return next((s for s in self.settings if s.id == setting_id), None)

    def recipient(self, recipient_id: str) -> Recipient | None:
        return next((r for r in self.recipients if r.id == recipient_id), None)

    def declares(self, scope: Scope) -> bool:
        return any(s.covers(scope) for s in self.settings)

    def default_on(self, scope: Scope, jurisdiction: str) -> bool:
        """True when every setting covering ``scope`` defaults on for ``jurisdiction``.

        Requiring *every* covering setting (not any) is the privacy-protective reading when
        two settings overlap; with one setting per scope, as usual, it is simply its default.
        """
        covering = [s for s in self.settings if s.covers(scope)]
        return bool(covering) and all(s.default_for(jurisdiction) for s in covering)

    def line_of(self, path: str) -> int | None:
        return self.lines.get(path)


# --------------------------------------------------------------------------- parsing


class _RecipientDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    name: str = ""
    uses: list[str] = Field(min_length=1)
    contract_until: datetime | str | None = None


class _SettingDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    label: str = ""
    use: str = Field(min_length=1)
    categories: list[str] = Field(min_length=1)
    recipients: list[str] = Field(min_length=1)
    defaults: dict[str, Literal["on", "off"]] = Field(default_factory=dict)

    @field_validator("defaults", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: Any) -> Any:
        # YAML 1.1 reads bare on/off as booleans; accept them as the words they were.
        if isinstance(value, dict):
            return {
                k: ("on" if v is True else "off" if v is False else v) for k, v in value.items()
            }
        return value


class _PolicyDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(min_length=1)
    published_at: datetime | str
    effective_from: datetime | str
    recipients: list[_RecipientDoc] = Field(default_factory=list)
    settings: list[_SettingDoc] = Field(min_length=1)


def _node_lines(node: yaml.Node, path: str, out: dict[str, int]) -> None:
    out[path or "$"] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = f"{path}.{key.value}" if path else str(key.value)
            out.setdefault(sub, key.start_mark.line + 1)
            _node_lines(value, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _node_lines(item, f"{path}[{i}]", out)


def parse_policy(text: str, *, name: str = "<policy>") -> PolicyVersion:
    """Parse a policy YAML document. Structural errors name the file, line and field."""
    if len(text) > limits.MAX_POLICY_BYTES:
        raise InvalidInput(f"{name}: larger than {limits.MAX_POLICY_BYTES} bytes (the limit)")
    try:
        node, raw = strictyaml.load(text)
    except yaml.YAMLError as exc:
        line, reason = strictyaml.describe(exc, text)
        at = f":{line}" if line is not None else ""
        raise InvalidInput(f"{name}{at}: not valid YAML: {reason}") from exc
    lines: dict[str, int] = {}
    if node is not None:
        _node_lines(node, "", lines)
    if not isinstance(raw, dict):
        raise InvalidInput(f"{name}: a policy must be a YAML mapping")
    try:
        doc = _PolicyDoc.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path = ""
            for part in err["loc"]:
                path += (
                    f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
                )
            line = _nearest_line(lines, path)
            problems.append(f"{name}:{line}: {path}: {err['msg']}")
        raise InvalidInput(f"{name}: invalid policy", problems) from exc

    problems = _text_problems(doc, lines, name)
    if problems:
        raise InvalidInput(f"{name}: invalid policy", problems)

    def ts(value: datetime | str, path: str) -> datetime:
        try:
            return parse_timestamp(value, field=path)
        except ValueError as exc:
            raise InvalidInput(f"{name}:{_nearest_line(lines, path)}: {exc}") from exc

    recipients = tuple(
        Recipient(
            id=r.id,
            name=r.name or r.id,
            uses=tuple(r.uses),
            contract_until=(
                ts(r.contract_until, f"recipients[{i}].contract_until")
                if r.contract_until is not None
                else None
            ),
        )
        for i, r in enumerate(doc.recipients)
    )
    settings = tuple(
        Setting(
            id=s.id,
            label=s.label or s.id,
            use=s.use,
            categories=tuple(s.categories),
            recipients=tuple(s.recipients),
            defaults={k: v == "on" for k, v in s.defaults.items()},
        )
        for s in doc.settings
    )
    return PolicyVersion(
        version=doc.version,
        published_at=ts(doc.published_at, "published_at"),
        effective_from=ts(doc.effective_from, "effective_from"),
        recipients=recipients,
        settings=settings,
        source=text,
        lines=lines,
    )


def _text_problems(doc: _PolicyDoc, lines: Mapping[str, int], name: str) -> list[str]:
    """Ids by the id rules (``consentgate.ids``: the same on SQLite and PostgreSQL, no NUL,
    no look-alikes), labels and names as free text; located, never echoing the value."""
    checks: list[tuple[str, str | None]] = [
        ("version", ids.policy_id_problem(doc.version, ids.POLICY_VERSION_MAX))
    ]
    for i, r in enumerate(doc.recipients):
        checks.append((f"recipients[{i}].id", ids.policy_id_problem(r.id)))
        checks.append((f"recipients[{i}].name", ids.text_problem(r.name)))
    for i, s in enumerate(doc.settings):
        checks.append((f"settings[{i}].id", ids.policy_id_problem(s.id)))
        checks.append((f"settings[{i}].label", ids.text_problem(s.label)))
    return [
        f"{name}:{_nearest_line(lines, path)}: {path}: {problem}"
        for path, problem in checks
        if problem is not None
    ]


def _nearest_line(lines: Mapping[str, int], path: str) -> int:
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return lines.get("$", 1)


# --------------------------------------------------------------------------- validation


def validate_policy(policy: PolicyVersion, taxonomy: Taxonomy, *, name: str = "<policy>") -> None:
    """Structural checks: known taxonomy keys, unique ids, recipients that exist."""
    problems: list[str] = []

    def loc(path: str) -> str:
        return f"{name}:{_nearest_line(policy.lines, path)}: {path}"

    seen_r: set[str] = set()
    for i, r in enumerate(policy.recipients):
        if r.id == FIRST_PARTY or r.id in seen_r:
            problems.append(f"{loc(f'recipients[{i}].id')}: duplicate or reserved id {r.id!r}")
        seen_r.add(r.id)
        for j, u in enumerate(r.uses):
            if u not in taxonomy.data_uses:
                problems.append(f"{loc(f'recipients[{i}].uses[{j}]')}: unknown data use {u!r}")
    seen_s: set[str] = set()
    for i, s in enumerate(policy.settings):
        base = f"settings[{i}]"
        if s.id in seen_s:
            problems.append(f"{loc(base + '.id')}: duplicate setting id {s.id!r}")
        seen_s.add(s.id)
        if s.use not in taxonomy.data_uses:
            problems.append(f"{loc(base + '.use')}: unknown data use {s.use!r}")
        for j, c in enumerate(s.categories):
            if c not in taxonomy.data_categories:
                problems.append(f"{loc(f'{base}.categories[{j}]')}: unknown data category {c!r}")
        for j, r_id in enumerate(s.recipients):
            if r_id != FIRST_PARTY and r_id not in seen_r:
                problems.append(
                    f"{loc(f'{base}.recipients[{j}]')}: recipient {r_id!r} is not named "
                    "under recipients"
                )
    if problems:
        raise InvalidInput(f"{name}: policy {policy.version!r} refused", problems)


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two policy versions."""

    # setting_added | setting_removed | scope_added | scope_removed | default_on | default_off
    # | label_changed | recipient_added | recipient_removed | recipient_use_added
    # | recipient_use_removed | contract_extended | contract_shortened | contract_end_removed
    # | contract_end_added | recipient_renamed  (docs/semantics.md lists which are material)
    kind: str
    subject: str
    detail: str
    material: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "detail": self.detail,
            "material": self.material,
        }


def diff(old: PolicyVersion | None, new: PolicyVersion) -> list[Change]:
    """Changes from ``old`` to ``new``; material ones are those DESIGN.md names."""
    changes: list[Change] = []
    old_settings = {s.id: s for s in old.settings} if old else {}
    for s in new.settings:
        prev = old_settings.get(s.id)
        if prev is None:
            changes.append(Change("setting_added", s.id, f"new setting {s.label!r}", True))
            changes.extend(Change("scope_added", s.id, f"new scope {sc}", True) for sc in s.scopes)
            for jur, on in sorted(s.defaults.items()):
                if on:
                    changes.append(Change("default_on", s.id, f"default on for {jur}", True))
            continue
        for sc in s.scopes:
            if not prev.covers(sc):
                changes.append(Change("scope_added", s.id, f"new scope {sc}", True))
        for sc in prev.scopes:
            if not s.covers(sc):
                changes.append(Change("scope_removed", s.id, f"scope removed {sc}", False))
        for jur in sorted(set(s.defaults) | set(prev.defaults)):
            before, after = prev.default_for(jur), s.default_for(jur)
            if after and not before:
                changes.append(Change("default_on", s.id, f"default turned on for {jur}", True))
            elif before and not after:
                changes.append(Change("default_off", s.id, f"default turned off for {jur}", False))
        if s.label != prev.label:
            changes.append(Change("label_changed", s.id, f"{prev.label!r} -> {s.label!r}", False))
    for sid in sorted(set(old_settings) - {s.id for s in new.settings}):
        changes.append(Change("setting_removed", sid, "setting removed", False))
    old_r = {r.id: r for r in old.recipients} if old else {}
    for r in new.recipients:
        if r.id not in old_r:
            changes.append(Change("recipient_added", r.id, f"new recipient {r.name!r}", True))
        else:
            changes.extend(_contract_changes(old_r[r.id], r))
    for rid in sorted(set(old_r) - {r.id for r in new.recipients}):
        changes.append(Change("recipient_removed", rid, "recipient removed", False))
    return changes


def _contract_changes(old: Recipient, new: Recipient) -> list[Change]:
    """How a third party's terms changed. Widening them (a new allowed use, a later or
    removed ``contract_until``) is material; narrowing them or renaming is not."""
    out: list[Change] = []
    for u in new.uses:
        if not any(covers(o, u) for o in old.uses):
            out.append(Change("recipient_use_added", new.id, f"contract now allows {u!r}", True))
    for u in old.uses:
        if not any(covers(n, u) for n in new.uses):
            out.append(
                Change("recipient_use_removed", new.id, f"contract no longer allows {u!r}", False)
            )
    before, after = old.contract_until, new.contract_until
    if before is not None and after is None:
        out.append(
            Change(
                "contract_end_removed",
                new.id,
                f"contract end {before.isoformat()} removed (no end date)",
                True,
            )
        )
    elif before is None and after is not None:
        out.append(
            Change("contract_end_added", new.id, f"contract now ends {after.isoformat()}", False)
        )
    elif before is not None and after is not None and after != before:
        later = after > before
        out.append(
            Change(
                "contract_extended" if later else "contract_shortened",
                new.id,
                f"contract end moved from {before.isoformat()} to {after.isoformat()}",
                later,
            )
        )
    if new.name != old.name:
        out.append(Change("recipient_renamed", new.id, f"{old.name!r} -> {new.name!r}", False))
    return out


def check_publication(
    new: PolicyVersion,
    previous: PolicyVersion | None,
    *,
    notice_days: int = DEFAULT_NOTICE_DAYS,
    name: str = "<policy>",
) -> list[Change]:
    """Apply DESIGN.md's publication rules; return the diff against ``previous``."""
    for i, s in enumerate(new.settings):
        on_for = sorted(j for j, on in s.defaults.items() if on)
        sensitive = [c for c in s.categories if is_sensitive(c)]
        if on_for and sensitive:
            line = _nearest_line(new.lines, f"settings[{i}].defaults")
            raise PolicyError(
                "privacy-by-default",
                f"{name}:{line}: defaults on for {', '.join(on_for)} but covers "
                f"{', '.join(sensitive)} (private content or a special category must default off)",
                setting=s.id,
            )
    if new.effective_from < new.published_at:
        raise PolicyError(
            "ordering",
            f"{name}:{_nearest_line(new.lines, 'effective_from')}: effective_from is before "
            "published_at (a policy cannot take effect retroactively)",
        )
    changes = diff(previous, new)
    if previous is None:
        return changes
    if new.effective_from <= previous.effective_from or new.published_at < previous.published_at:
        raise PolicyError(
            "ordering",
            f"{name}: version {new.version!r} must be published and take effect after "
            f"{previous.version!r} (effective {previous.effective_from.isoformat()})",
        )
    material = [c for c in changes if c.material]
    notice = timedelta(days=notice_days)
    if material and new.published_at + notice > new.effective_from:
        first = material[0]
        days = (new.effective_from - new.published_at).total_seconds() / 86400
        raise PolicyError(
            "notice",
            f"{name}:{_nearest_line(new.lines, 'effective_from')}: material change "
            f"({first.detail}) needs {notice_days} days of notice before effective_from; "
            f"this version gives {days:.1f}",
            setting=first.subject,
        )
    return changes


# --------------------------------------------------------------------------- history


@dataclass(frozen=True, slots=True)
class PolicyHistory:
    """Every published version, in order of ``effective_from``."""

    versions: tuple[PolicyVersion, ...]

    @classmethod
    def of(cls, versions: Iterable[PolicyVersion]) -> PolicyHistory:
        return cls(tuple(sorted(versions, key=lambda v: v.effective_from)))

    def get(self, version: str) -> PolicyVersion | None:
        return next((v for v in self.versions if v.version == version), None)

    def in_force(self, at: datetime) -> PolicyVersion | None:
        current = None
        for v in self.versions:
            if v.effective_from <= at:
                current = v
            else:
                break
        return current

    def latest(self) -> PolicyVersion | None:
        return self.versions[-1] if self.versions else None

    def setting_scopes_ever(self, setting_id: str) -> tuple[Scope, ...]:
        """Every scope the setting has had in any version (what a deny/withdraw covers)."""
        out: dict[Scope, None] = {}
        for v in self.versions:
            s = v.setting(setting_id)
            if s is not None:
                out.update(dict.fromkeys(s.scopes))
        return tuple(out)

    def default_run_start(self, scope: Scope, jurisdiction: str, at: datetime) -> datetime | None:
        """When the unbroken run of default-on versions ending at ``at`` began; None if off."""
        start: datetime | None = None
        for v in self.versions:
            if v.effective_from > at:
                break
            if v.default_on(scope, jurisdiction):
                start = start or v.effective_from
            else:
                start = None
        return start

    def scope_categories(self, use: str, recipient: str) -> tuple[str, ...]:
        """Categories of every scope (any version) whose use covers ``use`` for ``recipient``."""
        cats = {
            sc.category
            for v in self.versions
            for s in v.settings
            for sc in s.scopes
            if covers(sc.use, use) and sc.recipient == recipient
        }
        return tuple(sorted(cats))


def settings_touching(history: PolicyHistory, scopes: Sequence[Scope]) -> set[str]:
    """Ids of settings that, in any version, cover any of ``scopes``."""
    return {
        s.id for v in history.versions for s in v.settings if any(s.covers(sc) for sc in scopes)
    }


def shares_with_third_parties(setting: Setting) -> bool:
    """Does ``setting`` let data go to anyone but the first party (what the Global Privacy
    Control signal opts a member out of: "sale or sharing" with third parties)?"""
    return any(r != FIRST_PARTY for r in setting.recipients)


WIDENING_RECIPIENT = frozenset(
    {"recipient_added", "recipient_use_added", "contract_extended", "contract_end_removed"}
)


def settings_to_decide(changes: Sequence[Change], new: PolicyVersion) -> tuple[str, ...]:
    """Ids of ``new``'s settings a material change concerns, in the version's order: the
    setting itself (added, a new scope, a default turned on) or one that names a recipient
    added or whose terms widened. These are what a member is asked to decide on before
    ``new`` takes effect."""
    touched = {c.subject for c in changes if c.material and c.kind not in WIDENING_RECIPIENT}
    widened = {c.subject for c in changes if c.material and c.kind in WIDENING_RECIPIENT}
    return tuple(
        s.id for s in new.settings if s.id in touched or any(r in widened for r in s.recipients)
    )
