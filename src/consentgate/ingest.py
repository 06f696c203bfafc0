"""Reading members and consent events from files, with every bad line located and reported.

Pure parsing and validation: callers pass the policy history and the set of known members;
nothing is written here. A file with any bad line is refused whole (``InvalidInput`` listing
each ``FILE:LINE: reason``) unless the caller asks to skip bad lines.

Formats (docs/formats.md):
* members: CSV (header row), JSONL or Parquet with ``member_id``, ``jurisdiction`` and
  optional ``name``, ``email``, ``phone``.
* events: JSONL, one object per line: ``event_id`` (optional: derived from the content when
  absent, so re-importing a file is idempotent), ``member_id``, ``type``, ``setting``,
  ``policy_version``, ``effective_at`` (RFC 3339 with timezone), optional ``covers_from``,
  ``source``, ``evidence``.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from consentgate.audit import canonical_json
from consentgate.consent import SOURCES, ConsentEvent, EventType
from consentgate.errors import InvalidInput
from consentgate.policy import PolicyHistory
from consentgate.timestamps import parse_timestamp

JURISDICTION = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})?$")
MEMBER_FIELDS = ("member_id", "jurisdiction", "name", "email", "phone")
EVENT_FIELDS = frozenset(
    {
        "event_id",
        "member_id",
        "type",
        "setting",
        "policy_version",
        "effective_at",
        "covers_from",
        "source",
        "evidence",
    }
)


@dataclass(slots=True)
class Parsed:
    """Good items and located problems from one file."""

    items: list[Any] = field(default_factory=list)
    item_lines: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rejected_lines: list[str] = field(default_factory=list)

    def refuse_if_bad(self, what: str) -> None:
        if self.problems:
            raise InvalidInput(
                f"{what} refused: {len(self.problems)} bad line(s); nothing was stored",
                self.problems,
            )


# --------------------------------------------------------------------------- members


def _member_records(path: Path) -> Iterator[tuple[int, Any, str]]:
    """(line number, record, raw text) for each record of a members file."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:
            raise InvalidInput(f"{path}: cannot read Parquet: {exc}") from exc
        unknown = set(table.column_names) - set(MEMBER_FIELDS)
        if unknown:
            raise InvalidInput(f"{path}: unknown column(s) {sorted(unknown)}")
        for i, rec in enumerate(table.to_pylist(), start=1):
            yield i, rec, json.dumps(rec, default=str)
        return
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}") from exc
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        unknown = set(reader.fieldnames or ()) - set(MEMBER_FIELDS)
        if unknown:
            raise InvalidInput(f"{path}:1: unknown column(s) {sorted(unknown)}")
        lines = text.splitlines()
        for rec in reader:
            yield (
                reader.line_num,
                {k: (v if v != "" else None) for k, v in rec.items()},
                lines[reader.line_num - 1],
            )
        return
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield i, json.loads(line), line
        except json.JSONDecodeError as exc:
            yield i, exc, line


def parse_members(path: Path) -> Parsed:
    out = Parsed()
    seen: set[str] = set()
    for line, rec, raw in _member_records(path):
        where = f"{path}:{line}"
        if isinstance(rec, Exception):
            out.problems.append(f"{where}: not valid JSON ({rec})")
            out.rejected_lines.append(raw)
            continue
        problem = _member_problem(rec, seen)
        if problem:
            out.problems.append(f"{where}: {problem}")
            out.rejected_lines.append(raw)
            continue
        seen.add(rec["member_id"])
        out.items.append({f: rec.get(f) for f in MEMBER_FIELDS})
    return out


def _member_problem(rec: Any, seen: set[str]) -> str | None:
    if not isinstance(rec, dict):
        return "expected an object"
    unknown = set(rec) - set(MEMBER_FIELDS)
    if unknown:
        return f"unknown field(s) {sorted(unknown)}"
    mid = rec.get("member_id")
    if not isinstance(mid, str) or not mid.strip():
        return "member_id: required, a non-empty string"
    if mid in seen:
        return "member_id: duplicate in this file"
    jur = rec.get("jurisdiction")
    if not isinstance(jur, str) or not JURISDICTION.match(jur):
        return f"jurisdiction: expected a code like US, US-CA, EU, got {jur!r}"
    for f in ("name", "email", "phone"):
        if rec.get(f) is not None and not isinstance(rec[f], str):
            return f"{f}: expected a string"
    return None


# --------------------------------------------------------------------------- events


