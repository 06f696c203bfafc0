"""The faster paths of a build (issue 12) give what the plain definitions give."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from consentgate.gate.sink import Owners, unique_ints
from consentgate.store.registry import _member_rows, members_digest
from consentgate.tlog.membership import MemberTree, member_key, member_keys, member_secret


@pytest.mark.parametrize("n", [0, 1, 2, 1000, 70_000])
def test_unique_ints_is_np_unique(n: int) -> None:
    rng = np.random.default_rng(n)
    values = rng.integers(0, max(n // 3, 1), n).astype(np.int64)
    assert np.array_equal(unique_ints(values), np.unique(values))
    grouped = np.repeat(np.arange(n // 10 + 1), 10)[:n] * 1000 + values % 7  # by row
    assert np.array_equal(unique_ints(grouped), np.unique(grouped))


def test_participants_are_distinct_non_authors_by_row() -> None:
    owners = Owners(
        author=np.array([5, 6], np.int64),
        recipient=np.array([5, 7, 7, 3, 6, 3], np.int64),
        parent=np.array([0, 0, 0, 1, 1, 1], np.int64),
    )
    rows, members = owners.participants(10)
    assert rows.tolist() == [0, 1] and members.tolist() == [7, 3]


def test_member_keys_are_member_key_of_member_secret() -> None:
    key = bytes(range(32))
    ids = ["m1", "mé", "m" * 200, "m1"]
    expected = [member_key(member_secret(key, m), m, "d" * 64) for m in ids]
    assert member_keys(key, ids, "d" * 64) == expected
    assert MemberTree(expected).size == 3
    with pytest.raises(Exception, match="dataset id"):
        member_keys(key, ids, "a\x00b")
    with pytest.raises(Exception, match="workspace key"):
        member_keys(b"short", ids, "d" * 64)


def test_registry_rows_and_digest_match_the_row_by_row_definition() -> None:
    counts = pa.table(
        {
            "member_id": ["b", "a", "c"],
            "as_author": pa.array([2, 0, 1], pa.int64()),
            "as_participant": pa.array([0, 3, 1], pa.int64()),
            "shards": pa.array([[1, 4], [0], None], pa.list_(pa.int32())),
        }
    )
    rows, digest = _member_rows("ds", counts)
    assert rows == [
        ("ds", "a", 0, 3, "[0]"),
        ("ds", "b", 2, 0, "[1, 4]"),
        ("ds", "c", 1, 1, None),
    ]
    assert digest == members_digest(
        iter([("a", 0, 3, [0]), ("b", 2, 0, [1, 4]), ("c", 1, 1, None)])
    )
