"""The gate's pure batch function: Arrow record batch in, eligibility and reason out.

This is DESIGN.md's "Record eligibility" as one vectorized step that every runner (the
local Parquet runner, Spark's ``mapInArrow``, the exposure audit) calls with the same
``GateIndex``. A record of category c, owners O (the author, then each recipient, once
each) and creation time t is eligible iff every owner passes; an owner's own check
fails, in this order, with ``erased``, ``unknown_member``, no consent for the snapshot
category C* = resolve_category(c) (reported as ``withdrawn`` when the snapshot lists the
pair as withdrawn, else ``no_consent`` for the author and ``no_consent_counterparty`` for
another participant), then ``before_consent_scope`` (t < covers_from). The record's
reason is the most severe owner failure in the order of ``REASONS``.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from consentgate.errors import InvalidInput
from consentgate.snapshot import ConsentSnapshot, resolve_category

__all__ = [
    "DEFAULT_COLUMNS",
    "ELIGIBLE",
    "REASON",
    "REASONS",
    "Assessment",
    "Columns",
    "GateIndex",
    "GateOutput",
    "RedactionResult",
    "Redactor",
    "assess",
    "evaluate",
    "gate_batch",
    "owner_failures",
    "prepare",
]

REASONS: tuple[str, ...] = (
    "erased",
    "unknown_member",
    "no_consent",
    "no_consent_counterparty",
    "withdrawn",
    "before_consent_scope",
)
"""Consent exclusion reasons, most severe first (``sensitive_content:<label>`` comes from
the redactor and only applies to records that pass every consent check)."""

ERASED, UNKNOWN, NO_CONSENT, NO_CONSENT_CP, WITHDRAWN, BEFORE_SCOPE = range(len(REASONS))
OK = len(REASONS)
"""Owner/record code meaning "no failure"."""

ELIGIBLE = "_eligible"
REASON = "_reason"

_NO_TIME = np.iinfo(np.int64).min
_REASON_DICT = pa.array(REASONS, pa.string())

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Columns:
    """Where the gate finds each field: canonical name -> column name in the data."""

    id: str = "id"
    category: str = "category"
    author_id: str = "author_id"
    recipient_ids: str = "recipient_ids"
    created_at: str = "created_at"
    text: str = "text"

    @classmethod
    def from_map(cls, mapping: Mapping[str, str] | None) -> Columns:
        """Columns from a ``{canonical: name}`` map (``--map column=name``)."""
        if not mapping:
            return DEFAULT_COLUMNS
        known = cls.__slots__
        problems = [
            f"--map {key}={value}: unknown column {key!r} (known: {', '.join(known)})"
            for key, value in mapping.items()
            if key not in known
        ]
        problems += [
            f"--map {key}=: empty column name" for key, value in mapping.items() if not value
        ]
        if problems:
            raise InvalidInput("bad column map", problems)
        return cls(**dict(mapping))

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.__slots__}


DEFAULT_COLUMNS = Columns()


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

_ERASED_AT = np.iinfo(np.int64).max - 2
_WITHDRAWN_AT = np.iinfo(np.int64).max - 1
_NO_GRANT = np.iinfo(np.int64).max
"""Markers in ``GateIndex.state``; above any real time, so ``created < marker`` holds."""


@dataclass(frozen=True, slots=True)
class GateIndex:
    """Everything the batch function needs from a snapshot, as dense arrays.

    Built once by ``prepare``; picklable (Spark broadcasts it). Members are numbered by
    their row in ``member_ids``. ``state[member * (K + 1) + k]`` is, for the k-th of the
    K ``categories`` (k = K: a record category the snapshot does not cover), the grant's
    ``covers_from`` in microseconds or one of the markers ``_ERASED_AT`` (the member is
    erased), ``_WITHDRAWN_AT`` (no grant, latest event a withdrawal), ``_NO_GRANT``.

    Member ids are found through an open-addressing table of 64-bit hashes
    (``slot_hash`` -> ``slot_row``); with ``width`` > 0 every member id is ASCII of at
    most ``width`` bytes and is kept as ``member_words`` for exact comparison, else hits
    are confirmed by comparing strings. ``slot_hash`` None: plain ``index_in``.
    """

    categories: tuple[str, ...]
    member_ids: pa.Array
    state: I64
    salt: int
    width: int
    member_words: U64 | None
    member_lengths: I64 | None
    slot_hash: U64 | None
    slot_row: npt.NDArray[np.int32] | None

    @property
    def n_members(self) -> int:
        return len(self.member_ids)

    def lookup(self, values: pa.Array) -> I64:
        """Member number of each value; -1 for an unknown id or a null."""
        n = len(values)
        if n == 0:
            return np.zeros(0, np.int64)
        values = _as_string(values)
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


def prepare(snapshot: ConsentSnapshot) -> GateIndex:
    """Precompute the lookup structures for ``snapshot`` (once per build)."""
    member_ids = _as_string(snapshot.members.column("member_id").combine_chunks())
    if member_ids.null_count:
        raise InvalidInput("consent snapshot: null member id in members")
    if pc.count_distinct(member_ids).as_py() != len(member_ids):
        raise InvalidInput("consent snapshot: duplicate member ids in members")
    categories = tuple(dict.fromkeys(snapshot.categories))
    index = GateIndex(
        categories=categories,
        member_ids=member_ids,
        state=np.zeros(0, np.int64),
        **_member_table(member_ids),
    )
    return dataclasses.replace(index, state=_state(index, snapshot))


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
    times = _micros(snapshot.grants.column("covers_from").combine_chunks())[rows]
    np.maximum.at(covers, flat, np.minimum(times, _ERASED_AT - 1))  # duplicates: narrowest
    state = np.where(covers == np.iinfo(np.int64).min, _NO_GRANT, covers)
    withdrawn = _pair_positions(index, snapshot.withdrawn)[0]
    state[withdrawn[state[withdrawn] == _NO_GRANT]] = _WITHDRAWN_AT
    erased = np.asarray(
        snapshot.members.column("erased")
        .combine_chunks()
        .fill_null(True)
        .to_numpy(zero_copy_only=False),
        bool,
    )
    state.reshape(index.n_members, stride)[erased] = _ERASED_AT
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


def _as_string(values: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return values
    return values.cast(pa.string())


def _micros(values: pa.Array) -> I64:
    """Timestamps as int64 microseconds since the epoch (floor); nulls as _NO_TIME."""
    if pa.types.is_null(values.type):
        return np.full(len(values), _NO_TIME, np.int64)
    unit = values.type.unit
    raw = np.asarray(
        values.view(pa.int64()).fill_null(_NO_TIME).to_numpy(zero_copy_only=False), np.int64
    )
    scale = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": -1_000}[unit]
    if scale == 1:
        return raw
    nulls = raw == _NO_TIME
    raw = raw * scale if scale > 0 else np.floor_divide(raw, -scale)
    raw[nulls] = _NO_TIME
    return raw


# ----------------------------------------------------------------------- the checks


@dataclass(frozen=True, slots=True)
class Assessment:
    """Per-owner and per-record results of the consent checks on one batch.

    Owners are laid out as the ``n`` authors followed by the flattened recipients;
    ``parent`` maps each recipient entry to its record. Codes index ``REASONS``
    (``OK`` = passed).
    """

    n: int
    code: npt.NDArray[np.int8]
    author: pa.Array
    author_member: I64
    author_code: npt.NDArray[np.int8]
    recipients: pa.Array
    recipient_member: I64
    recipient_code: npt.NDArray[np.int8]
    parent: I64
    list_lengths: I64

    @property
    def eligible(self) -> Bools:
        eligible: Bools = self.code == OK
        return eligible


def _column(batch: pa.RecordBatch, name: str) -> pa.Array:
    values = batch.column(name)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values


def _category_numbers(values: pa.Array, index: GateIndex) -> I64:
    """Snapshot category number (or -1) of each record, resolved once per distinct value."""
    encoded = values if pa.types.is_dictionary(values.type) else pc.dictionary_encode(values)
    distinct = encoded.dictionary.to_pylist()
    lut = np.full(len(distinct) + 1, -1, np.int64)
    for i, value in enumerate(distinct):
        resolved = resolve_category(value, index.categories) if value is not None else None
        if resolved is not None:
            lut[i] = index.categories.index(resolved)
    codes = np.asarray(
        encoded.indices.fill_null(len(distinct)).to_numpy(zero_copy_only=False), np.int64
    )
    return lut[codes]


def _owner_codes(
    index: GateIndex, member: I64, category: I64, created: I64, *, author: bool
) -> npt.NDArray[np.int8]:
    known = member >= 0
    stride = len(index.categories) + 1
    flat = np.where(known, member * stride + np.where(category >= 0, category, stride - 1), 0)
    state = index.state[flat]
    code = np.where(created < state, BEFORE_SCOPE, OK).astype(np.int8)
    marked = np.flatnonzero(state >= _ERASED_AT)
    lut = np.array([ERASED, WITHDRAWN, NO_CONSENT if author else NO_CONSENT_CP], np.int8)
    code[marked] = lut[state[marked] - _ERASED_AT]
    code[~known] = UNKNOWN
    return code


def assess(
    batch: pa.RecordBatch, index: GateIndex, *, columns: Columns = DEFAULT_COLUMNS
) -> Assessment:
    """Run the consent checks for every owner of every record of ``batch``."""
    n = batch.num_rows
    author = _as_string(_column(batch, columns.author_id))
    lists = _column(batch, columns.recipient_ids)
    if pa.types.is_null(lists.type):
        lists = pa.nulls(n, pa.list_(pa.string()))
    recipients = _as_string(pc.list_flatten(lists))
    parent = np.asarray(pc.list_parent_indices(lists).to_numpy(zero_copy_only=False), np.int64)
    lengths = np.asarray(
        pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False), np.int64
    )
    category = _category_numbers(_column(batch, columns.category), index)
    created = _micros(_column(batch, columns.created_at))
    if recipients.type != author.type:
        recipients = recipients.cast(author.type)
    members = index.lookup(pa.concat_arrays([author, recipients]))  # one pass for all owners
    author_member, recipient_member = members[:n], members[n:]
    author_code = _owner_codes(index, author_member, category, created, author=True)
    recipient_code = _owner_codes(
        index, recipient_member, category[parent], created[parent], author=False
    )
    code = author_code.copy()
    if len(recipient_code):
        has = np.flatnonzero(lengths > 0)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))[has]
        code[has] = np.minimum(code[has], np.minimum.reduceat(recipient_code, starts))
    return Assessment(
        n=n,
        code=code,
        author=author,
        author_member=author_member,
        author_code=author_code,
        recipients=recipients,
        recipient_member=recipient_member,
        recipient_code=recipient_code,
        parent=parent,
        list_lengths=lengths,
    )


def _reasons(code: npt.NDArray[np.int8]) -> pa.Array:
    indices = pa.array(code.astype(np.int8), mask=code == OK)
    return pa.DictionaryArray.from_arrays(indices, _REASON_DICT).cast(pa.string())


def evaluate(
    batch: pa.RecordBatch, index: GateIndex, *, columns: Columns = DEFAULT_COLUMNS
) -> pa.RecordBatch:
    """``batch`` plus ``_eligible`` (bool) and ``_reason`` (string, null when eligible)."""
    return gate_batch(batch, index, columns=columns).batch


# ------------------------------------------------------------------------ redaction


class RedactionResult(Protocol):
    """What a redactor returns for the texts of the eligible records."""

    @property
    def texts(self) -> pa.Array: ...  # same length, redacted
    @property
    def excluded(self) -> pa.Array: ...  # str reason (e.g. "sensitive_content:health") or null
    @property
    def redactions(self) -> Mapping[str, int]: ...  # entity -> replacements made
    @property
    def exclusions(self) -> Mapping[str, int]: ...  # label -> records excluded


class Redactor(Protocol):
    """Content redaction applied by the gate to eligible records only."""

    def apply(self, texts: pa.Array, participants: pa.Array | None) -> RedactionResult: ...


@dataclass(frozen=True, slots=True)
class GateOutput:
    """``batch`` = input + ``_eligible`` + ``_reason`` (text redacted on eligible rows)."""

    batch: pa.RecordBatch
    eligible: Bools
    assessment: Assessment
    redactions: Mapping[str, int] = field(default_factory=dict)
    exclusions: Mapping[str, int] = field(default_factory=dict)


def _participants(assessment: Assessment, rows: I64) -> pa.Array:
    """list<string> of each selected record's owners: author, then recipients."""
    lengths = assessment.list_lengths[rows] + 1
    offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    starts = np.concatenate(([0], np.cumsum(assessment.list_lengths)[:-1]))[rows]
    take = np.empty(int(offsets[-1]), np.int64)
    take[offsets[:-1]] = rows
    inner = np.ones(len(take), bool)
    inner[offsets[:-1]] = False
    within = np.arange(len(take)) - np.repeat(offsets[:-1] + 1, lengths)
    take[inner] = assessment.n + np.repeat(starts, lengths)[inner] + within[inner]
    owners = pa.concat_arrays(
        [assessment.author.cast(pa.string()), assessment.recipients.cast(pa.string())]
    )
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), owners.take(pa.array(take)))


