"""Use cases for consent (DESIGN.md "Consent"): import members and events, record one
event, move a member between jurisdictions, and a member's consent status. Each runs in one
transaction, takes an engine and values, and returns values; it never prints.

The imports and erasure (``ingest``, ``store.erasure``, the remediation planning) are imported
by the use cases that write, so that a question (``consent_status``, the CLI's ``consent
status``) loads only the consent rules and the ledger queries."""

from __future__ import annotations

import gc
import logging
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from consentgate import consent as core
from consentgate import ids
from consentgate.errors import Conflict, ConsentgateError, InvalidInput, NotFound, UsageError
from consentgate.paging import Page, check_window
from consentgate.policy import (
    PolicyHistory,
    Scope,
)
from consentgate.remediation.deadlines import DeadlineRules
from consentgate.store import audit as store_audit
from consentgate.store import engine as store_engine
from consentgate.store import ledger
from consentgate.timestamps import Clock, utcnow

if TYPE_CHECKING:
    from consentgate.store import erasure as store_erasure

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- members and events


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: int
    updated: int
    unchanged: int
    rejected: int
    rejects_path: Path | None
    erased: int = 0  # rows of erased members, not stored again
    moved: int = 0  # members: jurisdiction changes recorded as moves


def check_rejects_target(target: Path) -> Path:
    """Where an import's rejected lines would go, checked before anything is written: an
    existing directory to hold it, not itself a directory (``InvalidInput`` otherwise)."""
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidInput(f"`rejects` {target}: directory {parent} does not exist; nothing stored")
    if target.is_dir():
        raise InvalidInput(f"`rejects` {target}: is a directory; nothing was stored")
    if not os.access(parent, os.W_OK):
        raise InvalidInput(
            f"`rejects` {target}: directory {parent} is not writable; nothing stored"
        )
    return target


def _rejects_target(on_error: str, rejects: Path | None) -> Path | None:
    """The checked rejects file of an import that skips bad lines (refusing ones need none);
    skipping without one is refused, since the rejected lines must go somewhere."""
    if on_error == "refuse":
        return None
    if on_error != "skip":
        raise InvalidInput(f"`on_error`: {on_error!r} (want refuse|skip)")
    if rejects is None:
        raise InvalidInput("`on_error` skip needs `rejects`: where the rejected lines go")
    return check_rejects_target(rejects)


def _stage_rejects(path: Path, lines: Iterable[str]) -> Path:
    """Write the rejected lines to a temporary file beside ``path`` (renamed into place
    only once the import has committed: the import and its rejects file are one unit)."""
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent or Path("."), prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        if tmp is not None:  # a full disk: the part written must not stay behind
            Path(tmp).unlink(missing_ok=True)
        raise InvalidInput(
            f"`rejects` {path}: cannot write ({exc.strerror}); nothing was stored"
        ) from exc
    return Path(tmp)


@contextmanager
def _rejects_with_import() -> Iterator[list[tuple[Path, Path]]]:
    """An import and its rejects file as one unit: each (staged, final) pair appended inside
    the block is renamed into place once the block (the import's transaction) has ended
    without an error, and removed when it has not."""
    staged: list[tuple[Path, Path]] = []
    try:
        yield staged
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, final in staged:
        os.replace(tmp, final)


def _plan_rejects(
    conn: sa.Connection, rejects: Path | None, lines: list[str], *, at: datetime
) -> tuple[Path | None, list[str]]:
    """Where an import's rejected lines go and which of them (none naming an erased
    member): the file is recorded in the ledger, so that a later erasure scrubs it too."""
    from consentgate.store import erasure as store_erasure

    if not lines or rejects is None:
        return None, []
    store_erasure.record_rejects_file(conn, rejects, at=at)
    return rejects, store_erasure.without_erased(conn, lines)


def _finish_erasure(engine: sa.Engine, erased: store_erasure.Erased | None) -> None:
    """After an erasure committed: drop the members' lines from the rejects files imports
    wrote, and make SQLite release the old copies of the pages it changed."""
    from consentgate.store import erasure as store_erasure

    if erased is None:
        return
    store_erasure.scrub_files(erased.rejects_files, erased.terms)
    store_engine.reclaim_freed_pages(engine)


