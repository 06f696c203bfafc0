"""The member and category index the gate builds once from a consent snapshot.

``prepare`` turns a ``ConsentSnapshot`` into a ``GateIndex``: dense arrays giving, for
every member and snapshot category, the grant's ``covers_from`` or why there is none
(erased, withdrawn, never granted). ``consentgate.gate.batch`` looks up each record's
owners in it, batch after batch, with the same index in every runner.

A build is judged at two times (DESIGN.md "Record eligibility"): its cutoff ``as_of`` t and
its build time b, both as known at b. ``prepare(at_as_of, at_build=...)`` holds both
snapshots' states side by side (one ``state`` row of two columns per member and category,
so one gather fetches both) and the two times, so that the batch function checks t and b
in one pass. When t == b (or the two snapshots agree on every pair) the index keeps one
column and the batch function skips the second check.

Why the member lookup is hand-written: ``pyarrow.compute.index_in`` and Arrow joins
rebuild their hash table from the value set on every call, which for a million members
costs ~140 ms per batch, more than reading and writing the batch. ``prepare`` therefore
builds, once, an open-addressing table over 64-bit hashes of the member ids. Ids that are
ASCII and at most 64 bytes (the usual case) are NUL-padded to fixed-width uint64 words
by Arrow kernels and hashed word by word; other ids are hashed as a polynomial over the
bytes of Arrow's string buffers, computed with numpy prefix sums. Every hit is confirmed
by comparing the ids (words and length, or strings), so a hash collision can only cost
speed, never correctness; colliding member ids make ``prepare`` pick another salt, and
fall back to ``index_in`` if none works.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from consentgate.errors import InvalidInput
from consentgate.snapshot import ConsentSnapshot

__all__ = [
    "ERASED_AT",
    "NO_GRANT",
    "NO_LIMIT",
    "NO_TIME",
    "WITHDRAWN_AT",
    "GateIndex",
    "as_string",
    "micros",
    "prepare",
    "state_columns",
    "state_table",
    "subset_index",
]

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
Bools = npt.NDArray[np.bool_]

NO_TIME = np.iinfo(np.int64).min
"""A null timestamp, in microseconds (before every real time)."""

NO_LIMIT = np.iinfo(np.int64).max
"""No upper bound on creation times (an index without a cutoff or build time)."""

# --------------------------------------------------------------------------- hashing


_PRIMES = (0x100000001B3, 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9)
_CHUNK = 1 << 20
_MASK64 = (1 << 64) - 1
_MAX_WIDTH = 64
"""Member ids of at most this many ASCII bytes are compared as fixed-width words."""


@functools.cache
def _powers(base: int, size: int) -> tuple[U64, U64]:
    """``base**k`` and ``base**-k`` mod 2**64 for k in [0, size] (base is odd)."""
    inverse = pow(base, -1, 1 << 64)
    pw = np.empty(size + 1, np.uint64)
    inv = np.empty(size + 1, np.uint64)
    pw[0] = inv[0] = 1
    np.cumprod(np.full(size, base, np.uint64), out=pw[1:])
    np.cumprod(np.full(size, inverse, np.uint64), out=inv[1:])
    return pw, inv


def _string_buffers(values: pa.Array) -> tuple[I64, npt.NDArray[np.uint8]]:
    """Offsets (int64, relative to the data slice) and bytes of a string array."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.large_string())
    n = len(values)
    buffers = values.buffers()
    width = 8 if pa.types.is_large_string(values.type) else 4
    kind = np.int64 if width == 8 else np.int32
    if n == 0 or buffers[1] is None:
        return np.zeros(n + 1, np.int64), np.zeros(0, np.uint8)
    offsets = np.frombuffer(buffers[1], dtype=kind, count=n + 1, offset=values.offset * width)
    start, end = int(offsets[0]), int(offsets[-1])
    data = (
        np.frombuffer(buffers[2], dtype=np.uint8)[start:end]
        if buffers[2] is not None
        else np.zeros(0, np.uint8)
    )
    return offsets.astype(np.int64) - start, data


def _mix(x: U64, salt: int) -> U64:
    """splitmix64's finalizer, salted; never 0 (0 marks an empty slot)."""
    x ^= np.uint64((salt * 0xD6E8FEB86659FD93) & _MASK64)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    x[x == 0] = 1
    return x


