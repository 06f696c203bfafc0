"""The consent snapshot: who may be used for (use, recipient) at one instant, as Arrow tables.

A snapshot is the portable artifact the gate joins against. It is computed set-based by
``consentgate.consent.compute_snapshot`` (the store only feeds it events and members) and
written as Parquet (``grants`` table) so that any engine can apply the same eligibility.

Tables (all member ids are strings, all timestamps ``timestamp[us, tz=UTC]``):

``grants``     member_id, category, covers_from — effective consent holds for
               (use, category, recipient) at ``as_of``; data created before ``covers_from``
               is out of scope. This is the file ``consentgate snapshot`` writes.
``members``    member_id, erased — every member known at ``known_at`` (``erased`` = erased at
               or before as_of).
``withdrawn``  member_id, category — no consent because the member's latest refusal covering
               the scope is a withdrawal, whether or not a policy is in force
               (distinguishes ``withdrawn`` from ``no_consent``).

``categories`` lists the data categories the snapshot was computed for: every category of
every setting (in any policy version) whose use covers ``use`` and whose recipients include
``recipient``. A record of category c is judged by the deepest listed category that is c or
an ancestor of c (see ``resolve_category``); none → no consent.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq

TS = pa.timestamp("us", tz="UTC")
GRANTS_SCHEMA = pa.schema(
    [
        ("member_id", pa.string()),
        ("category", pa.string()),
        ("covers_from", TS),
    ]
)
MEMBERS_SCHEMA = pa.schema(
    [
        ("member_id", pa.string()),
        ("erased", pa.bool_()),
    ]
)
WITHDRAWN_SCHEMA = pa.schema(
    [
        ("member_id", pa.string()),
        ("category", pa.string()),
    ]
)


@dataclass(frozen=True, slots=True)
class ConsentSnapshot:
    use: str
    recipient: str
    as_of: datetime
    known_at: datetime
    categories: tuple[str, ...]
    policy_versions: tuple[str, ...]
    grants: pa.Table
    members: pa.Table
    withdrawn: pa.Table

    def grants_parquet_bytes(self) -> bytes:
        """The canonical Parquet encoding of ``grants`` (sorted, deterministic)."""
        table = self.grants.sort_by([("member_id", "ascending"), ("category", "ascending")])
        sink = io.BytesIO()
        pq.write_table(
            table.cast(GRANTS_SCHEMA),
            sink,
            compression="zstd",
            write_statistics=False,
            store_schema=False,
        )
        return sink.getvalue()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.grants_parquet_bytes()).hexdigest()


def resolve_category(category: str, categories: tuple[str, ...] | list[str]) -> str | None:
    """The deepest of ``categories`` that equals ``category`` or is an ancestor of it."""
    best: str | None = None
    for cand in categories:
        if (category == cand or category.startswith(cand + ".")) and (
            best is None or len(cand) > len(best)
        ):
            best = cand
    return best
