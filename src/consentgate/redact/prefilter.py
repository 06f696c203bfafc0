"""Which detector groups are worth running on each row of a batch, decided in RE2.

Every identifier recognizer and every label has a prefilter pattern that is a necessary
condition for it to fire. ``groups`` runs them over a whole Arrow string array with
``pyarrow.compute.match_substring_regex`` (RE2, in C++, no Python per row) and returns
each row's bit mask; the engine then runs only the Python detectors of set bits.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from consentgate.redact import patterns, sensitive

__all__ = ["groups"]


def groups(texts: pa.Array, bits: int) -> npt.NDArray[np.int64]:
    """Per row, the OR of the group bits (within ``bits``) whose prefilter matches.

    They run as RE2 in ``pyarrow.compute``. Label prefilters run first as one
    alternation, then one by one on the rows that matched it: on short texts the per-row
    cost of an RE2 call, not the scan, dominates.
    """
    groups = np.zeros(len(texts), np.int64)
    if len(texts) == 0:
        return groups
    rare = [(b, p) for b, p in patterns.PREFILTERS.items() if bits & b and b & patterns.RARE]
    for bit, pattern in patterns.PREFILTERS.items():
        if bits & bit and not bit & patterns.RARE:
            groups[_matches(texts, pattern)] |= bit
    _by_subset(texts, groups, rare, "|".join(f"(?:{p})" for _, p in rare))
    label_bits = [(b, p) for b, p in sensitive.PREFILTERS.items() if bits & b]
    union = "(?i)" + "|".join(f"(?:{p.removeprefix('(?i)')})" for _, p in label_bits)
    _by_subset(texts, groups, label_bits, union)
    for label, bit in sensitive.NEGATIVE_BITS.items():
        trigger = sensitive.LABEL_BITS[label]
        if bits & bit and bits & trigger:
            rows = np.flatnonzero(groups & trigger)
            if len(rows):
                subset = texts.take(pa.array(rows))
                groups[rows[_matches(subset, sensitive.NEGATIVE_PREFILTERS[bit])]] |= bit
    return groups


def _by_subset(
    texts: pa.Array, groups: npt.NDArray[np.int64], table: list[tuple[int, str]], union: str
) -> None:
    """Set the bits of ``table`` on the rows matching them, testing each pattern only on
    the rows that match their ``union``."""
    if not table:
        return
    rows = np.flatnonzero(_matches(texts, union))
    if len(rows):
        subset = texts.take(pa.array(rows))
        for bit, pattern in table:
            groups[rows[_matches(subset, pattern)]] |= bit


def _matches(texts: pa.Array, pattern: str) -> npt.NDArray[np.bool_]:
    hit = pc.match_substring_regex(texts, pattern).fill_null(False)
    mask: npt.NDArray[np.bool_] = hit.to_numpy(zero_copy_only=False)
    return mask