def _hash_bytes(values: pa.Array, salt: int) -> U64:
    """Polynomial hash of each string's bytes via prefix sums (nulls hash as "")."""
    offsets, data = _string_buffers(values)
    n = len(offsets) - 1
    base = _PRIMES[salt % len(_PRIMES)] | 1
    out = np.empty(n, np.uint64)
    first = 0
    while first < n:
        # strings [first, last) whose bytes fit in one power table
        last = int(np.searchsorted(offsets, offsets[first] + _CHUNK, side="right")) - 1
        last = max(min(last, n), first + 1)
        lo, hi = int(offsets[first]), int(offsets[last])
        size = max(hi - lo, _CHUNK)
        pw, inv = _powers(base, size) if size == _CHUNK else _powers.__wrapped__(base, size)
        prefix = np.empty(hi - lo + 1, np.uint64)
        prefix[0] = 0
        np.multiply(data[lo:hi], pw[: hi - lo], out=prefix[1:], dtype=np.uint64)
        np.cumsum(prefix[1:], out=prefix[1:])
        rel = offsets[first : last + 1] - lo
        x = (prefix[rel[1:]] - prefix[rel[:-1]]) * inv[rel[:-1]]
        x ^= np.diff(rel).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        out[first:last] = x
        first = last
    return _mix(out, salt)


