"""Reading members and consent events from files, with every bad line located and reported.

Pure parsing and validation: callers pass the policy history and the set of known members;
nothing is written here. A file with any bad line is refused whole (``InvalidInput`` listing
each ``FILE:LINE: reason``) unless the caller asks to skip bad lines.

Formats (docs/formats.md):
* members: CSV (header row), JSONL or Parquet with ``member_id``, ``jurisdiction`` and
  optional ``jurisdiction_effective_at`` (when the member's jurisdiction became the one
  given; for a member already known with another jurisdiction, the default is the import's
  own time), ``name``, ``email``, ``phone``.
* events: JSONL, one object per line: ``event_id`` (optional: derived from the content when
  absent, so re-importing a file is idempotent), ``member_id``, ``type``, ``setting``,
  ``policy_version``, ``effective_at`` (RFC 3339 with timezone), optional ``covers_from``,
  ``source``, ``evidence``. A grant cannot take effect before the policy version it cites
  was published (the member cannot have seen it).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from consentgate import ids, limits
from consentgate.consent import SOURCES, ConsentEvent, EventType
from consentgate.errors import InvalidInput
from consentgate.policy import PolicyHistory
from consentgate.timestamps import parse_timestamp
from consentgate.tlog import strictjson
from consentgate.tlog.audit import canonical_json

JURISDICTION = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})?$")
MEMBER_FIELDS = ("member_id", "jurisdiction", "jurisdiction_effective_at", "name", "email", "phone")
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


SourceRecord = tuple[int, Any, str]
"""(line number, the record or the ValueError reading it raised, its raw text)."""


def read_members(path: Path) -> Iterator[SourceRecord]:
    """The records of a members file (CSV with a header row, JSONL, or Parquet by its
    suffix), each with its line; a file that cannot be read is ``InvalidInput`` naming it."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_members(path)
        return
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            if suffix == ".csv":
                yield from _csv_members(path, fh)
            else:
                for i, line in _lines(fh):
                    yield i, _json_line(line), line
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read: {_reason(exc)}") from exc


def member_records(rows: Any, *, name: str = "members") -> Iterator[SourceRecord]:
    """Members given as values, as located records: JSONL text, an Arrow table (its rows
    numbered from 1), or an iterable of row mappings (numbered from 1) or of records already
    located (``read_members``). ``name`` is how problems locate them."""
    if isinstance(rows, str):
        for i, line in _lines(io.StringIO(rows, newline="")):
            yield i, _json_line(line), line
        return
    if hasattr(rows, "to_pylist") and hasattr(rows, "column_names"):  # an Arrow table
        yield from _table_members(rows, name)
        return
    for i, row in enumerate(rows, start=1):
        if isinstance(row, tuple):
            yield row
        else:
            yield i, row, json.dumps(row, default=str)


def _reason(exc: OSError | UnicodeDecodeError) -> str:
    """Why a file cannot be read, without quoting its bytes."""
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 (byte {exc.start + 1})"
    return exc.strerror or type(exc).__name__


