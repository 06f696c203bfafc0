"""Exposure analysis: re-check an existing dataset against the consent ledger.

``audit_dataset`` reads any dataset with the gate's columns (one built here or by another
system), applies the same eligibility as a build, and reports every record that should
not be there: ``{record_id, reason, members}``, where ``members`` are the participants
whose own check failed (not everyone in the conversation), the distinct affected
members, and ``exposure_usd`` = affected members x a per-member amount (default 1000,
the Stored Communications Act's statutory minimum).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from consentgate.gate.batch import OK, REASONS, assess, owner_failures
from consentgate.gate.lookup import prepare
from consentgate.gate.source import open_source
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

    @property
    def exposure_usd(self) -> int | float:
        return len(self.affected_members) * self.per_member_usd

    def to_dict(self) -> dict[str, Any]:
        """The ``audit-dataset --json`` document."""
        return {
            "records": self.records,
            "violating_records": self.violations.num_rows,
            "counts": dict(self.counts),
            "violations": self.violations.to_pylist(),
            "affected_members": list(self.affected_members),
            "affected_count": len(self.affected_members),
            "per_member_usd": self.per_member_usd,
            "exposure_usd": self.exposure_usd,
        }


def audit_dataset(
    source: str | Path,
    *,
    snapshot: ConsentSnapshot,
    column_map: dict[str, str] | None = None,
    per_member_usd: int | float = SCA_PER_MEMBER_USD,
    batch_rows: int = 65_536,
) -> ExposureReport:
    """Re-check every record of ``source`` against ``snapshot``."""
    opened = open_source(source, column_map=column_map)
    index = prepare(snapshot)
    counts = dict.fromkeys(REASONS, 0)
    pieces: list[pa.Table] = []
    affected: set[str] = set()
    records = 0
    for batch in opened.batches(batch_rows=batch_rows):
        records += batch.num_rows
        code = assess(batch, index, columns=opened.columns).code
        for i, n in enumerate(np.bincount(code, minlength=OK + 1)[:OK]):
            counts[REASONS[i]] += int(n)
        if not (code < OK).any():
            continue
        failures = owner_failures(batch, index, columns=opened.columns)
        affected.update(failures.column("member_id").unique().to_pylist())
        pieces.append(_violations(batch, code, failures, opened.columns.id))
    violations = pa.concat_tables(pieces) if pieces else VIOLATIONS_SCHEMA.empty_table()
    return ExposureReport(
        records=records,
        violations=violations,
        affected_members=tuple(sorted(affected)),
        counts=counts,
        per_member_usd=per_member_usd,
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