def import_members(
    engine: sa.Engine,
    rows: Any,
    *,
    source: str = "members",
    on_error: str = "refuse",
    rejects: Path | None = None,
    now: Clock = utcnow,
) -> ImportResult:
    """Add or update members (``member_id``, ``jurisdiction``, optional
    ``jurisdiction_effective_at``, ``name``, ``email``, ``phone``) given as JSONL text, an
    Arrow table, row mappings, or located records (``ingest.read_members(path)``); ``source``
    is how problems locate them (``SOURCE:LINE: reason``). A known member with another
    jurisdiction is recorded as a move. With ``on_error`` ``refuse`` any bad row refuses
    them all; with ``skip`` the good ones are stored and the bad ones written to ``rejects``.

    >>> from consentgate import workspace
    >>> from consentgate.store.engine import make_engine
    >>> engine = make_engine("sqlite://")
    >>> _ = workspace.init_workspace(engine)
    >>> rows = [{"member_id": "m-1", "jurisdiction": "EU"}, {"member_id": "m-2", "jurisdiction": "US"}]
    >>> workspace.import_members(engine, rows).added
    2
    """
    from consentgate import ingest

    target = _rejects_target(on_error, rejects)
    parsed = ingest.parse_members(ingest.member_records(rows, name=source), name=source)
    if on_error == "refuse":
        parsed.refuse_if_bad(f"{source}: member import")
    at = now()
    with _rejects_with_import() as staged, engine.begin() as conn:
        counts = ledger.upsert_members(conn, parsed.items, at=at)
        rpath, lines = _plan_rejects(conn, target, parsed.rejected_lines, at=at)
        if rpath is not None:
            staged.append((_stage_rejects(rpath, lines), rpath))
    logger.info(
        "members imported: %d added, %d updated, %d moved, %d rejected, %d erased",
        counts.added,
        counts.updated,
        counts.moved,
        len(parsed.problems),
        counts.erased,
    )
    return ImportResult(
        counts.added,
        counts.updated,
        counts.unchanged,
        len(parsed.problems),
        rpath,
        erased=counts.erased,
        moved=counts.moved,
    )


def move_member(
    engine: sa.Engine,
    member_id: str,
    *,
    jurisdiction: str,
    effective_at: datetime,
    now: Clock = utcnow,
) -> MemberMove:
    """``members move``: record that the member is in ``jurisdiction`` from ``effective_at``
    on (append-only; audited). Nothing is recorded when, as known now, the member already is
    in ``jurisdiction`` at ``effective_at``."""
    from consentgate import ingest

    if not ingest.JURISDICTION.match(jurisdiction):
        raise InvalidInput("`jurisdiction`: expected a code like US, US-CA, EU")
    at = now()
    with engine.begin() as conn:
        if ledger.get_member(conn, member_id) is None:
            raise NotFound("member", member_id)
        if ledger.erased_member_ids(conn, [member_id]):
            raise Conflict("the member is erased: nothing more is recorded for them")
        change = ledger.move_member(conn, member_id, jurisdiction, effective_at=effective_at, at=at)
    logger.info("member move %s", "recorded" if change else "not needed")
    return MemberMove(
        member_id,
        jurisdiction,
        effective_at,
        change is not None,
        change.recorded_at if change else None,
        change.seq if change else None,
    )


@dataclass(frozen=True, slots=True)
class MemberMove:
    """What ``move_member`` recorded (``moved`` False: the member already was there)."""

    member_id: str
    jurisdiction: str
    effective_at: datetime
    moved: bool
    recorded_at: datetime | None
    seq: int | None