def _parquet_members(path: Path) -> Iterator[tuple[int, Any, str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
        _check_member_columns(table.column_names, str(path))
        rows = table.to_pylist()
    except (OSError, pa.ArrowException, ValueError) as exc:
        if isinstance(exc, InvalidInput):
            raise
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise InvalidInput(f"{path}: cannot read Parquet: {reason}") from exc
    for i, rec in enumerate(rows, start=1):
        yield i, rec, json.dumps(rec, default=str)


def _check_member_columns(columns: Iterable[str], name: str) -> None:
    unknown = set(columns) - set(MEMBER_FIELDS)
    if unknown:
        raise InvalidInput(f"{name}: unknown column(s) {sorted(unknown)}")


def _table_members(table: Any, name: str) -> Iterator[SourceRecord]:
    _check_member_columns(table.column_names, name)
    for i, rec in enumerate(table.to_pylist(), start=1):
        yield i, rec, json.dumps(rec, default=str)


def _lines(fh: Iterable[str]) -> Iterator[tuple[int, str]]:
    """(line number, line) of a text file opened with ``newline=""``: lines end at LF, CR
    or CRLF only — never at U+2028, a form feed or the other characters ``splitlines``
    splits on — and blank lines are skipped."""
    for i, line in enumerate(fh, start=1):
        line = line.rstrip("\r\n")
        if line.strip():
            yield i, line


def _json_line(line: str, decoder: json.JSONDecoder = strictjson.DECODER) -> Any:
    """A JSONL line's value, or the ValueError that refuses it (syntax, size, nesting,
    repeated fields, NaN, over-long integers)."""
    if len(line) > limits.MAX_LINE_BYTES // 4 and len(line.encode()) > limits.MAX_LINE_BYTES:
        return ValueError(f"line longer than {limits.MAX_LINE_BYTES} bytes (the limit)")
    try:
        return strictjson.loads(line, decoder=decoder)
    except ValueError as exc:
        return exc


def _csv_members(path: Path, fh: Iterable[str]) -> Iterator[tuple[int, Any, str]]:
    """CSV by the csv module's rules only: a record ends at an unquoted line end, quoted
    fields may span lines, and each record's number is the line it starts on."""
    reader = csv.reader(fh, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InvalidInput(f"{path}:1: not valid CSV ({_csv_reason(exc)})") from exc
    if header is None:
        return
    unknown = set(header) - set(MEMBER_FIELDS)
    if unknown:
        raise InvalidInput(f"{path}:1: unknown column(s) {sorted(_printable(c) for c in unknown)}")
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidInput(f"{path}:{start}: not valid CSV ({_csv_reason(exc)})") from exc
        line, start = start, reader.line_num + 1
        if not row:
            continue
        raw = _csv_text(row)
        if len(row) != len(header):
            yield line, ValueError(f"expected {len(header)} fields, found {len(row)}"), raw
            continue
        yield line, {k: (v if v != "" else None) for k, v in zip(header, row, strict=True)}, raw


def _csv_reason(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a field is longer than {limits.MAX_CSV_FIELD} characters (the limit)"
    return text.split(":")[0][:80]


def _csv_text(row: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row)
    return out.getvalue()


def _printable(text: str) -> str:
    return text if len(text) <= 64 and text.isprintable() else "(an unprintable column name)"


def parse_members(records: Iterable[SourceRecord], *, name: str) -> Parsed:
    """Check located member records (``read_members``, ``member_records``); ``name`` is how
    problems locate them (``NAME:LINE: reason``)."""
    out = Parsed()
    seen: set[str] = set()
    for line, rec, raw in records:
        where = f"{name}:{line}"
        if isinstance(rec, json.JSONDecodeError):
            out.problems.append(f"{where}: not valid JSON ({rec.msg})")
            out.rejected_lines.append(raw)
            continue
        if isinstance(rec, ValueError):
            out.problems.append(f"{where}: {rec}")
            out.rejected_lines.append(raw)
            continue
        problem = _member_problem(rec, seen)
        if problem:
            out.problems.append(f"{where}: {problem}")
            out.rejected_lines.append(raw)
            continue
        item = {f: rec.get(f) for f in MEMBER_FIELDS}
        if item["jurisdiction_effective_at"] is not None:
            try:
                item["jurisdiction_effective_at"] = parse_timestamp(
                    item["jurisdiction_effective_at"],
                    field="jurisdiction_effective_at",
                    allow_date=False,
                )
            except ValueError as exc:
                out.problems.append(f"{where}: {exc}")
                out.rejected_lines.append(raw)
                continue
        seen.add(rec["member_id"])
        out.items.append(item)
    return out


def _member_problem(rec: Any, seen: set[str]) -> str | None:
    if not isinstance(rec, dict):
        return "expected an object"
    unknown = set(rec) - set(MEMBER_FIELDS)
    if unknown:
        return f"unknown field(s) {sorted(unknown)}"
    mid = rec.get("member_id")
    problem = ids.member_id_problem(mid)
    if problem is not None:
        return f"member_id: {problem}"
    if mid in seen:
        return "member_id: duplicate in this file"
    jur = rec.get("jurisdiction")
    if not isinstance(jur, str) or not JURISDICTION.match(jur):
        return "jurisdiction: expected a code like US, US-CA, EU"
    for f in ("name", "email", "phone"):
        problem = ids.text_problem(rec.get(f))
        if problem is not None:
            return f"{f}: {problem}"
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
    # (type, setting, policy_version) -> the problem with that combination, or None: in an
    # import the same few combinations repeat on every line, so each is checked once.
    checked: dict[tuple[EventType, str | None, str | None], str | None] = field(
        default_factory=dict, compare=False
    )
    _published: dict[str, datetime] = field(default_factory=dict, compare=False)

    def published_at(self, version: str) -> datetime:
        """When a published ``version`` was published (cached: imports ask on every line)."""
        try:
            return self._published[version]
        except KeyError:
            policy = self.history.get(version)
            if policy is None:
                raise ValueError("policy_version: not a published policy version") from None
            self._published[version] = policy.published_at
            return policy.published_at


_EVENT_TYPES = {t.value: t for t in EventType}


def _reference_problem(
    etype: EventType, setting: Any, version: Any, ctx: EventContext
) -> str | None:
    """What is wrong with an event's setting and policy version, if anything."""
    if etype is EventType.ERASE:
        if setting is not None:
            return "setting: an erase applies to everything; give no setting"
    else:
        if not isinstance(setting, str) or not setting:
            return "setting: required for grant, deny and withdraw"
    if version is not None and not isinstance(version, str):
        return "policy_version: expected a string"
    if etype is EventType.GRANT:
        if version is None:
            return "policy_version: a grant must name the policy version the member saw"
        policy = ctx.history.get(version)
        if policy is None:
            return "policy_version: not a published policy version"
        if policy.setting(str(setting)) is None:
            return "setting: not a setting of the policy version the grant cites"
    elif etype is not EventType.ERASE:
        if version is not None and ctx.history.get(version) is None:
            return "policy_version: not a published policy version"
        if not ctx.history.setting_scopes_ever(str(setting)):
            return "setting: not a setting of any published policy version"
    return None


# Bounds a day inside limits' range, so that any offset keeps a timestamp between them inside.
_EARLIEST = limits.MIN_TIMESTAMP + timedelta(days=1)
_LATEST = limits.MAX_TIMESTAMP - timedelta(days=1)


def _timestamp(value: Any, name: str) -> datetime:
    """``parse_timestamp(value, allow_date=False)``, with a fast path for the usual case."""
    if type(value) is str:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None and _EARLIEST < parsed < _LATEST:
                return parsed.astimezone(UTC)  # a day inside the range: no overflow, in range
    return parse_timestamp(value, field=name, allow_date=False)


def build_event(rec: Mapping[str, Any], ctx: EventContext) -> ConsentEvent:
    """Validate one event object; raise ValueError naming the field."""
    if not rec.keys() <= EVENT_FIELDS:
        raise ValueError(f"unknown field(s) {sorted(set(rec) - EVENT_FIELDS)}")
    member_id = rec.get("member_id")
    problem = ids.member_id_problem(member_id)
    if problem is not None or not isinstance(member_id, str):
        raise ValueError(f"member_id: {problem}")
    if not ctx.is_member(member_id):
        raise ValueError("member_id: unknown member (import members first)")
    raw_type = rec.get("type")
    etype = _EVENT_TYPES.get(raw_type) if isinstance(raw_type, str) else None
    if etype is None:
        raise ValueError("type: expected grant, deny, withdraw or erase")
    setting = rec.get("setting")
    version = rec.get("policy_version")
    if (setting is None or type(setting) is str) and (version is None or type(version) is str):
        key = (etype, setting, version)
        try:
            problem = ctx.checked[key]
        except KeyError:
            problem = ctx.checked[key] = _reference_problem(etype, setting, version, ctx)
    else:
        problem = _reference_problem(etype, setting, version, ctx)
    if problem is not None:
        raise ValueError(problem)
    effective_at = _timestamp(rec.get("effective_at"), "effective_at")
    if etype is EventType.GRANT:
        published = ctx.published_at(str(version))
        if effective_at < published:
            raise ValueError(
                "effective_at: a grant cannot take effect before the policy version it cites "
                f"was published ({published.isoformat()})"
            )
    covers_from = None
    if rec.get("covers_from") is not None:
        if etype is not EventType.GRANT:
            raise ValueError("covers_from: only a grant has covers_from")
        covers_from = _timestamp(rec["covers_from"], "covers_from")
    source = rec.get("source", ctx.default_source)
    if source not in SOURCES:
        raise ValueError(f"source: expected one of {', '.join(SOURCES)}")
    evidence = rec.get("evidence")
    problem = ids.evidence_problem(evidence)
    if problem is not None:
        raise ValueError(f"evidence: {problem}")
    event_id = rec.get("event_id")
    if event_id is None:
        event_id = derive_event_id(rec, ctx.id_key)
    problem = ids.event_id_problem(event_id)
    if problem is not None or not isinstance(event_id, str):
        raise ValueError(f"event_id: {problem}")
    return ConsentEvent(
        event_id,
        member_id,
        etype,
        setting if etype is not EventType.ERASE else None,
        version,
        effective_at,
        ctx.recorded_at,
        covers_from,
        str(source),
        evidence,
    )


def read_event_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The non-blank lines of a JSONL events file with their numbers; a file that cannot be
    read is ``InvalidInput`` naming it."""
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            yield from _lines(fh)
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read: {_reason(exc)}") from exc


def event_lines(events: Any) -> Iterator[tuple[int, str]]:
    """Events given as values, as numbered lines: JSONL text, or an iterable of event
    objects (mappings, numbered from 1) or of lines already numbered (``read_event_lines``)."""
    if isinstance(events, str):
        yield from _lines(io.StringIO(events, newline=""))
        return
    for i, item in enumerate(events, start=1):
        if isinstance(item, tuple):
            yield item
        else:
            yield i, json.dumps(item, ensure_ascii=False, default=str)


# (line number, text, decoded value or the ValueError decoding raised)
DecodedLine = tuple[int, str, Any]
# the C scanner of the strict decoder (repeated fields and over-long integers refused;
# NaN/Infinity let through so that ``build_event`` names the field), as json.loads uses it
# (an attribute typeshed leaves out)
_DECODER = strictjson.DECODER_WITH_CONSTANTS
_scan: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
_MAX_BRACKETS = limits.MAX_NESTING


def decode_event_lines(lines: Iterable[tuple[int, str]]) -> list[DecodedLine]:
    """Decode each line's JSON once (strict: ``strictjson`` rules and limits; a bad line
    keeps its error).

    The decoder's scanner is called directly: ``json.loads`` wraps the same scanner in
    whitespace handling that costs as much again, so any line it would treat differently
    (surrounding whitespace, trailing data, invalid JSON) goes through ``strictjson.loads``.
    Nesting is bounded before the scanner sees a line (it recurses once per level).
    """
    out: list[DecodedLine] = []
    for line_no, line in lines:
        value: Any
        if (
            len(line) > limits.MAX_LINE_BYTES // 4 and len(line.encode()) > limits.MAX_LINE_BYTES
        ) or (
            line.count("{") + line.count("[") > _MAX_BRACKETS and limits.json_nesting_exceeds(line)
        ):
            out.append((line_no, line, _json_line(line, _DECODER)))
            continue
        try:
            try:
                value, end = _scan(line, 0)
            except StopIteration:
                end = -1
            if end != len(line):
                value = strictjson.loads(line, decoder=_DECODER)
        except ValueError as exc:  # JSONDecodeError, a repeated field, a long integer
            value = exc
        out.append((line_no, line, value))
    return out


def event_member_ids(decoded: Iterable[DecodedLine]) -> set[str]:
    """The valid member ids named by decoded event lines (to look up which are known; an
    invalid one is refused by ``build_event`` and never reaches the database)."""
    found: set[str] = set()
    for _, _, rec in decoded:
        if type(rec) is dict:
            mid = rec.get("member_id")
            if isinstance(mid, str) and ids.member_id_problem(mid) is None:
                found.add(mid)
    return found


def parse_events(decoded: Iterable[DecodedLine], ctx: EventContext, *, name: str) -> Parsed:
    out = Parsed()
    by_id: dict[str, ConsentEvent] = {}
    for line_no, line, rec in decoded:
        try:
            if isinstance(rec, json.JSONDecodeError):
                out.problems.append(f"{name}:{line_no}: not valid JSON ({rec.msg})")
                out.rejected_lines.append(line)
                continue
            if isinstance(rec, ValueError):
                raise rec
            if not isinstance(rec, dict):
                raise ValueError("expected a JSON object")
            event = build_event(rec, ctx)
        except ValueError as exc:
            out.problems.append(f"{name}:{line_no}: {exc}")
            out.rejected_lines.append(line)
            continue
        prior = by_id.get(event.event_id)
        if prior is not None:
            if prior != event:
                out.problems.append(
                    f"{name}:{line_no}: event_id: repeats an earlier line's id with different content"
                )
                out.rejected_lines.append(line)
            continue
        by_id[event.event_id] = event
        out.items.append(event)
        out.item_lines.append(line_no)
    return out
