"""Use cases: what the CLI and the HTTP API do, each in one transaction.

A workspace is a ledger database (plus key files). Functions here take an engine and plain
values, call the pure core (policy, consent, ingest) and the store, and return values. They
never print; the CLI and the API render what they return.
"""

from __future__ import annotations

import gc
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from consentgate import consent as core
from consentgate import ids, ingest
from consentgate.errors import Conflict, InvalidInput, NotFound, PolicyError, UsageError
from consentgate.gate.staging import fsync_directory
from consentgate.policy import (
    Change,
    PolicyHistory,
    PolicyVersion,
    Scope,
    check_publication,
    parse_policy,
    validate_policy,
)
from consentgate.remediation.deadlines import DeadlineRules
from consentgate.snapshot import ConsentSnapshot
from consentgate.store import audit as store_audit
from consentgate.store import engine as store_engine
from consentgate.store import erasure as store_erasure
from consentgate.store import ledger
from consentgate.store import remediation as store_remediation
from consentgate.taxonomy import FIRST_PARTY, parse_taxonomy_file
from consentgate.timestamps import format_timestamp, utcnow

logger = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def init_workspace(
    engine: sa.Engine, *, taxonomy_file: Path | None = None, now: Clock = utcnow
) -> dict[str, Any]:
    revision = store_engine.upgrade(engine)
    added = 0
    with engine.begin() as conn:
        store_audit.ensure_secret(conn)
        if taxonomy_file is not None:
            cats, uses = parse_taxonomy_file(taxonomy_file)
            added = ledger.add_taxonomy_keys(conn, categories=cats, uses=uses, at=now())
    return {"revision": revision, "taxonomy_keys_added": added}


# --------------------------------------------------------------------------- policies


@dataclass(frozen=True, slots=True)
class Published:
    policy: PolicyVersion
    changes: list[Change]
    created: bool


def publish_policy(
    engine: sa.Engine,
    path: Path,
    *,
    notice_days: int,
    now: Clock = utcnow,
    rules: DeadlineRules | None = None,
) -> Published:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}") from exc
    policy = parse_policy(text, name=str(path))
    with engine.begin() as conn:
        validate_policy(policy, ledger.load_taxonomy(conn), name=str(path))
        stored = ledger.stored_policy_sha(conn, policy.version)
        history = ledger.load_history(conn)
        if stored is not None:
            if stored == policy.sha256:
                previous = _previous(history, policy)
                return Published(
                    history.get(policy.version) or policy, _diff(previous, policy), False
                )
            raise PolicyError(
                "immutability",
                f"{path}: version {policy.version!r} is already published with different "
                "content; publish a new version instead",
            )
        previous = history.latest()
        changes = check_publication(policy, previous, notice_days=notice_days, name=str(path))
        ledger.insert_policy(conn, policy, at=now())
        # A version that drops a scope opens orders for datasets built on it (issue 5).
        store_remediation.open_for_policy(
            conn, previous, policy, at=now(), rules=rules or DeadlineRules()
        )
    logger.info("policy version published (%d changes)", len(changes))
    return Published(policy, changes, True)


def _previous(history: PolicyHistory, policy: PolicyVersion) -> PolicyVersion | None:
    before = [v for v in history.versions if v.effective_from < policy.effective_from]
    return before[-1] if before else None


def _diff(old: PolicyVersion | None, new: PolicyVersion) -> list[Change]:
    from consentgate.policy import diff

    return diff(old, new)


def policy_history(engine: sa.Engine) -> PolicyHistory:
    with engine.connect() as conn:
        return ledger.load_history(conn)