def _classify(
    conn: sa.Connection, events: list[core.ConsentEvent]
) -> tuple[list[core.ConsentEvent], dict[int, core.ConsentEvent], dict[int, str]]:
    """Which of ``events`` are new, which are recorded already with the same content (by
    index: the stored event) and which cannot be recorded (by index: the problem, naming
    the field). An event of a member erased already cannot be recorded."""
    existing = ledger.existing_events(conn, [e.event_id for e in events])
    erased = ledger.erased_member_ids(conn, {e.member_id for e in events})
    new: list[core.ConsentEvent] = []
    same: dict[int, core.ConsentEvent] = {}
    problems: dict[int, str] = {}
    for i, e in enumerate(events):
        old = existing.get(e.event_id)
        if old is None:
            if e.member_id in erased:
                problems[i] = "member_id: the member is erased; nothing more is recorded for them"
            new.append(e)
        elif _same_event(old, e):
            same[i] = old
        else:
            problems[i] = "event_id: already recorded with different content"
    return new, same, problems


def _store_new(
    conn: sa.Connection,
    new: list[core.ConsentEvent],
    *,
    at: datetime,
    rules: DeadlineRules | None,
) -> tuple[list[core.ConsentEvent], store_erasure.Erased | None]:
    """Store events known to be new; returns them as stored and what an erasure removed."""
    from consentgate.store import erasure as store_erasure
    from consentgate.workspace.remediation import open_for_events

    stored = ledger.insert_events(conn, new, at=at)
    # A withdrawal, a denial after a default-on or an erasure opens remediation orders for
    # everything holding the member's data, in the same transaction (issue 5).
    open_for_events(conn, stored, at=at, rules=rules)
    # Then the erasure itself (DESIGN.md "Erasure"), still in the same transaction.
    erasing = sorted({e.member_id for e in stored if e.type is core.EventType.ERASE})
    return stored, store_erasure.erase(conn, erasing, at=at) if erasing else None


def _store_events(
    conn: sa.Connection,
    events: list[core.ConsentEvent],
    *,
    at: datetime,
    problems: list[str],
    where: Callable[[int], str],
    rules: DeadlineRules | None,
) -> tuple[int, int, store_erasure.Erased | None]:
    """Store the events not recorded yet; ``where(i)`` locates ``events[i]`` for problems.
    Returns (added, unchanged, what an erasure among them removed)."""
    new, same, found = _classify(conn, events)
    problems.extend(f"{where(i)}: {p}" for i, p in sorted(found.items()))
    if problems:
        return 0, len(same), None
    _, erased = _store_new(conn, new, at=at, rules=rules)
    return len(new), len(same), erased


