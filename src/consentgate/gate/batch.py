"""The gate's pure batch function: Arrow record batch in, eligibility and reason out.

This is DESIGN.md's "Record eligibility" as one vectorized step that every runner (the
local Parquet runner, Spark's ``mapInArrow``, the exposure audit, remediation) calls with
the same ``GateIndex`` (built once by ``consentgate.gate.lookup.prepare``). A record of
category c, owners O (the author, then each recipient, once each) and creation time t_c is
judged in this order; the first failing check gives its reason:

1. t_c after the build time b: bad input, ``created_after_build``;
2. at the cutoff t (as known at b): each owner's own check fails, in this order, with
   ``erased``, ``unknown_member``, no consent for the snapshot category C* =
   resolve_category(c) (reported as ``withdrawn`` when the snapshot lists the pair as
   withdrawn, else ``no_consent`` for the author and ``no_consent_counterparty`` for
   another participant), then ``before_consent_scope`` (t_c < covers_from); the record's
   reason is the most severe owner failure in the order of ``REASONS``; then
   ``after_as_of`` (t_c > t);
3. at the build time b (as known at b): the owner checks of 2 again, against consent at b.

An index without a build snapshot (``audit-dataset``) judges 2 alone. Eligible records
then go through the redactor, if any, which may exclude them for their content.

``Columns``, ``GateIndex`` and ``prepare`` are re-exported here, where callers have
always imported them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from consentgate.gate.columns import DEFAULT_COLUMNS, Columns
from consentgate.gate.lookup import ERASED_AT, GateIndex, as_string, micros, prepare

# the hashing internals, which tests/test_gate_batch.py checks through this module
from consentgate.gate.lookup import _ascii_words as _ascii_words
from consentgate.gate.lookup import _hash_bytes as _hash_bytes
from consentgate.gate.lookup import _hash_words as _hash_words
from consentgate.snapshot import resolve_category

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
    "created_after_build",
    "erased",
    "unknown_member",
    "no_consent",
    "no_consent_counterparty",
    "withdrawn",
    "before_consent_scope",
    "after_as_of",
)
"""Exclusion reasons of the consent checks, in the order they are checked (the owner
reasons, ``erased`` to ``before_consent_scope``, most severe first).
``sensitive_content:<label>`` comes from the redactor and only applies to records that
pass every consent check."""

(
    CREATED_AFTER_BUILD,
    ERASED,
    UNKNOWN,
    NO_CONSENT,
    NO_CONSENT_CP,
    WITHDRAWN,
    BEFORE_SCOPE,
    AFTER_AS_OF,
) = range(len(REASONS))
OK = len(REASONS)
"""Owner/record code meaning "no failure"."""
_SHIFT = 4
"""An owner's two codes (cutoff, build time) packed as ``cutoff << 4 | build``: the
minimum over a record's owners is then the cutoff's record code and, when that is OK,
the build time's."""

ELIGIBLE = "_eligible"
REASON = "_reason"

_REASON_DICT = pa.array(REASONS, pa.string())

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


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


Codes = npt.NDArray[np.int8] | npt.NDArray[np.int16]


def _owner_codes(
    index: GateIndex, member: I64, category: I64, created: I64, *, author: bool
) -> Codes:
    """Each owner's own code at the cutoff, or, for a two-time index, both codes packed
    as ``cutoff << _SHIFT | build``."""
    known = member >= 0
    if len(index.state) == 0:  # no member at all (every owner is unknown)
        unknown: npt.NDArray[np.int8] = np.full(len(member), UNKNOWN, np.int8)
        return unknown
    stride = len(index.categories) + 1
    flat = np.where(known, member * stride + np.where(category >= 0, category, stride - 1), 0)
    lut = np.array([ERASED, WITHDRAWN, NO_CONSENT if author else NO_CONSENT_CP], np.int8)
    if not index.two_times:
        return _codes_at(index.state[flat, 0], created, known, lut)
    both = np.take(index.state, flat, axis=0)  # rows of two: far faster than state[flat]
    at_cutoff = _codes_at(both[:, 0], created, known, lut)
    at_build = at_cutoff.copy()  # the same state gives the same code: redo the others only
    changed = np.flatnonzero(both[:, 0] != both[:, 1])
    if len(changed):
        at_build[changed] = _codes_at(both[changed, 1], created[changed], known[changed], lut)
    packed: npt.NDArray[np.int16] = (at_cutoff.astype(np.int16) << _SHIFT) | at_build
    return packed