def list_policies(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        history = ledger.load_history(conn)
        rows = ledger.policy_rows(conn)
    out = []
    for r in rows:
        v = history.get(r.version)
        out.append(
            {
                "version": r.version,
                "published_at": format_timestamp(r.published_at),
                "effective_from": format_timestamp(r.effective_from),
                "settings": [s.id for s in v.settings] if v else [],
                "sha256": r.sha256,
            }
        )
    return out


def get_policy(engine: sa.Engine, version: str) -> PolicyVersion:
    policy = policy_history(engine).get(version)
    if policy is None:
        raise NotFound("policy version", version)
    return policy


def diff_policies(engine: sa.Engine, a: str, b: str) -> list[Change]:
    history = policy_history(engine)
    old, new = history.get(a), history.get(b)
    if old is None:
        raise NotFound("policy version", a)
    if new is None:
        raise NotFound("policy version", b)
    return _diff(old, new)


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


def _write_rejects(path: Path, lines: Iterable[str]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent or Path("."), prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(line + "\n")
    os.replace(tmp, path)


def _rejects_for(path: Path, rejects: Path | None) -> Path:
    return rejects or path.with_name(path.name + ".rejects")


def _plan_rejects(
    conn: sa.Connection, path: Path, rejects: Path | None, lines: list[str], *, at: datetime
) -> tuple[Path | None, list[str]]:
    """Where an import's rejected lines go and which of them (none naming an erased
    member): the file is recorded in the ledger, so that a later erasure scrubs it too."""
    if not lines:
        return None, []
    rpath = _rejects_for(path, rejects)
    store_erasure.record_rejects_file(conn, rpath, at=at)
    return rpath, store_erasure.without_erased(conn, lines)


def _finish_erasure(engine: sa.Engine, erased: store_erasure.Erased | None) -> None:
    """After an erasure committed: drop the members' lines from the rejects files imports
    wrote, and make SQLite release the old copies of the pages it changed."""
    if erased is None:
        return
    store_erasure.scrub_files(erased.rejects_files, erased.terms)
    store_engine.reclaim_freed_pages(engine)


def import_members(
    engine: sa.Engine,
    path: Path,
    *,
    on_error: str = "refuse",
    rejects: Path | None = None,
    now: Clock = utcnow,
) -> ImportResult:
    parsed = ingest.parse_members(path)
    if on_error == "refuse":
        parsed.refuse_if_bad(f"{path}: member import")
    at = now()
    with engine.begin() as conn:
        counts = ledger.upsert_members(conn, parsed.items, at=at)
        rpath, lines = _plan_rejects(conn, path, rejects, parsed.rejected_lines, at=at)
    if rpath is not None:
        _write_rejects(rpath, lines)
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
) -> dict[str, Any]:
    """``members move``: record that the member is in ``jurisdiction`` from ``effective_at``
    on (append-only; audited). Nothing is recorded when, as known now, the member already is
    in ``jurisdiction`` at ``effective_at``."""
    if not ingest.JURISDICTION.match(jurisdiction):
        raise InvalidInput("--jurisdiction: expected a code like US, US-CA, EU")
    at = now()
    with engine.begin() as conn:
        if ledger.get_member(conn, member_id) is None:
            raise NotFound("member", member_id)
        if ledger.erased_member_ids(conn, [member_id]):
            raise Conflict("the member is erased: nothing more is recorded for them")
        change = ledger.move_member(conn, member_id, jurisdiction, effective_at=effective_at, at=at)
    logger.info("member move %s", "recorded" if change else "not needed")
    return {
        "member_id": member_id,
        "jurisdiction": jurisdiction,
        "effective_at": format_timestamp(effective_at),
        "moved": change is not None,
        "recorded_at": format_timestamp(change.recorded_at) if change else None,
        "seq": change.seq if change else None,
    }


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
    existing = ledger.existing_events(conn, [e.event_id for e in events])
    erased = ledger.erased_member_ids(conn, {e.member_id for e in events})
    new: list[core.ConsentEvent] = []
    same = 0
    for i, e in enumerate(events):
        old = existing.get(e.event_id)
        if old is None:
            if e.member_id in erased:
                problems.append(
                    f"{where(i)}: member_id: the member is erased; nothing more is recorded "
                    "for them"
                )
            new.append(e)
        elif _same_event(old, e):
            same += 1
        else:
            problems.append(
                f"{where(i)}: event_id {e.event_id!r} is already recorded with different content"
            )
    if problems:
        return 0, same, None
    stored = ledger.insert_events(conn, new, at=at)
    # A withdrawal, a denial after a default-on or an erasure opens remediation orders for
    # everything holding the member's data, in the same transaction (issue 5).
    store_remediation.open_for_events(conn, stored, at=at, rules=rules)
    # Then the erasure itself (DESIGN.md "Erasure"), still in the same transaction.
    erasing = sorted({e.member_id for e in stored if e.type is core.EventType.ERASE})
    return len(new), same, store_erasure.erase(conn, erasing, at=at) if erasing else None


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
    path: Path,
    *,
    on_error: str = "refuse",
    rejects: Path | None = None,
    now: Clock = utcnow,
    recorded_at: datetime | None = None,
    rules: DeadlineRules | None = None,
) -> ImportResult:
    at = now()
    with _gc_paused(), engine.begin() as conn:
        history = ledger.load_history(conn)
        decoded = ingest.decode_event_lines(ingest.read_event_lines(path))
        known = ledger.known_member_ids(conn, ingest.event_member_ids(decoded))
        ctx = ingest.EventContext(
            history, known.__contains__, recorded_at or at, store_audit.workspace_secret(conn)
        )
        parsed = ingest.parse_events(decoded, ctx, name=str(path))
        del decoded
        if on_error == "refuse":
            parsed.refuse_if_bad(f"{path}: consent import")
        problems: list[str] = []
        lines = parsed.item_lines
        added, same, erased = _store_events(
            conn,
            parsed.items,
            at=at,
            problems=problems,
            where=lambda i: f"{path}:{lines[i]}",
            rules=rules,
        )
        if problems:
            raise InvalidInput(f"{path}: consent import refused; nothing was stored", problems)
        rpath, rejected = _plan_rejects(conn, path, rejects, parsed.rejected_lines, at=at)
    _finish_erasure(engine, erased)
    if rpath is not None:
        _write_rejects(rpath, rejected)
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
    """Record one event given as an event object (the JSONL format). True when new."""
    at = now()
    with engine.begin() as conn:
        history = ledger.load_history(conn)
        mid = record.get("member_id")
        valid = isinstance(mid, str) and ids.member_id_problem(mid) is None
        known = ledger.known_member_ids(conn, [str(mid)]) if valid else set()
        ctx = ingest.EventContext(
            history,
            known.__contains__,
            recorded_at or at,
            store_audit.workspace_secret(conn),
            default_source="cli",
        )
        try:
            event = ingest.build_event(record, ctx)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc
        problems: list[str] = []
        added, _, erased = _store_events(
            conn, [event], at=at, problems=problems, where=lambda _: "event", rules=rules
        )
        if problems:
            raise Conflict(problems[0])
    _finish_erasure(engine, erased)
    stored = member_events_for(engine, event.member_id)
    return next(e for e in stored if e.event_id == event.event_id), bool(added)