def _same_event(a: core.ConsentEvent, b: core.ConsentEvent) -> bool:
    fields = (
        "member_id",
        "type",
        "setting",
        "policy_version",
        "effective_at",
        "covers_from",
        "source",
    )
    return all(getattr(a, f) == getattr(b, f) for f in fields)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector around a bulk import (then restore it).

    An import allocates a few objects per line (decoded dicts, events, rows) and keeps them
    all until it commits; the collector would rescan that growing heap again and again,
    a fifth of the import's time, to find no cycles. Reference counting still frees as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def import_events(
    engine: sa.Engine,
    events: Any,
    *,
    source: str = "events",
    on_error: str = "refuse",
    rejects: Path | None = None,
    now: Clock = utcnow,
    recorded_at: datetime | None = None,
    rules: DeadlineRules | None = None,
) -> ImportResult:
    """Record consent events (the JSONL event objects of docs/formats.md) given as JSONL
    text, event mappings, or numbered lines (``ingest.read_event_lines(path)``); idempotent
    by ``event_id``. ``source`` is how problems locate them (``SOURCE:LINE: reason``);
    ``on_error`` and ``rejects`` as for ``import_members``.

    >>> from pathlib import Path
    >>> from consentgate import workspace
    >>> from consentgate.store.engine import make_engine
    >>> engine = make_engine("sqlite://")
    >>> _ = workspace.init_workspace(engine)
    >>> policy = Path("examples/policy-v2.yaml").read_text(encoding="utf-8")
    >>> _ = workspace.publish_policy(engine, policy, notice_days=30)
    >>> _ = workspace.import_members(engine, [{"member_id": "m-1", "jurisdiction": "EU"}])
    >>> event = {"member_id": "m-1", "type": "grant", "setting": "ai_training_posts",
    ...          "policy_version": "v2", "effective_at": "2024-10-01T00:00:00Z", "source": "web"}
    >>> workspace.import_events(engine, [event]).added
    1
    """
    from consentgate import ingest

    target = _rejects_target(on_error, rejects)
    at = now()
    with _rejects_with_import() as staged, _gc_paused(), engine.begin() as conn:
        history = ledger.load_history(conn)
        decoded = ingest.decode_event_lines(ingest.event_lines(events))
        known = ledger.known_member_ids(conn, ingest.event_member_ids(decoded))
        ctx = ingest.EventContext(
            history, known.__contains__, recorded_at or at, store_audit.workspace_secret(conn)
        )
        parsed = ingest.parse_events(decoded, ctx, name=source)
        del decoded
        if on_error == "refuse":
            parsed.refuse_if_bad(f"{source}: consent import")
        problems: list[str] = []
        lines = parsed.item_lines
        added, same, erased = _store_events(
            conn,
            parsed.items,
            at=at,
            problems=problems,
            where=lambda i: f"{source}:{lines[i]}",
            rules=rules,
        )
        if problems:
            raise InvalidInput(f"{source}: consent import refused; nothing was stored", problems)
        rpath, rejected = _plan_rejects(conn, target, parsed.rejected_lines, at=at)
        if rpath is not None:
            staged.append((_stage_rejects(rpath, rejected), rpath))
    _finish_erasure(engine, erased)
    logger.info(
        "consent events imported: %d added, %d unchanged, %d rejected",
        added,
        same,
        len(parsed.problems),
    )
    return ImportResult(added, 0, same, len(parsed.problems), rpath)


def record_event(
    engine: sa.Engine,
    record: dict[str, Any],
    *,
    now: Clock = utcnow,
    recorded_at: datetime | None = None,
    rules: DeadlineRules | None = None,
) -> tuple[core.ConsentEvent, bool]:
    """Record one event given as an event object (the JSONL format). True when new.

    Without an ``event_id`` (the idempotency key) one is generated (``ev-`` and 32 hex
    digits), so the event is always new.
    """
    (outcome,) = record_events(engine, [record], now=now, recorded_at=recorded_at, rules=rules)
    if isinstance(outcome, ConsentgateError):
        raise outcome
    return outcome.event, outcome.created


_DIFFERENT = "event: event_id: already recorded with different content"
_ERASED = "event: member_id: the member is erased; nothing more is recorded for them"


@dataclass(frozen=True, slots=True)
class Recorded:
    """One event as stored (with its ``seq``), and whether this call stored it."""

    event: core.ConsentEvent
    created: bool


