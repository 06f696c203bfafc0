"""Exposure analysis: re-check an existing dataset against the consent ledger.

``audit_dataset`` reads any dataset with the gate's columns (one built here or by another
system), applies the same eligibility as a build at one past time alone (the consent
snapshot's ``as_of``, with ``after_as_of`` for records created after it), and reports
every record that should not be there: ``{record_id, reason, members}``, where
``members`` are the participants whose own check failed (not everyone in the
conversation), the distinct affected members, and ``exposure_usd`` = affected members x
a per-member amount (default 1000, the Stored Communications Act's statutory minimum).
The use case adds ``by_statute``: the affected members by jurisdiction and statute, with the
amounts of a configurable schedule (``consentgate.gate.statutes``).

With a redactor, the records that pass the consent checks are also checked for their
content with the redactor's profile: a record the profile would exclude is a violation
``sensitive_content:<label>``, and a record holding an identifier the profile would
redact or pseudonymize is a violation ``identifier:<ENTITY>`` (the first one found); for
these, ``members`` are all the record's owners. ``resolve`` turns a batch's owner columns
into member ids first (a third party's dataset holds pseudonyms). ``recipient_problem``
records why the recipient was not allowed the use at that time (an ended contract): it
is reported, never refused, and makes the dataset a violation as a whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from consentgate.gate.batch import (
    OK,
    REASONS,
    Assessment,
    Redactor,
    _participants,
    assess,
    owner_failures,
)
from consentgate.gate.columns import Columns
from consentgate.gate.lookup import prepare
from consentgate.gate.source import open_source
from consentgate.gate.statutes import StatuteExposure, totals
from consentgate.snapshot import ConsentSnapshot

__all__ = ["SCA_PER_MEMBER_USD", "ExposureReport", "audit_dataset"]

SCA_PER_MEMBER_USD = 1000

VIOLATIONS_SCHEMA = pa.schema(
    [
        pa.field("record_id", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("members", pa.list_(pa.string())),
    ]
)


@dataclass(frozen=True, slots=True)
class ExposureReport:
    """The result of re-checking a dataset.

    ``violations`` is an Arrow table (record_id, reason, members) in dataset order;
    ``affected_members`` the distinct members whose own check failed, sorted.
    """

    records: int
    violations: pa.Table
    affected_members: tuple[str, ...]
    counts: dict[str, int]
    per_member_usd: int | float
    recipient_problem: str | None = None
    content_checked: bool = False
    by_statute: tuple[StatuteExposure, ...] = ()  # the affected members by jurisdiction

    @property
    def exposure_usd(self) -> int | float:
        return len(self.affected_members) * self.per_member_usd

    @property
    def violates(self) -> bool:
        """True when any record should not be there, or the recipient was not allowed."""
        return self.violations.num_rows > 0 or self.recipient_problem is not None

    def to_dict(self) -> dict[str, Any]:
        """The ``audit-dataset --json`` document."""
        return {
            "records": self.records,
            "violates": self.violates,
            "recipient_problem": self.recipient_problem,
            "content_checked": self.content_checked,
            "violating_records": self.violations.num_rows,
            "counts": dict(self.counts),
            "violations": self.violations.to_pylist(),
            "affected_members": list(self.affected_members),
            "affected_count": len(self.affected_members),
            "per_member_usd": self.per_member_usd,
            "exposure_usd": self.exposure_usd,
            "by_statute": [r.as_dict() for r in self.by_statute],
            "exposure_totals": totals(self.by_statute),
        }


def audit_dataset(
    source: str | Path,
    *,
    snapshot: ConsentSnapshot,
    column_map: dict[str, str] | None = None,
    per_member_usd: int | float = SCA_PER_MEMBER_USD,
    batch_rows: int = 65_536,
    redactor: Redactor | None = None,
    resolve: Callable[[pa.RecordBatch], pa.RecordBatch] | None = None,
    recipient_problem: str | None = None,
) -> ExposureReport:
    """Re-check every record of ``source`` against ``snapshot`` (and its content against
    ``redactor``'s profile, when given)."""
    opened = open_source(source, column_map=column_map, require_text=redactor is not None)
    index = prepare(snapshot)
    counts = dict.fromkeys(REASONS, 0)
    pieces: list[pa.Table] = []
    affected: set[str] = set()
    records = 0
    for batch in opened.batches(batch_rows=batch_rows):
        records += batch.num_rows
        view = resolve(batch) if resolve is not None else batch
        a = assess(view, index, columns=opened.columns)
        code = a.code
        for i, n in enumerate(np.bincount(code, minlength=OK + 1)[:OK]):
            counts[REASONS[i]] += int(n)
        if (code < OK).any():
            failures = owner_failures(view, index, columns=opened.columns)
            affected.update(failures.column("member_id").unique().to_pylist())
            pieces.append(_violations(batch, code, failures, opened.columns.id))
        if redactor is not None and (code == OK).any():
            found = _content_violations(batch, a, redactor, opened.columns)
            if found.num_rows:
                for reason in found.column("reason").to_pylist():
                    counts[reason] = counts.get(reason, 0) + 1
                for members in found.column("members").to_pylist():
                    affected.update(members)
                pieces.append(found)
    violations = pa.concat_tables(pieces) if pieces else VIOLATIONS_SCHEMA.empty_table()
    return ExposureReport(
        records=records,
        violations=violations,
        affected_members=tuple(sorted(affected)),
        counts=counts,
        per_member_usd=per_member_usd,
        recipient_problem=recipient_problem,
        content_checked=redactor is not None,
    )


_ENTITY = re.compile(r"<([A-Z][A-Z0-9_]*?)(?:_[0-9]+)?>")


def _content_violations(
    batch: pa.RecordBatch, a: Assessment, redactor: Redactor, columns: Columns
) -> pa.Table:
    """Records passing the consent checks whose content the profile would exclude or
    change: ``sensitive_content:<label>``, or ``identifier:<ENTITY>``."""
    rows = np.flatnonzero(a.code == OK)
    owners = _participants(a, rows)
    texts = batch.column(columns.text).take(pa.array(rows)).cast(pa.string())
    result = redactor.apply(texts, owners)
    excluded = result.excluded.cast(pa.string()).to_pylist()
    before = texts.to_pylist()
    after = result.texts.cast(pa.string()).to_pylist()
    reasons: list[str | None] = []
    for old, new, label in zip(before, after, excluded, strict=True):
        if label is not None:
            reasons.append(label)
        elif new != old and new is not None:
            held = set(_ENTITY.findall(old or ""))
            fresh = [e for e in _ENTITY.findall(new) if e not in held]
            reasons.append(f"identifier:{fresh[0] if fresh else 'UNKNOWN'}")
        else:
            reasons.append(None)
    hit = pa.array([r is not None for r in reasons])
    ids = batch.column(columns.id).take(pa.array(rows)).cast(pa.string())
    members = [list(dict.fromkeys(m)) for m in owners.filter(hit).to_pylist()]
    return pa.Table.from_arrays(
        [
            ids.filter(hit),
            pa.array(reasons, pa.string()).filter(hit),
            pa.array(members, pa.list_(pa.string())),
        ],
        schema=VIOLATIONS_SCHEMA,
    )


def _violations(
    batch: pa.RecordBatch, code: npt.NDArray[np.int8], failures: pa.Table, id_column: str
) -> pa.Table:
    """One row per ineligible record with its failing members (failures are by row)."""
    rows = np.flatnonzero(code < OK)
    failing_rows = np.asarray(failures.column("row").to_numpy(), np.int64)
    per_row = np.bincount(failing_rows, minlength=batch.num_rows)[rows]
    offsets = np.zeros(len(rows) + 1, np.int32)
    np.cumsum(per_row, out=offsets[1:])
    members = pa.ListArray.from_arrays(
        pa.array(offsets), failures.column("member_id").combine_chunks().cast(pa.string())
    )
    reasons = pa.DictionaryArray.from_arrays(
        pa.array(code[rows].astype(np.int8)), pa.array(REASONS, pa.string())
    ).cast(pa.string())
    ids = batch.column(id_column).take(pa.array(rows)).cast(pa.string())
    return pa.Table.from_arrays([ids, reasons, members], schema=VIOLATIONS_SCHEMA)