def derive_event_id(rec: Mapping[str, Any], key: bytes) -> str:
    """A stable id for an event given without one: same content, same id.

    An HMAC under the workspace key, not a plain hash: event ids appear in the audit log's
    leaves, and a plain hash would let anyone who guesses an event's content confirm it.
    """
    body = {k: v for k, v in rec.items() if k != "event_id"}
    return "ev-" + hmac.new(key, canonical_json(body), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class EventContext:
    history: PolicyHistory
    is_member: Callable[[str], bool]
    recorded_at: datetime
    id_key: bytes
    default_source: str = "import"


def build_event(rec: Mapping[str, Any], ctx: EventContext) -> ConsentEvent:
    """Validate one event object; raise ValueError naming the field."""
    unknown = set(rec) - EVENT_FIELDS
    if unknown:
        raise ValueError(f"unknown field(s) {sorted(unknown)}")
    member_id = rec.get("member_id")
    if not isinstance(member_id, str) or not member_id:
        raise ValueError("member_id: required, a non-empty string")
    if not ctx.is_member(member_id):
        raise ValueError("member_id: unknown member (import members first)")
    try:
        etype = EventType(str(rec.get("type")))
    except ValueError:
        raise ValueError(
            f"type: expected grant, deny, withdraw or erase, got {rec.get('type')!r}"
        ) from None
    setting = rec.get("setting")
    version = rec.get("policy_version")
    if etype is EventType.ERASE:
        if setting is not None:
            raise ValueError("setting: an erase applies to everything; give no setting")
    else:
        if not isinstance(setting, str) or not setting:
            raise ValueError("setting: required for grant, deny and withdraw")
    if version is not None and not isinstance(version, str):
        raise ValueError("policy_version: expected a string")
    if etype is EventType.GRANT:
        if version is None:
            raise ValueError("policy_version: a grant must name the policy version the member saw")
        policy = ctx.history.get(version)
        if policy is None:
            raise ValueError(f"policy_version: {version!r} is not published")
        if policy.setting(str(setting)) is None:
            raise ValueError(f"setting: {setting!r} does not exist in policy {version!r}")
    elif etype is not EventType.ERASE:
        if version is not None:
            policy = ctx.history.get(version)
            if policy is None:
                raise ValueError(f"policy_version: {version!r} is not published")
        if not ctx.history.setting_scopes_ever(str(setting)):
            raise ValueError(f"setting: {setting!r} does not exist in any policy version")
    effective_at = parse_timestamp(rec.get("effective_at"), field="effective_at", allow_date=False)
    covers_from = None
    if rec.get("covers_from") is not None:
        if etype is not EventType.GRANT:
            raise ValueError("covers_from: only a grant has covers_from")
        covers_from = parse_timestamp(rec["covers_from"], field="covers_from", allow_date=False)
    source = rec.get("source", ctx.default_source)
    if source not in SOURCES:
        raise ValueError(f"source: expected one of {', '.join(SOURCES)}, got {source!r}")
    evidence = rec.get("evidence")
    if evidence is not None and not isinstance(evidence, dict):
        raise ValueError("evidence: expected an object")
    event_id = rec.get("event_id") or derive_event_id(rec, ctx.id_key)
    if not isinstance(event_id, str) or len(event_id) > 128:
        raise ValueError("event_id: expected a string of at most 128 characters")
    return ConsentEvent(
        event_id=event_id,
        member_id=member_id,
        type=etype,
        setting=setting if etype is not EventType.ERASE else None,
        policy_version=version,
        effective_at=effective_at,
        recorded_at=ctx.recorded_at,
        covers_from=covers_from,
        source=str(source),
        evidence=evidence,
    )


def read_event_lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8") as fh:
            for i, line in enumerate(fh, start=1):
                if line.strip():
                    yield i, line.rstrip("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}") from exc


def parse_events(lines: Iterable[tuple[int, str]], ctx: EventContext, *, name: str) -> Parsed:
    out = Parsed()
    by_id: dict[str, ConsentEvent] = {}
    for line_no, line in lines:
        where = f"{name}:{line_no}"
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                raise ValueError("expected a JSON object")
            event = build_event(rec, ctx)
        except json.JSONDecodeError as exc:
            out.problems.append(f"{where}: not valid JSON ({exc.msg})")
            out.rejected_lines.append(line)
            continue
        except ValueError as exc:
            out.problems.append(f"{where}: {exc}")
            out.rejected_lines.append(line)
            continue
        prior = by_id.get(event.event_id)
        if prior is not None:
            if prior != event:
                out.problems.append(
                    f"{where}: event_id {event.event_id!r} repeats with different content"
                )
                out.rejected_lines.append(line)
            continue
        by_id[event.event_id] = event
        out.items.append(event)
        out.item_lines.append(line_no)
    return out
