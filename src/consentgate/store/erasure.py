"""Erasure: what an ``erase`` event removes from the ledger, as one audited change.

DESIGN.md "Erasure": the member's name, email and phone, the evidence of their consent events
and any mention of them in free-text fields go; their key (``member_keys``) is destroyed, so
the audit entries made under it — references and digests of the rows that held their data —
can no longer be linked to them or checked against a guess. What stays is what the ledger
needs to honour the erasure and to account for what it did (docs/transparency.md
"Erasure"): the member id with its jurisdiction, the consent events without evidence (the
erase event among them, which excludes the member from every build), and the registry of
datasets and orders that hold or held their data.

Every changed row gets an audit entry (action ``member.erased``) in the same transaction:
for a row whose audit key was made with the member's key, one entry with a null digest for
the old key (the row under that name is gone) and one for the row under its new key (the
workspace secret), so the hash chain, the Merkle log and the row checks of ``audit verify``
all still hold. Entries already in the log are never touched.

``erase`` returns the strings it removed (``Erased.terms``) and the rejects files imports
wrote; ``scrub_files`` then drops the member's lines from those files, after the commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from consentgate.files import write_atomic
from consentgate.store import audit as store_audit
from consentgate.store import ledger
from consentgate.store import tables as t

logger = logging.getLogger(__name__)

MEMBER_ERASED = "member.erased"
REDACTED = "[erased]"
_CHUNK = 5000

# Free-text columns an operator fills (notes, evidence of remediation): scrubbed of the
# member's name, email and phone. (audited entity, table, its column)
_FREE_TEXT = (
    ("models", t.models, "evidence"),
    ("remediation_orders", t.remediation_orders, "evidence"),
    ("notices", t.notices, "ack_note"),
)


@dataclass(frozen=True, slots=True)
class Erased:
    """What ``erase`` did: the members, the strings it removed (ids, names, emails, phones:
    for scrubbing files, never to be logged), how many rows changed, the rejects files."""

    members: tuple[str, ...]
    terms: tuple[str, ...]
    rows: int
    rejects_files: tuple[Path, ...]


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(set(values))
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i : i + _CHUNK]


def _rows(conn: sa.Connection, table: sa.Table, member_ids: Sequence[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for chunk in _chunks(member_ids):
        query = sa.select(table).where(table.c.member_id.in_(chunk))
        out.extend(dict(r._mapping) for r in conn.execute(query))
    return out


def erase(conn: sa.Connection, member_ids: Sequence[str], *, at: datetime) -> Erased:
    """Erase ``member_ids`` (each has an erase event recorded in this transaction)."""
    keys = store_audit.Keyring(conn)
    keys.load(member_ids)
    old_keys = {m: keys.member(m) for m in member_ids}
    members = _rows(conn, t.members, member_ids)
    events = _rows(conn, t.consent_events, member_ids)
    moves = _rows(conn, t.member_jurisdictions, member_ids)
    placed = _rows(conn, t.remediation_order_members, member_ids)
    terms = {str(m["member_id"]) for m in members}
    personal = {str(m[f]) for m in members for f in ("name", "email", "phone") if m[f]}
    for chunk in _chunks(member_ids):
        conn.execute(t.member_keys.delete().where(t.member_keys.c.member_id.in_(chunk)))
        conn.execute(
            t.members.update()
            .where(t.members.c.member_id.in_(chunk))
            .values(name=None, email=None, phone=None)
        )
        conn.execute(
            t.consent_events.update()
            .where(t.consent_events.c.member_id.in_(chunk), t.consent_events.c.evidence.isnot(None))
            .values(evidence=sa.null())
        )
    for member_id in member_ids:
        keys.forget(member_id)
    items: list[tuple[str, str, str, str | None]] = []
    for m in members:
        scrubbed = {**m, "name": None, "email": None, "phone": None}
        items += _rekeyed(keys, "members", m, scrubbed, old_keys)
    for e in events:
        items += _rekeyed(keys, "consent_events", e, {**e, "evidence": None}, old_keys)
    for j in moves:  # kept (a jurisdiction is not contact data), re-keyed: unlinkable
        items += _rekeyed(keys, "member_jurisdictions", j, j, old_keys)
    for p in placed:
        items += _rekeyed(keys, "remediation_order_members", p, p, old_keys)
    items += _scrub_free_text(conn, keys, personal)
    store_audit.append(conn, items, at=at)
    files = tuple(Path(p) for p in conn.execute(sa.select(t.rejects_files.c.path)).scalars())
    logger.info("erasure: %d members, %d rows changed", len(member_ids), len(items))
    return Erased(tuple(member_ids), tuple(sorted(terms | personal)), len(items), files)


def _rekeyed(
    keys: store_audit.Keyring,
    entity: str,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    old_keys: Mapping[str, bytes],
) -> list[tuple[str, str, str, str | None]]:
    """Entries for a member's row after erasure: when its audit key was made with the
    destroyed member key, a null digest under that key (the row under that name is gone),
    then the row under its new key; none when neither key nor content changed (an erase
    event without evidence is keyed with the workspace secret from the start)."""
    member = store_audit.row_member(entity, old)
    before = store_audit.keyed_item(
        keys.workspace if member is None else old_keys[member], MEMBER_ERASED, entity, old
    )
    now = store_audit.audit_item(keys, MEMBER_ERASED, entity, new)
    if before == now:
        return []
    if before[2] == now[2]:
        return [now]
    return [(MEMBER_ERASED, entity, before[2], None), now]


def _pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    """Any of ``terms`` as a whole word (case-insensitive), also as written inside a JSON
    string (non-ASCII characters escaped)."""
    variants = {v for term in terms for v in (term, json.dumps(term)[1:-1]) if v.strip()}
    if not variants:
        return None
    alternatives = "|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _scrub_value(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(REDACTED, value)
    if isinstance(value, dict):
        return {_scrub_value(k, pattern): _scrub_value(v, pattern) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_value(v, pattern) for v in value]
    return value


def _scrub_free_text(
    conn: sa.Connection, keys: store_audit.Keyring, personal: Iterable[str]
) -> list[tuple[str, str, str, str | None]]:
    pattern = _pattern(personal)
    if pattern is None:
        return []
    items = []
    for entity, table, column in _FREE_TEXT:
        spec = store_audit.AUDITED[entity]
        key_column = next(iter(table.primary_key.columns))
        for r in conn.execute(sa.select(table).where(table.c[column].isnot(None))).all():
            row = dict(r._mapping)
            scrubbed = _scrub_value(row[column], pattern)
            if scrubbed == row[column]:
                continue
            conn.execute(
                table.update().where(key_column == row[key_column.name]).values({column: scrubbed})
            )
            items.append(
                store_audit.audit_item(
                    keys, MEMBER_ERASED, entity, spec.row({**row, column: scrubbed})
                )
            )
    return items


# --------------------------------------------------------------------------- files


def scrub_files(paths: Iterable[Path], terms: Iterable[str]) -> int:
    """Drop every line naming one of ``terms`` (as a whole word) from each existing file,
    rewriting it atomically with its mode; returns the number of lines dropped."""
    pattern = _pattern(terms)
    if pattern is None:
        return 0
    dropped = 0
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
            mode = path.stat().st_mode & 0o777
        except OSError:
            continue  # moved or deleted since the import wrote it
        lines = text.splitlines(keepends=True)
        kept = [line for line in lines if not pattern.search(line)]
        if len(kept) == len(lines):
            continue
        dropped += len(lines) - len(kept)
        write_atomic(path, "".join(kept).encode("utf-8", "surrogateescape"), mode=mode)
    logger.info("erasure: %d lines dropped from rejects files", dropped)
    return dropped


def record_rejects_file(conn: sa.Connection, path: Path, *, at: datetime) -> None:
    """Remember a rejects file an import is about to write (erasure scrubs it later)."""
    resolved = str(path.resolve())
    key = hashlib.sha256(resolved.encode("utf-8", "surrogateescape")).hexdigest()
    c = t.rejects_files.c
    if conn.execute(sa.select(c.path_sha256).where(c.path_sha256 == key)).first() is None:
        conn.execute(t.rejects_files.insert().values(path_sha256=key, path=resolved, written_at=at))


def without_erased(conn: sa.Connection, lines: list[str]) -> list[str]:
    """``lines`` (an import's rejected lines) less those naming an erased member: a stale
    file must not bring an erased member's details back through its rejects file."""
    pattern = _pattern(ledger.erased_member_ids(conn))
    if pattern is None:
        return lines
    return [line for line in lines if not pattern.search(line)]
