"""Synthetic records, members and consent snapshots for the gate tests and benchmark.

Everything is generated with numpy from a fixed seed, batch by batch, so that the
benchmark can produce millions of records in seconds and the tests get the same data on
every run. Private messages (``user.content.private``) have 1-3 recipients and about
600 bytes of text; public posts (``user.content.public``) have none.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from consentgate.snapshot import (
    GRANTS_SCHEMA,
    MEMBERS_SCHEMA,
    WITHDRAWN_SCHEMA,
    ConsentSnapshot,
)

SEED = 20250122
PRIVATE = "user.content.private"
PUBLIC = "user.content.public"
CATEGORIES = (PRIVATE, PUBLIC)
T0 = datetime(2023, 1, 1, tzinfo=UTC)
T1 = datetime(2025, 1, 1, tzinfo=UTC)
AS_OF = datetime(2025, 6, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")

RECORD_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("category", pa.string()),
        pa.field("author_id", pa.string()),
        pa.field("recipient_ids", pa.list_(pa.string())),
        pa.field("created_at", TS),
        pa.field("text", pa.string()),
    ]
)

_WORDS = [
    "the",
    "a",
    "to",
    "and",
    "of",
    "in",
    "we",
    "you",
    "it",
    "for",
    "on",
    "is",
    "this",
    "that",
    "with",
    "be",
    "are",
    "at",
    "meeting",
    "offer",
    "project",
    "salary",
    "team",
    "thanks",
    "please",
    "call",
    "next",
    "week",
    "role",
    "hiring",
    "update",
    "review",
    "draft",
    "contract",
    "deadline",
    "client",
    "plan",
    "budget",
    "quarter",
    "launch",
    "feedback",
    "schedule",
    "interview",
]


def _micros(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000)


def member_ids(n: int) -> pa.Array:
    """``n`` member ids, ``m0000000`` style (distinct, sortable)."""
    width = max(7, len(str(max(n - 1, 0))))
    return pa.array([f"m{i:0{width}d}" for i in range(n)], pa.string())


def _text_pool(rng: np.random.Generator, size: int = 1 << 20) -> np.ndarray:
    words = rng.choice(np.array(_WORDS, dtype=object), size // 4)
    blob = " ".join(words.tolist()).encode()
    return np.frombuffer(blob[:size], dtype=np.uint8)


def _texts(rng: np.random.Generator, pool: np.ndarray, lengths: np.ndarray) -> pa.Array:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    starts = rng.integers(0, len(pool) - int(lengths.max(initial=1)) - 1, len(lengths))
    pos = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
    data = pool[pos]
    return pa.LargeStringArray.from_buffers(
        len(lengths), pa.py_buffer(offsets), pa.py_buffer(data.tobytes())
    ).cast(pa.string())


@dataclass(frozen=True, slots=True)
class RecordSpec:
    """What to generate: ``n_records`` over ``n_members`` (plus some unknown authors)."""

    n_records: int
    n_members: int
    message_fraction: float = 0.6
    text_bytes: int = 600
    unknown_fraction: float = 0.002
    seed: int = SEED


def record_batches(spec: RecordSpec, *, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
    """The records of ``spec`` as batches of ``RECORD_SCHEMA`` (deterministic)."""
    rng = np.random.default_rng(spec.seed)
    pool = _text_pool(rng)
    members = member_ids(spec.n_members)
    t0, t1 = _micros(T0), _micros(T1)
    for start in range(0, spec.n_records, batch_rows):
        n = min(batch_rows, spec.n_records - start)
        ids = pa.array([f"r{i:09d}" for i in range(start, start + n)], pa.string())
        is_msg = rng.random(n) < spec.message_fraction
        authors = members.take(pa.array(rng.integers(0, spec.n_members, n)))
        unknown = rng.random(n) < spec.unknown_fraction
        if unknown.any():
            ghost = pa.array([f"x{i:09d}" for i in np.flatnonzero(unknown) + start])
            authors = _replace(authors, unknown, ghost)
        n_rec = np.where(is_msg, rng.integers(1, 4, n), 0)
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(n_rec, out=offsets[1:])
        flat = members.take(pa.array(rng.integers(0, spec.n_members, int(offsets[-1]))))
        recipients = pa.ListArray.from_arrays(
            pa.array(offsets), flat, mask=pa.array(~is_msg & (rng.random(n) < 0.5))
        )
        created = pa.array(rng.integers(t0, t1, n), pa.int64()).cast(TS)
        lengths = np.where(
            is_msg, rng.integers(spec.text_bytes // 2, spec.text_bytes * 3 // 2, n), 120
        )
        category = pa.array(np.where(is_msg, PRIVATE, PUBLIC).tolist(), pa.string())
        yield pa.RecordBatch.from_arrays(
            [ids, category, authors, recipients, created, _texts(rng, pool, lengths)],
            schema=RECORD_SCHEMA,
        )


def _replace(values: pa.Array, mask: np.ndarray, replacement: pa.Array) -> pa.Array:
    """``values`` with the positions in ``mask`` replaced, in order, by ``replacement``."""
    combined = pa.concat_arrays([values, replacement])
    take = np.arange(len(values))
    take[mask] = len(values) + np.arange(int(mask.sum()))
    return combined.take(pa.array(take))


def record_table(spec: RecordSpec) -> pa.Table:
    return pa.Table.from_batches(list(record_batches(spec)), schema=RECORD_SCHEMA)


@dataclass(frozen=True, slots=True)
class SnapshotSpec:
    """Consent mix: ~``grant`` of members consent per category, some withdrew, some erased."""

    n_members: int
    grant: float = 0.8
    withdrawn: float = 0.05
    erased: float = 0.01
    seed: int = SEED + 1
    covers_all: float = 0.5  # share of grants that cover every record


def snapshot(spec: SnapshotSpec, *, categories: tuple[str, ...] = CATEGORIES) -> ConsentSnapshot:
    """A snapshot over ``member_ids(spec.n_members)`` for ``train_ai_system``/first_party."""
    rng = np.random.default_rng(spec.seed)
    members = member_ids(spec.n_members)
    erased = rng.random(spec.n_members) < spec.erased
    g_members, g_cats, g_cover, w_members, w_cats = [], [], [], [], []
    t0, t1 = _micros(T0), _micros(T1)
    for cat in categories:
        draw = rng.random(spec.n_members)
        granted = draw < spec.grant
        withdrew = (draw >= spec.grant) & (draw < spec.grant + spec.withdrawn)
        # half the grants cover everything, the rest start somewhere in the record range
        cover = np.where(
            rng.random(spec.n_members) < spec.covers_all,
            t0 - 1,
            rng.integers(t0, t1, spec.n_members),
        )
        idx = np.flatnonzero(granted)
        g_members.append(members.take(pa.array(idx)))
        g_cats.append(pa.array([cat] * len(idx), pa.string()))
        g_cover.append(pa.array(cover[idx], pa.int64()).cast(TS))
        widx = np.flatnonzero(withdrew)
        w_members.append(members.take(pa.array(widx)))
        w_cats.append(pa.array([cat] * len(widx), pa.string()))
    grants = pa.table(
        [pa.concat_arrays(g_members), pa.concat_arrays(g_cats), pa.concat_arrays(g_cover)],
        schema=GRANTS_SCHEMA,
    )
    withdrawn = pa.table(
        [pa.concat_arrays(w_members), pa.concat_arrays(w_cats)], schema=WITHDRAWN_SCHEMA
    )
    member_table = pa.table([members, pa.array(erased)], schema=MEMBERS_SCHEMA)
    return ConsentSnapshot(
        use="train_ai_system",
        recipient="first_party",
        as_of=AS_OF,
        known_at=AS_OF,
        categories=categories,
        policy_versions=("2024-09-18",),
        grants=grants,
        members=member_table,
        withdrawn=withdrawn,
    )