def _codes_at(
    state: I64, created: I64, known: Bools, lut: npt.NDArray[np.int8]
) -> npt.NDArray[np.int8]:
    code = np.where(created < state, BEFORE_SCOPE, OK).astype(np.int8)
    marked = np.flatnonzero(state >= ERASED_AT)
    code[marked] = lut[state[marked] - ERASED_AT]
    code[~known] = UNKNOWN
    return code


def _record_codes(index: GateIndex, owners: Codes, created: I64) -> npt.NDArray[np.int8]:
    """Record codes from the minimum of each record's owner codes (see ``_owner_codes``):
    the cutoff's, then ``after_as_of``, then the build time's; ``created_after_build``
    before all."""
    if index.two_times:
        at_cutoff = owners >> _SHIFT
        code = np.where(at_cutoff != OK, at_cutoff, owners & ((1 << _SHIFT) - 1))
        later = (at_cutoff == OK) & (created > index.as_of_us)
    else:
        code = owners.copy()
        later = (code == OK) & (created > index.as_of_us)
    code[later] = AFTER_AS_OF
    code[created > index.built_at_us] = CREATED_AFTER_BUILD
    out: npt.NDArray[np.int8] = code.astype(np.int8, copy=False)
    return out


def _own_codes(index: GateIndex, owners: Codes) -> npt.NDArray[np.int8]:
    """Each owner's own code: at the cutoff, else at the build time."""
    if not index.two_times:
        return owners.astype(np.int8, copy=False)
    at_cutoff = owners >> _SHIFT
    own: npt.NDArray[np.int8] = np.where(
        at_cutoff != OK, at_cutoff, owners & ((1 << _SHIFT) - 1)
    ).astype(np.int8)
    return own


def assess(
    batch: pa.RecordBatch, index: GateIndex, *, columns: Columns = DEFAULT_COLUMNS
) -> Assessment:
    """Run the consent checks for every owner of every record of ``batch``."""
    n = batch.num_rows
    author = as_string(_column(batch, columns.author_id))
    lists = _column(batch, columns.recipient_ids)
    if pa.types.is_null(lists.type):
        lists = pa.nulls(n, pa.list_(pa.string()))
    recipients = as_string(pc.list_flatten(lists))
    parent = np.asarray(pc.list_parent_indices(lists).to_numpy(zero_copy_only=False), np.int64)
    lengths = np.asarray(
        pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False), np.int64
    )
    category = _category_numbers(_column(batch, columns.category), index)
    created = micros(_column(batch, columns.created_at))
    if recipients.type != author.type:
        recipients = recipients.cast(author.type)
    members = index.lookup(pa.concat_arrays([author, recipients]))  # one pass for all owners
    author_member, recipient_member = members[:n], members[n:]
    author_code = _owner_codes(index, author_member, category, created, author=True)
    recipient_code = _owner_codes(
        index, recipient_member, category[parent], created[parent], author=False
    )
    owners = author_code.copy()
    if len(recipient_code):
        has = np.flatnonzero(lengths > 0)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))[has]
        owners[has] = np.minimum(owners[has], np.minimum.reduceat(recipient_code, starts))
    return Assessment(
        n=n,
        code=_record_codes(index, owners, created),
        author=author,
        author_member=author_member,
        author_code=_own_codes(index, author_code),
        recipients=recipients,
        recipient_member=recipient_member,
        recipient_code=_own_codes(index, recipient_code),
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