def member_events_for(engine: sa.Engine, member_id: str) -> list[core.ConsentEvent]:
    with engine.connect() as conn:
        return ledger.member_events(conn, member_id)


# --------------------------------------------------------------------------- consent queries


def consent_status(
    engine: sa.Engine,
    member_id: str,
    setting: str,
    *,
    at: datetime | None = None,
    known_at: datetime | None = None,
) -> dict[str, Any]:
    """``consent status``: the member's state for one setting at ``at`` as known at ``known_at``."""
    now = utcnow()
    at = at or now
    known_at = known_at or now
    with engine.connect() as conn:
        member = ledger.get_member(conn, member_id)
        if member is None:
            raise NotFound("member", member_id)
        history = ledger.load_history(conn)
        if not history.setting_scopes_ever(setting):
            raise NotFound("setting", setting)
        events = ledger.member_events(conn, member_id)
    d = core.setting_status(
        member, setting, events=events, history=history, at=at, known_at=known_at
    )
    return {
        "member_id": member_id,
        "setting": setting,
        "jurisdiction": member.jurisdiction_at(at, known_at),
        "state": d.state,
        "covers_from": format_timestamp(d.covers_from) if d.covers_from else None,
        "event_id": d.event_id,
        "policy_version": d.policy_version,
    }


def scope_consent(
    engine: sa.Engine,
    member_id: str,
    scope: Scope,
    *,
    at: datetime,
    known_at: datetime | None = None,
) -> core.Decision:
    with engine.connect() as conn:
        member = ledger.get_member(conn, member_id)
        if member is None:
            raise NotFound("member", member_id)
        history = ledger.load_history(conn)
        events = ledger.member_events(conn, member_id)
    return core.effective_consent(
        member, scope, events=events, history=history, at=at, known_at=known_at or utcnow()
    )


