"""Which detector groups are worth running on each row of a batch, decided in RE2.

Every identifier recognizer and every label has a prefilter pattern that is a necessary
condition for it to fire. ``groups`` runs them over a whole Arrow string array with
``pyarrow.compute.match_substring_regex`` (RE2, in C++, no Python per row) and returns
each row's bit mask; the engine then runs only the Python detectors of set bits.

An RE2 pass costs about the same whatever the pattern (a scan of every byte of the rows
that do not match), so the patterns are not run one by one over the whole array: one
pass over every row looks for ``[0-9]``, and the groups whose every match holds a digit
(``patterns.DIGIT_GROUPS``) are tested on those rows only; the other groups are tested
the frequent ones one by one, the rare ones as one alternation, then each on the rows
that matched it. On a large batch (``_LARGE`` bytes) one alternation of ``[0-9]`` and
every other group's pattern goes first, so that text without identifiers or sensitive
vocabulary costs one pass, not one per group. (A pass costs a scan of every byte plus a
compilation, since ``pyarrow.compute`` compiles the pattern on every call: a few
milliseconds for the label patterns, which is why small batches skip the first union.)
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from consentgate.redact import patterns, sensitive

__all__ = ["DIGIT", "groups", "matches", "union"]

_LARGE = 4 << 20
_SMALL = 256 << 10  # below, a union costs more to compile than the scans it saves
_UNION_CHARS = 12_000  # the most pattern one RE2 union pass takes (see ``_any``)
DIGIT = "[0-9]"
"""The one-pass test that gates every digit group."""


def groups(texts: pa.Array, bits: int, *, digit_only: int = 0) -> npt.NDArray[np.int64]:
    """Per row, the OR of the group bits (within ``bits``) whose prefilter matches.

    Bits in ``digit_only`` are set only on rows that also hold an ASCII digit (the
    engine's rule for ``compensation``); otherwise each bit is exactly "the group's
    prefilter matches the row" (``test_groups_equal_one_pass_per_pattern``).
    """
    groups = np.zeros(len(texts), np.int64)
    if len(texts) == 0:
        return groups
    table = [(b, p) for b, p in patterns.PREFILTERS.items() if bits & b]
    table += [(b, p) for b, p in sensitive.PREFILTERS.items() if bits & b]
    gated = patterns.DIGIT_GROUPS | digit_only
    digital = [(b, p) for b, p in table if b & gated]
    plain = [(b, p) for b, p in table if not b & gated]
    rows = np.arange(len(texts))
    some = texts
    if digital and plain and _selective(texts):
        # one scan settles the rows where nothing can match
        hit = _any(texts, [DIGIT, *(p for _, p in plain)])
        some, rows = texts.filter(pa.array(hit)), rows[hit]
    if digital and len(rows):
        hit = _matches(some, DIGIT)
        _cascade(some.filter(pa.array(hit)), rows[hit], groups, digital)
    _cascade(some, rows, groups, plain)
    for label, bit in sensitive.NEGATIVE_BITS.items():
        trigger = sensitive.LABEL_BITS[label]
        if bits & bit and bits & trigger:
            where = np.flatnonzero(groups & trigger)
            if len(where):
                subset = texts.take(pa.array(where))
                groups[where[_matches(subset, sensitive.NEGATIVE_PREFILTERS[bit])]] |= bit
    return groups


def _cascade(
    texts: pa.Array,
    rows: npt.NDArray[np.int64],
    groups: npt.NDArray[np.int64],
    table: list[tuple[int, str]],
) -> None:
    """Set the bits of ``table`` on ``rows`` (``texts`` holds those rows).

    The frequent patterns are tested one by one, the rare ones through their union
    first, then one by one on the rows that matched it; on a large batch the union of
    all of them goes first (one scan that settles the rows without any match), on a
    small one (``_SMALL`` bytes, such as the rows a second round re-scans) none."""
    if not table or len(rows) == 0:
        return
    frequent = [(b, p) for b, p in table if b & patterns.FREQUENT]
    rare = [(b, p) for b, p in table if not b & patterns.FREQUENT]
    if len(table) > 1 and texts.nbytes >= _SMALL and (not frequent or _selective(texts)):
        hit = _any(texts, [p for _, p in table])
        if not hit.any():
            return
        texts, rows = texts.filter(pa.array(hit)), rows[hit]
    for bit, pattern in frequent:
        groups[rows[_matches(texts, pattern)]] |= bit
    if frequent and len(rare) > 1:
        _cascade(texts, rows, groups, rare)
        return
    for bit, pattern in rare:
        groups[rows[_matches(texts, pattern)]] |= bit


def _selective(texts: pa.Array) -> bool:
    """Whether a union of patterns is worth its own pass before its members are tested:
    RE2 compiles a pattern on every call (a union of the label patterns takes ~6 ms), so
    only when the text to scan outweighs that (``_LARGE`` bytes)."""
    return bool(texts.nbytes >= _LARGE)


def _any(texts: pa.Array, table: list[str]) -> npt.NDArray[np.bool_]:
    """Per row, whether any pattern of ``table`` matches: one RE2 pass of their union, or,
    past ``_UNION_CHARS`` of pattern, a pass per chunk over the rows still unmatched.

    RE2 runs a union as one DFA as long as the DFA fits its memory budget, and falls
    back to an engine a hundred times slower past it (as ``people._name_filter`` says for
    names): the label patterns in five languages together outgrew it (a 65,536-row batch
    took 45 s instead of 0.1 s), so the union is cut into chunks the size it had when it
    was known to fit."""
    chunks: list[list[str]] = [[]]
    size = 0
    for pattern in table:
        if chunks[-1] and size + len(pattern) > _UNION_CHARS:
            chunks.append([])
            size = 0
        chunks[-1].append(pattern)
        size += len(pattern)
    hit = _matches(texts, union(chunks[0]))
    for chunk in chunks[1:]:
        rest = np.flatnonzero(~hit)
        if not len(rest):
            break
        hit[rest[_matches(texts.take(pa.array(rest)), union(chunk))]] = True
    return hit


def union(table: Iterable[str]) -> str:
    """One RE2 alternation of prefilter patterns, each keeping its own flags."""
    return "|".join(f"(?i:{p[4:]})" if p.startswith("(?i)") else f"(?:{p})" for p in table)


def matches(texts: pa.Array, pattern: str) -> npt.NDArray[np.bool_]:
    """Per row, whether the RE2 ``pattern`` matches (null rows: False)."""
    return _matches(texts, pattern)


def _matches(texts: pa.Array, pattern: str) -> npt.NDArray[np.bool_]:
    hit = pc.match_substring_regex(texts, pattern).fill_null(False)
    mask: npt.NDArray[np.bool_] = hit.to_numpy(zero_copy_only=False)
    return mask