def _ascii_words(values: pa.Array, width: int) -> tuple[U64, I64, Bools]:
    """The values that are ASCII strings of at most ``width`` bytes, NUL-padded to
    ``width`` and viewed as uint64 words (one row each), their lengths, and which
    values they are (``fits``)."""
    offsets, data = _string_buffers(values)
    lengths = np.diff(offsets)
    fits = lengths <= width
    if values.null_count:
        fits &= np.asarray(values.is_valid().to_numpy(zero_copy_only=False), bool)
    if len(data) and int(data.max()) >= 0x80:  # some non-ASCII bytes: drop those strings
        wide = np.searchsorted(offsets, np.flatnonzero(data >= 0x80), side="right") - 1
        fits[wide] = False
    chosen = values if fits.all() else values.filter(pa.array(fits))
    padded = pc.utf8_rpad(chosen, width=width, padding="\0").cast(pa.binary(width))
    words = np.frombuffer(
        padded.buffers()[1],
        dtype=np.uint64,
        count=len(padded) * (width // 8),
        offset=padded.offset * width,
    ).reshape(len(padded), width // 8)
    return words, lengths[fits], fits


def _hash_words(words: U64, lengths: I64, salt: int) -> U64:
    base = np.uint64(_PRIMES[salt % len(_PRIMES)] | 1)
    x = lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    for k in range(words.shape[1]):
        x ^= words[:, k]
        x *= base
        x ^= x >> np.uint64(29)
    return _mix(x, salt)


def _build_table(hashes: U64) -> tuple[U64, npt.NDArray[np.int32]]:
    """Open addressing (linear probing, load <= 1/4: most lookups end at the home slot),
    filled in vectorized rounds."""
    capacity = 1 << max(4, int(np.ceil(np.log2(max(4 * len(hashes), 2)))))
    mask = capacity - 1
    slot_hash = np.zeros(capacity, np.uint64)
    slot_row = np.full(capacity, -1, np.int32)
    pending = np.arange(len(hashes), dtype=np.int64)
    slot = (hashes & np.uint64(mask)).astype(np.int64)
    while len(pending):
        free = np.flatnonzero(slot_hash[slot] == 0)
        _, first = np.unique(slot[free], return_index=True)
        won = free[first]
        slot_hash[slot[won]] = hashes[pending[won]]
        slot_row[slot[won]] = pending[won]
        keep = np.ones(len(pending), bool)
        keep[won] = False
        pending = pending[keep]
        slot = (slot[keep] + 1) & mask
    return slot_hash, slot_row


def _probe(slot_hash: U64, slot_row: npt.NDArray[np.int32], hashes: U64) -> I64:
    """Row stored under each hash, or -1: the home slot first, then windows of 8 slots."""
    mask = len(slot_hash) - 1
    slot = (hashes & np.uint64(mask)).astype(np.int64)
    seen = slot_hash[slot]
    hit = seen == hashes
    result = np.where(hit, slot_row[slot], -1).astype(np.int64)
    pending = np.flatnonzero(~hit & (seen != 0))
    start = slot[pending] + 1
    step = np.arange(8, dtype=np.int64)
    while len(pending):
        window = (start[:, None] + step) & mask
        block = slot_hash[window]
        match = block == hashes[pending, None]
        stop = match | (block == 0)
        first = stop.argmax(axis=1)
        found = match[np.arange(len(pending)), first]
        result[pending[found]] = slot_row[window[found, first[found]]]
        going = ~stop.any(axis=1)
        pending = pending[going]
        start = start[going] + len(step)
    return result


# ------------------------------------------------------------------------- the index

ERASED_AT = np.iinfo(np.int64).max - 2
WITHDRAWN_AT = np.iinfo(np.int64).max - 1
NO_GRANT = np.iinfo(np.int64).max
"""Markers in ``GateIndex.state``; above any real time, so ``created < marker`` holds."""


@dataclass(frozen=True, slots=True)
class GateIndex:
    """Everything the batch function needs from a build's snapshots, as dense arrays.

    Built once by ``prepare``; picklable (Spark broadcasts it). Members are numbered by
    their row in ``member_ids``. ``state[member * (K + 1) + k, j]`` is, for the k-th of
    the K ``categories`` (k = K: a record category the snapshot does not cover), the
    grant's ``covers_from`` in microseconds or one of the markers ``ERASED_AT`` (the
    member is erased), ``WITHDRAWN_AT`` (no grant, latest event a withdrawal),
    ``NO_GRANT`` — at the cutoff (j = 0) and, when ``two_times``, at the build time
    (j = 1), both as known at the build time.

    ``as_of_us``: records created after it are outside the cutoff (``after_as_of``);
    ``built_at_us``: records created after it are bad input (``created_after_build``);
    ``NO_LIMIT`` when there is no such bound.

    Member ids are found through an open-addressing table of 64-bit hashes
    (``slot_hash`` -> ``slot_row``); with ``width`` > 0 every member id is ASCII of at
    most ``width`` bytes and is kept as ``member_words`` for exact comparison, else hits
    are confirmed by comparing strings. ``slot_hash`` None: plain ``index_in``.
    """

    categories: tuple[str, ...]
    member_ids: pa.Array
    state: npt.NDArray[np.int64]
    salt: int
    width: int
    member_words: U64 | None
    member_lengths: I64 | None
    slot_hash: U64 | None
    slot_row: npt.NDArray[np.int32] | None
    as_of_us: int = NO_LIMIT
    built_at_us: int = NO_LIMIT

    @property
    def two_times(self) -> bool:
        """True when the build time's consent differs from the cutoff's somewhere."""
        return bool(self.state.shape[1] == 2)

    @property
    def n_members(self) -> int:
        return len(self.member_ids)

    def lookup(self, values: pa.Array) -> I64:
        """Member number of each value; -1 for an unknown id or a null."""
        n = len(values)
        if n == 0:
            return np.zeros(0, np.int64)
        values = as_string(values)
        if self.slot_hash is None or self.slot_row is None:
            found = pc.index_in(values.cast(self.member_ids.type), value_set=self.member_ids)
            return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), np.int64)
        if self.member_words is not None and self.member_lengths is not None:
            return self._lookup_words(values)
        result = _probe(self.slot_hash, self.slot_row, _hash_bytes(values, self.salt))
        candidate = np.flatnonzero(result >= 0)
        if len(candidate):
            probe = values.take(pa.array(candidate)) if len(candidate) < n else values
            if probe.type != self.member_ids.type:
                probe = probe.cast(self.member_ids.type)
            same = pc.equal(probe, self.member_ids.take(pa.array(result[candidate])))
            same_np = np.asarray(same.fill_null(False).to_numpy(zero_copy_only=False), bool)
            result[candidate[~same_np]] = -1
        if values.null_count:
            result[np.asarray(values.is_null().to_numpy(zero_copy_only=False), bool)] = -1
        return result

    def _lookup_words(self, values: pa.Array) -> I64:
        assert self.slot_hash is not None and self.slot_row is not None
        assert self.member_words is not None and self.member_lengths is not None
        words, lengths, fits = _ascii_words(values, self.width)
        found = _probe(self.slot_hash, self.slot_row, _hash_words(words, lengths, self.salt))
        hit = np.flatnonzero(found >= 0)
        rows = found[hit]
        same = (self.member_lengths[rows] == lengths[hit]) & (
            np.take(self.member_words, rows, axis=0) == words[hit]
        ).all(axis=1)
        found[hit[~same]] = -1
        if fits.all():
            return found
        result = np.full(len(values), -1, np.int64)
        result[fits] = found
        return result