def record_events(
    engine: sa.Engine,
    records: Sequence[Mapping[str, Any]],
    *,
    now: Clock = utcnow,
    recorded_at: datetime | None = None,
    rules: DeadlineRules | None = None,
) -> list[Recorded | ConsentgateError]:
    """Record several events, each given as an event object, in one transaction (group
    commit: ``consent_writer``). Each has its own outcome, in order: ``Recorded``, or the
    error it alone would have had (``InvalidInput``, ``Conflict``), which stores nothing for
    it and does not stop the others. An event of a member whose erasure comes earlier in
    ``records`` is refused as if the erasure were stored. A failure of the transaction
    itself raises, and nothing is stored.
    """
    from consentgate import ingest

    at = now()
    records = [
        r if r.get("event_id") is not None else {**r, "event_id": f"ev-{uuid.uuid4().hex}"}
        for r in records
    ]
    outcomes: list[Recorded | ConsentgateError | None] = [None] * len(records)
    erased: store_erasure.Erased | None = None
    with engine.begin() as conn:
        history = ledger.load_history(conn)
        mids = {r.get("member_id") for r in records}
        valid = [m for m in mids if isinstance(m, str) and ids.member_id_problem(m) is None]
        known = ledger.known_member_ids(conn, valid) if valid else set()
        ctx = ingest.EventContext(
            history,
            known.__contains__,
            recorded_at or at,
            store_audit.workspace_secret(conn),
            default_source="cli",
        )
        built: list[tuple[int, core.ConsentEvent]] = []
        for i, r in enumerate(records):
            try:
                built.append((i, ingest.build_event(r, ctx)))
            except ValueError as exc:
                outcomes[i] = InvalidInput(str(exc))
        existing = ledger.existing_events(conn, [e.event_id for _, e in built])
        erased_ids = ledger.erased_member_ids(conn, {e.member_id for _, e in built})
        # In order, as if each were recorded after the ones before it in the batch.
        accepted: dict[str, tuple[int, core.ConsentEvent]] = {}  # event id -> (record, event)
        repeats: list[tuple[int, str]] = []  # (record, event id accepted earlier)
        for i, e in built:
            prior = accepted.get(e.event_id)
            if prior is None:
                old = existing.get(e.event_id)
                if old is not None:
                    same = _same_event(old, e)
                    outcomes[i] = Recorded(old, False) if same else Conflict(_DIFFERENT)
                    continue
            elif _same_event(prior[1], e):
                repeats.append((i, e.event_id))
                continue
            else:
                outcomes[i] = Conflict(_DIFFERENT)
                continue
            if e.member_id in erased_ids:
                outcomes[i] = Conflict(_ERASED)
                continue
            accepted[e.event_id] = (i, e)
            if e.type is core.EventType.ERASE:
                erased_ids.add(e.member_id)
        new = [e for _, e in accepted.values()]
        if new:
            as_stored, erased = _store_new(conn, new, at=at, rules=rules)
            stored_now = {e.event_id: e for e in as_stored}  # with their seq
            for event_id, (i, _) in accepted.items():
                outcomes[i] = Recorded(stored_now[event_id], True)
            for i, event_id in repeats:
                outcomes[i] = Recorded(stored_now[event_id], False)
    _finish_erasure(engine, erased)
    done = [o for o in outcomes if o is not None]
    if len(done) != len(records):  # every branch above gives an outcome
        raise RuntimeError("an event was left without an outcome")
    return done


def member_events_for(engine: sa.Engine, member_id: str) -> list[core.ConsentEvent]:
    with engine.connect() as conn:
        return ledger.member_events(conn, member_id)


# --------------------------------------------------------------------------- consent queries


def member_record(
    engine: sa.Engine, member_id: str
) -> tuple[core.Member, PolicyHistory, list[core.ConsentEvent]]:
    """What every question about one member reads, in one transaction: the member, the
    policy history and their consent events. ``NotFound`` for an unknown member."""
    with engine.connect() as conn:
        member = ledger.get_member(conn, member_id)
        if member is None:
            raise NotFound("member", member_id)
        return member, ledger.load_history(conn), ledger.member_events(conn, member_id)


def consent_status(
    engine: sa.Engine,
    member_id: str,
    setting: str,
    *,
    at: datetime | None = None,
    known_at: datetime | None = None,
) -> ConsentStatus:
    """``consent status``: the member's state for one setting at ``at`` as known at
    ``known_at`` (both default to now).

    >>> from datetime import UTC, datetime
    >>> from pathlib import Path
    >>> from consentgate import workspace
    >>> from consentgate.store.engine import make_engine
    >>> engine = make_engine("sqlite://")
    >>> _ = workspace.init_workspace(engine)
    >>> policy = Path("examples/policy-v2.yaml").read_text(encoding="utf-8")
    >>> _ = workspace.publish_policy(engine, policy, notice_days=30)
    >>> members = '{"member_id": "m-0001", "jurisdiction": "US"}'
    >>> _ = workspace.import_members(engine, members, source="members.jsonl")
    >>> status = workspace.consent_status(
    ...     engine, "m-0001", "ai_training_posts", at=datetime(2024, 10, 1, tzinfo=UTC)
    ... )
    >>> status.state
    'default_on'
    """
    now = utcnow()
    at = at or now
    known_at = known_at or now
    member, history, events = member_record(engine, member_id)
    if not history.setting_scopes_ever(setting):
        raise NotFound("setting", setting)
    d = core.setting_status(
        member, setting, events=events, history=history, at=at, known_at=known_at
    )
    return ConsentStatus(
        member_id,
        setting,
        member.jurisdiction_at(at, known_at),
        d.state,
        d.covers_from,
        d.event_id,
        d.policy_version,
    )