def gate_batch(
    batch: pa.RecordBatch,
    index: GateIndex,
    *,
    columns: Columns = DEFAULT_COLUMNS,
    redactor: Redactor | None = None,
) -> GateOutput:
    """Gate one batch: consent checks, then (optionally) redaction of the eligible rows."""
    assessment = assess(batch, index, columns=columns)
    eligible = assessment.eligible
    reason = _reasons(assessment.code)
    redactions: Mapping[str, int] = {}
    exclusions: Mapping[str, int] = {}
    if redactor is not None and eligible.any():
        batch, eligible, reason, redactions, exclusions = _redact(
            batch, assessment, eligible, reason, redactor, columns
        )
    out = batch.append_column(ELIGIBLE, pa.array(eligible, pa.bool_())).append_column(
        REASON, reason
    )
    return GateOutput(out, eligible, assessment, redactions, exclusions)


def _redact(
    batch: pa.RecordBatch,
    assessment: Assessment,
    eligible: Bools,
    reason: pa.Array,
    redactor: Redactor,
    columns: Columns,
) -> tuple[pa.RecordBatch, Bools, pa.Array, Mapping[str, int], Mapping[str, int]]:
    rows = np.flatnonzero(eligible)
    text = _column(batch, columns.text)
    result = redactor.apply(text.take(pa.array(rows)), _participants(assessment, rows))
    if len(result.texts) != len(rows) or len(result.excluded) != len(rows):
        raise ValueError("redactor returned a result of the wrong length")
    mask = np.zeros(len(eligible), bool)
    mask[rows] = True
    new_text = pc.replace_with_mask(text, pa.array(mask), result.texts.cast(text.type))
    position = batch.schema.get_field_index(columns.text)
    batch = batch.set_column(position, batch.schema.field(position), new_text)
    excluded = np.asarray(result.excluded.is_valid().to_numpy(zero_copy_only=False), bool)
    if excluded.any():
        hit = rows[excluded]
        eligible = eligible.copy()
        eligible[hit] = False
        mask[:] = False
        mask[hit] = True
        labels = result.excluded.cast(pa.string()).filter(pa.array(excluded))
        reason = pc.replace_with_mask(reason, pa.array(mask), labels)
    return batch, eligible, reason, dict(result.redactions), dict(result.exclusions)