def prepare(snapshot: ConsentSnapshot, *, at_build: ConsentSnapshot | None = None) -> GateIndex:
    """Precompute the lookup structures for ``snapshot`` (once per build).

    ``snapshot`` is consent at the cutoff (its ``as_of``); ``at_build``, for a build, is
    consent at the build time (its ``as_of`` is the build time), as known then — the same
    use, recipient and categories. Without ``at_build`` the index judges one time alone
    (``audit-dataset``) and bounds creation times by the cutoff only.
    """
    member_ids = as_string(snapshot.members.column("member_id").combine_chunks())
    if member_ids.null_count:
        raise InvalidInput("consent snapshot: null member id in members")
    if pc.count_distinct(member_ids).as_py() != len(member_ids):
        raise InvalidInput("consent snapshot: duplicate member ids in members")
    categories = tuple(dict.fromkeys(snapshot.categories))
    index = GateIndex(
        categories=categories,
        member_ids=member_ids,
        state=np.zeros((0, 1), np.int64),
        as_of_us=_micros_of(snapshot.as_of),
        **_member_table(member_ids),
    )
    state = _state(index, snapshot)
    built_at = NO_LIMIT
    if at_build is not None:
        _check_pair(snapshot, at_build)
        built_at = _micros_of(at_build.as_of)
        if at_build is not snapshot:
            later = _state(index, at_build)
            if not np.array_equal(later, state):
                state = np.column_stack((state, later))
    if state.ndim == 1:
        state = state.reshape(-1, 1)
    return dataclasses.replace(index, state=np.ascontiguousarray(state), built_at_us=built_at)


def state_columns(index: GateIndex) -> list[str]:
    """Names of the state columns of ``state_table``: ``s<j>_<k>`` for time j (0: cutoff,
    1: build time) and category slot k (K: a category the snapshot does not cover)."""
    times = index.state.shape[1]
    return [f"s{j}_{k}" for k in range(len(index.categories) + 1) for j in range(times)]


def state_table(index: GateIndex) -> pa.Table:
    """The index's per-member states as a table: ``member_id`` and ``state_columns``.

    The Spark runner joins it with the owners of each block of records (a DataFrame join
    on member id, broadcast or shuffled as Spark decides) and rebuilds a small index of
    just those members with ``subset_index``; the batch function then decides as always.
    """
    stride = len(index.categories) + 1
    per_member = index.state.reshape(index.n_members, stride * index.state.shape[1])
    columns: dict[str, Any] = {"member_id": index.member_ids.cast(pa.string())}
    for i, name in enumerate(state_columns(index)):
        columns[name] = pa.array(per_member[:, i], pa.int64())
    return pa.table(columns)


def subset_index(like: GateIndex, states: pa.Table) -> GateIndex:
    """An index over the members of ``states`` (rows of ``state_table(like)``, any order,
    each member once), with ``like``'s categories and times: it decides every record
    whose owners are among them, or unknown, exactly as ``like`` does."""
    member_ids = as_string(states.column("member_id").combine_chunks()).cast(pa.string())
    names = state_columns(like)
    stride = len(like.categories) + 1
    times = like.state.shape[1]
    if states.num_rows:
        per_member = np.column_stack(
            [np.asarray(states.column(n).to_numpy(), np.int64) for n in names]
        )
    else:
        per_member = np.zeros((0, len(names)), np.int64)
    state = np.ascontiguousarray(per_member.reshape(states.num_rows * stride, times))
    return GateIndex(
        categories=like.categories,
        member_ids=member_ids,
        state=state,
        as_of_us=like.as_of_us,
        built_at_us=like.built_at_us,
        **_member_table(member_ids),
    )