@dataclass(frozen=True, slots=True)
class ConsentStatus:
    """A member's state for one setting (``consent_status``): ``state`` is one of the
    states of ``consentgate.consent``; ``event_id`` the event that decided it, if any."""

    member_id: str
    setting: str
    jurisdiction: str | None
    state: str
    covers_from: datetime | None
    event_id: str | None
    policy_version: str | None


def scope_consent(
    engine: sa.Engine,
    member_id: str,
    scope: Scope,
    *,
    at: datetime,
    known_at: datetime | None = None,
) -> core.Decision:
    member, history, events = member_record(engine, member_id)
    return core.effective_consent(
        member, scope, events=events, history=history, at=at, known_at=known_at or utcnow()
    )


def member_history(engine: sa.Engine, member_id: str) -> list[core.ConsentEvent]:
    """The member's consent events in recording order; ``NotFound`` for an unknown member."""
    with engine.connect() as conn:
        if ledger.get_member(conn, member_id) is None:
            raise NotFound("member", member_id)
        return ledger.member_events(conn, member_id)


def member_history_page(
    engine: sa.Engine, member_id: str, *, limit: int, offset: int = 0
) -> Page[core.ConsentEvent]:
    """A page of ``member_history`` (``limit`` events from position ``offset``), cut in SQL,
    with the member's number of events; ``NotFound`` for an unknown member."""
    check_window(limit, offset)
    with engine.connect() as conn:
        if ledger.get_member(conn, member_id) is None:
            raise NotFound("member", member_id)
        total = ledger.count_member_events(conn, member_id)
        items = ledger.member_events(conn, member_id, limit=limit, offset=offset) if total else []
    return Page(tuple(items), total, limit, offset)


def first_member_ids(engine: sa.Engine, *, limit: int) -> list[str]:
    """Up to ``limit`` member ids in id order (the ``serve --demo`` login offers them)."""
    if limit < 1:
        raise UsageError("`limit` must be at least 1")
    with engine.connect() as conn:
        return ledger.first_member_ids(conn, limit)


def member_settings(
    engine: sa.Engine,
    member_id: str,
    *,
    at: datetime | None = None,
    known_at: datetime | None = None,
) -> MemberSettings:
    """Every setting of the policy in force at ``at`` with the member's state for it (as
    ``consent_status`` decides it), its label and the default for their jurisdiction."""
    now = utcnow()
    at = at or now
    known_at = known_at or now
    member, history, events = member_record(engine, member_id)
    policy = history.in_force(at)
    jurisdiction = member.jurisdiction_at(at, known_at)
    out = []
    for s in policy.settings if policy else ():
        d = core.setting_status(
            member, s.id, events=events, history=history, at=at, known_at=known_at
        )
        out.append(
            SettingState(
                s.id,
                s.label,
                d.state,
                s.default_for(jurisdiction) if jurisdiction else False,
                d.covers_from,
                d.event_id,
                d.policy_version,
            )
        )
    return MemberSettings(member_id, jurisdiction, policy.version if policy else None, tuple(out))


@dataclass(frozen=True, slots=True)
class SettingState:
    """One setting of ``MemberSettings``: the member's state, the setting's label and its
    default for the member's jurisdiction."""

    setting: str
    label: str
    state: str
    default: bool
    covers_from: datetime | None
    event_id: str | None
    policy_version: str | None


@dataclass(frozen=True, slots=True)
class MemberSettings:
    """Every setting of the policy in force (``policy_version``) with the member's state."""

    member_id: str
    jurisdiction: str | None
    policy_version: str | None
    settings: tuple[SettingState, ...]