def check_recipient(history: PolicyHistory, use: str, recipient: str, at: datetime) -> None:
    """Refuse a third-party recipient the policy in force at ``at`` does not allow for ``use``."""
    if recipient == FIRST_PARTY:
        return
    from consentgate.errors import RecipientRefused

    policy = history.in_force(at)
    if policy is None:
        raise RecipientRefused(f"no policy version is in force at {format_timestamp(at)}")
    r = policy.recipient(recipient)
    if r is None:
        raise RecipientRefused(
            f"recipient {recipient!r} is not named by policy {policy.version!r} in force at {format_timestamp(at)}"
        )
    reason = r.allows(use, at)
    if reason:
        raise RecipientRefused(reason)


def build_snapshot(
    engine: sa.Engine,
    *,
    use: str,
    recipient: str,
    as_of: datetime,
    known_at: datetime | None = None,
    record: bool = True,
    now: Clock = utcnow,
    refuse_recipient: bool = True,
) -> ConsentSnapshot:
    """Compute (and record, with an audit entry) the consent snapshot for (use, recipient, as_of).

    ``refuse_recipient`` False: compute it even for a third party the policy does not
    allow at ``as_of`` (an audit reports that instead of refusing).
    """
    known_at = known_at or now()
    with engine.begin() as conn:
        taxonomy = ledger.load_taxonomy(conn)
        taxonomy.check_use(use, where="--use")
        history = ledger.load_history(conn)
        if not history.versions:
            raise UsageError("no policy version is published yet")
        if refuse_recipient:
            check_recipient(history, use, recipient, as_of)
        categories = history.scope_categories(use, recipient)
        from consentgate.policy import settings_touching

        settings = settings_touching(history, [Scope(use, c, recipient) for c in categories])
        snap = core.compute_snapshot(
            members=ledger.members_table(conn, known_at=known_at),
            moves=ledger.moves_table(conn, as_of=as_of, known_at=known_at),
            events=ledger.events_table(conn, as_of=as_of, known_at=known_at, settings=settings),
            history=history,
            use=use,
            recipient=recipient,
            as_of=as_of,
            known_at=known_at,
        )
        if record:
            ledger.record_snapshot(conn, snap, sha256=snap.sha256, at=now())
    logger.info("snapshot computed: %d grant rows", snap.grants.num_rows)
    return snap


def build_snapshots(
    engine: sa.Engine,
    *,
    use: str,
    recipient: str,
    as_of: datetime,
    built_at: datetime,
) -> tuple[ConsentSnapshot, ConsentSnapshot]:
    """The two snapshots a build is judged by (DESIGN.md "Record eligibility"): consent at
    the cutoff ``as_of`` and at the build time ``built_at``, both as known at the build
    time (not recorded here: a build records them when it registers its dataset).

    Refuses a cutoff after the build time, and a third party the policy does not allow
    for ``use`` at either time. When ``as_of`` is the build time, one snapshot serves both.
    """
    if as_of > built_at:
        raise InvalidInput(
            f"--as-of {format_timestamp(as_of)} is after the build time "
            f"{format_timestamp(built_at)}: a dataset's cutoff cannot be in the future"
        )
    at_cutoff = build_snapshot(
        engine, use=use, recipient=recipient, as_of=as_of, known_at=built_at, record=False
    )
    if as_of == built_at:
        return at_cutoff, at_cutoff
    at_build = build_snapshot(
        engine, use=use, recipient=recipient, as_of=built_at, known_at=built_at, record=False
    )
    return at_cutoff, at_build


def write_snapshot(snapshot: ConsentSnapshot, out: Path) -> str:
    """Write the snapshot's grants Parquet atomically (synced before and after the rename;
    a failed write, e.g. a full disk, leaves no temporary file); return its sha256."""
    data = snapshot.grants_parquet_bytes()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(out.parent)
    import hashlib

    return hashlib.sha256(data).hexdigest()


def verify_audit(engine: sa.Engine) -> store_audit.VerifyReport:
    from consentgate.store import registry

    with engine.connect() as conn:
        report = store_audit.verify(conn)
        registry.verify_members(conn)
        return report