# ----------------------------------------------------------------- exposure support


def owner_failures(
    batch: pa.RecordBatch, index: GateIndex, *, columns: Columns = DEFAULT_COLUMNS
) -> pa.Table:
    """Every owner whose own check fails: ``row``, ``member_id``, ``reason``.

    One row per (record, member) — a member listed twice counts once, as author if they
    are the author — ordered by record, then author first and recipients in list order.
    Null owner ids are left out (they fail as ``unknown_member`` but name nobody).
    """
    a = assess(batch, index, columns=columns)
    starts = np.concatenate(([0], np.cumsum(a.list_lengths)[:-1]))
    within = np.arange(len(a.parent)) - starts[a.parent]
    table = pa.table(
        {
            "row": np.concatenate((np.arange(a.n), a.parent)),
            "member_id": pa.concat_arrays(
                [a.author.cast(pa.string()), a.recipients.cast(pa.string())]
            ),
            "pos": np.concatenate((np.zeros(a.n, np.int64), within + 1)),
            "code": np.concatenate((a.author_code, a.recipient_code)),
        }
    )
    failing = pc.and_(pc.less(table["code"], OK), pc.is_valid(table["member_id"]))
    table = table.filter(failing)
    grouped = table.group_by(["row", "member_id"], use_threads=False).aggregate(
        [("pos", "min"), ("code", "min")]
    )
    grouped = grouped.sort_by([("row", "ascending"), ("pos_min", "ascending")])
    codes = grouped["code_min"].combine_chunks()
    return pa.table(
        {
            "row": grouped["row"],
            "member_id": grouped["member_id"],
            "reason": _reasons(np.asarray(codes.to_numpy(), np.int8)),
        }
    )