def _check_pair(at_as_of: ConsentSnapshot, at_build: ConsentSnapshot) -> None:
    problems = [
        f"{name}: {getattr(at_as_of, name)!r} at the cutoff, {getattr(at_build, name)!r} "
        "at the build time"
        for name in ("use", "recipient", "categories")
        if getattr(at_as_of, name) != getattr(at_build, name)
    ]
    if at_build.as_of < at_as_of.as_of:
        problems.append("as_of: the cutoff is after the build time")
    if problems:
        raise InvalidInput("the build's two consent snapshots do not fit together", problems)


def _micros_of(value: datetime) -> int:
    return int(micros(pa.array([value], pa.timestamp("us", tz="UTC")))[0])


def _member_table(member_ids: pa.Array) -> dict[str, Any]:
    words: U64 | None = None
    lengths: I64 | None = None
    width = 0
    if len(member_ids):
        longest = pc.max(pc.binary_length(member_ids)).as_py() or 0
        ascii_only = pc.all(
            pc.equal(pc.binary_length(member_ids), pc.utf8_length(member_ids))
        ).as_py()
        if ascii_only and longest <= _MAX_WIDTH:
            width = max(8, -(-longest // 8) * 8)
            words, lengths, _ = _ascii_words(member_ids, width)
    for salt in range(8):
        hashes = (
            _hash_words(words, lengths, salt)
            if words is not None and lengths is not None
            else _hash_bytes(member_ids, salt)
        )
        ordered = np.sort(hashes)
        if not (ordered[1:] == ordered[:-1]).any():
            slot_hash, slot_row = _build_table(hashes)
            return {
                "salt": salt,
                "width": width,
                "member_words": words,
                "member_lengths": lengths,
                "slot_hash": slot_hash,
                "slot_row": slot_row,
            }
    return {  # eight salts all collided: fall back to Arrow's index_in
        "salt": 0,
        "width": 0,
        "member_words": None,
        "member_lengths": None,
        "slot_hash": None,
        "slot_row": None,
    }


def _state(index: GateIndex, snapshot: ConsentSnapshot) -> I64:
    stride = len(index.categories) + 1
    covers = np.full(index.n_members * stride, np.iinfo(np.int64).min, np.int64)
    flat, rows = _pair_positions(index, snapshot.grants)
    times = micros(snapshot.grants.column("covers_from").combine_chunks())[rows]
    np.maximum.at(covers, flat, np.minimum(times, ERASED_AT - 1))  # duplicates: narrowest
    state = np.where(covers == np.iinfo(np.int64).min, NO_GRANT, covers)
    withdrawn = _pair_positions(index, snapshot.withdrawn)[0]
    state[withdrawn[state[withdrawn] == NO_GRANT]] = WITHDRAWN_AT
    members = snapshot.members
    erased = members.filter(pc.fill_null(members.column("erased"), True))
    if erased.num_rows:
        rows = index.lookup(erased.column("member_id").combine_chunks())
        state.reshape(index.n_members, stride)[rows[rows >= 0]] = ERASED_AT
    return state


def _pair_positions(index: GateIndex, table: pa.Table) -> tuple[I64, I64]:
    """Positions in ``state`` of a (member_id, category) table's known rows."""
    if table.num_rows == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    members = index.lookup(table.column("member_id").combine_chunks())
    cats = pc.index_in(
        table.column("category").combine_chunks(),
        value_set=pa.array(index.categories, pa.string()),
    )
    cat_np = np.asarray(cats.fill_null(-1).to_numpy(zero_copy_only=False), np.int64)
    rows = np.flatnonzero((members >= 0) & (cat_np >= 0))
    return members[rows] * (len(index.categories) + 1) + cat_np[rows], rows


def as_string(values: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return values
    return values.cast(pa.string())


def micros(values: pa.Array) -> I64:
    """Timestamps as int64 microseconds since the epoch (floor); nulls as NO_TIME."""
    if pa.types.is_null(values.type):
        return np.full(len(values), NO_TIME, np.int64)
    unit = values.type.unit
    raw = np.asarray(
        values.view(pa.int64()).fill_null(NO_TIME).to_numpy(zero_copy_only=False), np.int64
    )
    scale = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": -1_000}[unit]
    if scale == 1:
        return raw
    nulls = raw == NO_TIME
    raw = raw * scale if scale > 0 else np.floor_divide(raw, -scale)
    raw[nulls] = NO_TIME
    return raw
