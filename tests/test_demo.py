"""``consentgate demo`` with few members: every step runs or says why it has nothing to show.

``--members 200`` used to end in an IndexError in the withdrawal section (the shard of the
first author of two posts held no second such author), and 60 in another one (no
back-dated withdrawal was drawn). The default demo (3,000 members) is unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from consentgate.demo import _leavers


def _shard_of(member: str, shards: int) -> int:
    return {"a": 0, "b": 1, "c": 1, "d": 2}[member[0]] % shards


def test_the_withdrawing_pair_comes_from_a_shard_that_has_two() -> None:
    # the first author's shard (0) has one author of two posts: the pair comes from shard 1
    counts = [
        {"member_id": m, "as_author": n}
        for m, n in [("a1", 3), ("b1", 2), ("d1", 1), ("c1", 5), ("d2", 4)]
    ]
    acme = [{"member_id": "b1", "as_author": 1}, {"member_id": "d2", "as_author": 2}]
    assert _leavers(counts, acme, _shard_of) == (["b1", "c1"], "d2")


def test_one_or_no_author_of_two_posts() -> None:
    acme = [{"member_id": "a1", "as_author": 1}]
    one = [{"member_id": "a1", "as_author": 2}, {"member_id": "b1", "as_author": 1}]
    assert _leavers(one, acme, _shard_of) == (["a1"], None)
    none = [{"member_id": "a1", "as_author": 1}]
    assert _leavers(none, acme, _shard_of) == ([], None)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("members", "note"),
    [
        (50, "too few members for this step"),
        (60, "no back-dated withdrawal among these members"),
    ],
)
def test_a_small_demo_runs_to_the_end(
    members: int,
    note: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from consentgate.cli import main

    monkeypatch.setenv("CONSENTGATE_KEY_DIR", str(tmp_path / "keys"))
    try:
        main(["demo", "--members", str(members), "--dir", str(tmp_path / "demo")])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    assert code == 0, out.err[-2000:]
    assert note in out.out
    for step in ("4. Effective consent", "7. A withdrawal", "10. Erasure", "11. The ecosystem"):
        assert step in out.out, step
    assert "UNEXPECTED" not in out.out
