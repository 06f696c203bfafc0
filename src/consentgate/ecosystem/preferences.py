"""Use cases for AI-use signals and consent records: read the ledger, call the pure
functions of ``signals`` and ``iso27560``, import through ``workspace.import_events``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from consentgate import workspace
from consentgate.ecosystem import iso27560, signals
from consentgate.errors import InvalidInput, NotFound
from consentgate.store import ledger
from consentgate.timestamps import format_timestamp, utcnow

__all__ = ["consent_record", "export_signals", "import_signals"]


def export_signals(
    engine: sa.Engine, *, setting: str, path_template: str, at: datetime | None = None
) -> dict[str, Any]:
    """Each member's preference for their public content at ``at`` (default now), as
    ``{path: allowed}`` plus the rendered robots.txt lines, tdmrep.json and headers."""
    if "{member}" not in path_template:
        raise InvalidInput("--path-template: must contain {member}")
    at = at or utcnow()
    with engine.connect() as conn:
        members = ledger.members_table(conn).column("member_id").to_pylist()
        erased = ledger.erased_member_ids(conn)
    paths: dict[str, bool] = {}
    for member in members:
        if member in erased:
            continue  # an erased member's path is not published at all
        state = workspace.consent_status(engine, member, setting, at=at).state
        paths[path_template.replace("{member}", member)] = signals.consented(state)
    return {
        "vocabulary": {
            "aipref": signals.AIPREF_VOCABULARY,
            "aipref_attach": signals.AIPREF_ATTACH,
            "tdmrep": signals.TDMREP_VERSION,
        },
        "setting": setting,
        "at": format_timestamp(at),
        "headers": {
            p: {"Content-Usage": signals.content_usage(a), "tdm-reservation": "0" if a else "1"}
            for p, a in sorted(paths.items())
        },
        "robots_txt": "\n".join(signals.robots_lines(paths)) + "\n",
        "tdmrep_json": signals.tdmrep_entries(paths),
    }


def _signal_lines(path: Path, *, setting: str, policy_version: str) -> list[str]:
    problems: list[str] = []
    out: list[str] = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            out.append("")
            continue
        try:
            rec = json.loads(raw)
            if not isinstance(rec, dict):
                raise ValueError("expected a JSON object")
            for name in ("member_id", "fetched_at"):
                if not isinstance(rec.get(name), str):
                    raise ValueError(f"{name}: missing or not a string")
            event = signals.signal_event(rec, setting=setting, policy_version=policy_version)
        except json.JSONDecodeError:
            problems.append(f"{path}:{n}: not valid JSON")
            continue
        except ValueError as exc:  # names the field, never its value
            problems.append(f"{path}:{n}: {exc}")
            continue
        out.append(json.dumps(event, sort_keys=True))
    if problems:
        raise InvalidInput(f"{path}: signal import refused; nothing was stored", problems)
    return out


def import_signals(
    engine: sa.Engine, path: Path, *, setting: str, policy_version: str
) -> workspace.ImportResult:
    """Record each fetched signal as a consent event (source ``signal``); all or nothing."""
    lines = _signal_lines(path, setting=setting, policy_version=policy_version)
    try:
        return workspace.import_events(engine, "\n".join(lines) + "\n", source=str(path))
    except InvalidInput as exc:
        raise InvalidInput(
            f"{path}: signal import refused; nothing was stored", exc.problems
        ) from None


def consent_record(
    engine: sa.Engine, member_id: str, *, event_id: str | None = None
) -> dict[str, Any]:
    """The ISO/IEC TS 27560-shaped record of one of the member's events (default: latest)."""
    with engine.connect() as conn:
        member = ledger.get_member(conn, member_id)
        if member is None:
            raise NotFound("member", member_id)
        events = ledger.member_events(conn, member_id)
        history = ledger.load_history(conn)
    chosen = [e for e in events if event_id is None or e.event_id == event_id]
    if not chosen:
        raise NotFound("consent event of this member", event_id or "latest")
    event = max(chosen, key=lambda e: (e.recorded_at, e.seq))
    jurisdiction = member.jurisdiction_at(event.effective_at, event.recorded_at)
    return iso27560.consent_record(event, history, jurisdiction=jurisdiction)
