"""SISA unlearning: exact shard retraining, votes, sharding keys, persistence."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate.errors import Conflict, InvalidInput, SchemaMismatch
from consentgate.unlearn import (
    ColumnFeatures,
    Shard,
    ShardedModel,
    TextFeatures,
    assign_shards,
    conversation_key,
    load_model,
    member_mask,
    retrain,
    save_model,
    shard_fingerprint,
    shard_of,
    shards_touched,
    train_shards,
)

SHARDS = 4


@pytest.fixture(scope="module")
def sklearn() -> Iterator[Any]:
    """scikit-learn, with BLAS on one thread: small fits crawl on a busy shared machine."""
    module = pytest.importorskip("sklearn")
    import sklearn.linear_model  # noqa: F401  (load BLAS before limiting it)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield module


@pytest.fixture(scope="module")
def digits(sklearn: Any) -> pa.Table:
    """600 digits images owned by 40 members, sharded by author."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(7)
    n = 600
    table = pa.table(
        {
            "id": [f"rec-{i:04d}" for i in range(n)],
            "author_id": [f"member-{k:02d}" for k in rng.integers(0, 40, n)],
            "pixels": pa.array(list(X[:n] / 16.0), type=pa.list_(pa.float64())),
            "label": pa.array(y[:n], type=pa.int64()),
        }
    )
    return assign_shards(table, SHARDS)


@pytest.fixture(scope="module")
def holdout(sklearn: Any) -> pa.Table:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return pa.table(
        {
            "pixels": pa.array(list(X[1500:] / 16.0), type=pa.list_(pa.float64())),
            "label": pa.array(y[1500:], type=pa.int64()),
        }
    )


def logistic() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000)


def random_tree() -> Any:
    from sklearn.tree import DecisionTreeClassifier

    # max_features < 1 makes the tree depend on its random_state
    return DecisionTreeClassifier(max_features=0.5, max_depth=8)


def without(table: pa.Table, member: str) -> pa.Table:
    return table.filter(pc.invert(member_mask(table, member)))


def busiest_member(table: pa.Table) -> str:
    counts = Counter(table.column("author_id").to_pylist())
    return min(counts, key=lambda m: (-counts[m], m))


def shuffled(table: pa.Table, seed: int) -> pa.Table:
    order = np.random.default_rng(seed).permutation(table.num_rows)
    return table.take(pa.array(order))


def assert_same_tree(a: Any, b: Any) -> None:
    for name in ("children_left", "children_right", "feature", "threshold", "value"):
        assert np.array_equal(getattr(a.tree_, name), getattr(b.tree_, name)), name


# --- exactness: retraining a shard == training it from scratch without the member ---


def test_retrained_shard_equals_shard_trained_from_scratch_without_member(
    digits: pa.Table,
) -> None:
    model = train_shards(
        digits, features="pixels", label="label", estimator_factory=logistic, seed=3
    )
    member = busiest_member(digits)
    remaining = without(digits, member)
    result = retrain(model, remaining)
    scratch = train_shards(
        shuffled(remaining, 1),
        features="pixels",
        label="label",
        estimator_factory=logistic,
        seed=3,
        shards=SHARDS,
    )
    assert result.retrained == (shard_of(member, SHARDS),)
    for index in result.retrained:
        mine, theirs = result.model.shards[index].estimator, scratch.shards[index].estimator
        assert np.array_equal(mine.coef_, theirs.coef_)
        assert np.array_equal(mine.intercept_, theirs.intercept_)
    pixels = np.asarray(pc.list_flatten(digits.column("pixels").combine_chunks())).reshape(-1, 64)
    assert np.array_equal(result.model.predict(pixels), scratch.predict(pixels))
    assert result.model.fingerprints == scratch.fingerprints
    # and the member was really in the shard: its coefficients moved
    old = model.shards[result.retrained[0]].estimator
    assert not np.array_equal(old.coef_, result.model.shards[result.retrained[0]].estimator.coef_)


def test_retrained_random_tree_has_the_scratch_tree_structure(digits: pa.Table) -> None:
    model = train_shards(
        digits, features="pixels", label="label", estimator_factory=random_tree, seed=11
    )
    member = busiest_member(digits)
    result = retrain(model, without(digits, member))
    scratch = train_shards(
        shuffled(without(digits, member), 2),
        features=ColumnFeatures(("pixels",)),
        label="label",
        estimator_factory=random_tree,
        seed=11,
        shards=SHARDS,
    )
    (index,) = result.retrained
    assert_same_tree(result.model.shards[index].estimator, scratch.shards[index].estimator)
    # a different seed grows a different tree: the equality above is not vacuous
    other = train_shards(
        digits, features="pixels", label="label", estimator_factory=random_tree, seed=12
    )
    assert not np.array_equal(
        other.shards[0].estimator.tree_.feature, model.shards[0].estimator.tree_.feature
    )


# --- untouched shards are not retrained ---


class CountingLogistic:
    """A LogisticRegression that counts its fits (class-level, reset per test)."""

    fits: ClassVar[int] = 0

    def __init__(self, C: float = 1.0, random_state: int | None = None) -> None:
        self.C = C
        self.random_state = random_state

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"C": self.C, "random_state": self.random_state}

    def set_params(self, **params: Any) -> CountingLogistic:
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def fit(self, X: Any, y: Any) -> CountingLogistic:
        from sklearn.linear_model import LogisticRegression

        type(self).fits += 1
        self.inner_ = LogisticRegression(C=self.C, max_iter=2000).fit(X, y)
        return self

    def predict(self, X: Any) -> Any:
        return self.inner_.predict(X)


def test_only_shards_holding_the_member_are_retrained(digits: pa.Table) -> None:
    CountingLogistic.fits = 0
    model = train_shards(
        digits, features="pixels", label="label", estimator_factory=CountingLogistic, seed=5
    )
    assert CountingLogistic.fits == SHARDS
    members = sorted(set(digits.column("author_id").to_pylist()))[:3]
    remaining = digits
    for member in members:
        remaining = without(remaining, member)
    expected = set().union(*(shards_touched(digits, m) for m in members))
    assert 0 < len(expected) < SHARDS  # the fixture must leave some shard untouched

    CountingLogistic.fits = 0
    result = retrain(model, remaining)
    assert set(result.retrained) == expected
    assert CountingLogistic.fits == len(expected)
    for index in result.unchanged:
        assert result.model.shards[index] is model.shards[index]
    assert result.rows_trained == sum(result.model.shards[i].rows for i in expected)
    assert result.rows_total == remaining.num_rows
    removed = digits.num_rows - remaining.num_rows
    assert sum(c.rows_before - c.rows_after for c in result.changes) == removed


def test_retrain_on_unchanged_data_trains_nothing(digits: pa.Table) -> None:
    model = train_shards(
        digits, features="pixels", label="label", estimator_factory=CountingLogistic, seed=5
    )
    CountingLogistic.fits = 0
    result = retrain(model, shuffled(digits, 9))
    assert result.retrained == ()
    assert result.rows_trained == 0
    assert CountingLogistic.fits == 0
    assert all(a is b for a, b in zip(result.model.shards, model.shards, strict=True))


def test_retrain_reports_accuracy_before_and_after(digits: pa.Table, holdout: pa.Table) -> None:
    model = train_shards(
        digits, features="pixels", label="label", estimator_factory=logistic, seed=3
    )
    result = retrain(model, without(digits, busiest_member(digits)), holdout=holdout)
    assert result.accuracy_before == model.score(holdout)
    assert result.accuracy_after == result.model.score(holdout)
    assert result.accuracy_after is not None and result.accuracy_after > 0.8
    evidence = result.evidence()
    assert evidence["shards_retrained"] == list(result.retrained)
    assert evidence["fingerprints"] == list(result.model.fingerprints)
    json.dumps(evidence)


# --- determinism ---


def test_training_is_deterministic_whatever_the_row_order_or_source(
    digits: pa.Table, tmp_path: Path
) -> None:
    mixed = shuffled(digits, 4)
    (tmp_path / "data").mkdir()
    for i, start in enumerate(range(0, digits.num_rows, 150)):
        pq.write_table(mixed.slice(start, 150), tmp_path / "data" / f"part-{i}.parquet")
    # a dataset dir holds its manifest and shard map beside data/: never read as training rows
    (tmp_path / "manifest.json").write_text("{}")
    pq.write_table(pa.table({"member_id": ["m1"], "shard": [0]}), tmp_path / "shards.parquet")
    a = train_shards(digits, features="pixels", label="label", estimator_factory=logistic, seed=3)
    b = train_shards(tmp_path, features="pixels", label="label", estimator_factory=logistic, seed=3)
    assert a.fingerprints == b.fingerprints
    for sa, sb in zip(a.shards, b.shards, strict=True):
        assert np.array_equal(sa.estimator.coef_, sb.estimator.coef_)
        assert sa.seed == sb.seed


def test_fingerprint_is_sha256_over_sorted_length_prefixed_ids(digits: pa.Table) -> None:
    model = train_shards(
        digits, features="pixels", label="label", estimator_factory=logistic, seed=3
    )
    for shard in model.shards:
        ids = pc.filter(digits.column("id"), pc.equal(digits.column("shard"), shard.index))
        digest = hashlib.sha256()
        for record_id in sorted(ids.to_pylist()):
            digest.update(len(record_id.encode()).to_bytes(4, "big") + record_id.encode())
        assert shard.fingerprint == digest.hexdigest()
        assert shard.rows == len(ids)
    assert shard_fingerprint(["b", "a"]) == shard_fingerprint(["a", "b"])
    assert shard_fingerprint(["ab", "c"]) != shard_fingerprint(["a", "bc"])


def test_shard_seeds_differ_between_shards_and_follow_the_model_seed(digits: pa.Table) -> None:
    a = train_shards(digits, features="pixels", label="label", estimator_factory=logistic, seed=3)
    b = train_shards(digits, features="pixels", label="label", estimator_factory=logistic, seed=4)
    assert len({s.seed for s in a.shards}) == SHARDS
    assert [s.seed for s in a.shards] != [s.seed for s in b.shards]
    assert all(s.estimator.random_state == s.seed for s in a.shards)


# --- votes ---


class Fixed:
    """A fitted stand-in that predicts a fixed label sequence."""

    def __init__(self, labels: list[Any]) -> None:
        self.labels = labels

    def predict(self, X: Any) -> Any:
        return np.array(self.labels[: X.shape[0]], dtype=object)


def hand_model(predictions: list[list[Any] | None], classes: tuple[Any, ...]) -> ShardedModel:
    shards = tuple(
        Shard(i, "", 0 if p is None else 1, i, estimator=None if p is None else Fixed(p))
        for i, p in enumerate(predictions)
    )
    return ShardedModel(shards, ColumnFeatures(("x",)), "label", classes, None, 0)


def test_majority_vote_on_a_hand_made_example() -> None:
    model = hand_model(
        [
            ["cat", "dog", "cat", "dog", "bird"],
            ["cat", "dog", "dog", "bird", "bird"],
            ["dog", "cat", "bird", "cat", "dog"],
            None,  # an empty shard abstains
        ],
        ("bird", "cat", "dog"),
    )
    X = np.zeros((5, 1))
    votes = model.votes(X)
    assert votes.tolist() == [[0, 2, 1], [0, 1, 2], [1, 1, 1], [1, 1, 1], [2, 0, 1]]
    # rows 2 and 3 are three-way ties: the smallest label wins
    assert model.predict(X).tolist() == ["cat", "dog", "bird", "bird", "bird"]
    assert model.score(X, ["cat", "dog", "dog", "bird", "dog"]) == pytest.approx(0.6)


def test_one_class_shard_votes_its_class_and_tie_goes_to_smallest_int() -> None:
    shards = (
        Shard(0, "", 3, 0, constant=7),
        Shard(1, "", 3, 1, estimator=Fixed([2, 7, 2])),
        Shard(2, "", 3, 2, estimator=Fixed([2, 2, 9])),
    )
    model = ShardedModel(shards, ColumnFeatures(("x",)), "label", (2, 7, 9), None, 0)
    predicted = model.predict(np.zeros((3, 1)))
    assert predicted.tolist() == [2, 7, 2]  # row 2: 7, 2, 9 tie -> 2
    assert predicted.dtype == np.int64


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from([0, 1, 2, 3]), min_size=6, max_size=6) | st.none(),
        min_size=1,
        max_size=7,
    ).filter(lambda shards: any(s is not None for s in shards))
)
def test_vote_matches_a_naive_majority(predictions: list[list[int] | None]) -> None:
    model = hand_model(list(predictions), (0, 1, 2, 3))
    got = model.predict(np.zeros((6, 1))).tolist()
    for row in range(6):
        counts = Counter(p[row] for p in predictions if p is not None)
        top = max(counts.values())
        assert got[row] == min(label for label, c in counts.items() if c == top)


# --- sharding keys and shard-touch ---


def test_shard_of_is_the_big_endian_sha256_prefix_mod_shards() -> None:
    assert shard_of("member-42", 10) == 5  # golden value, fixed by the format
    assert shard_of("ü", 7) == int.from_bytes(hashlib.sha256(b"\xc3\xbc").digest()[:8], "big") % 7
    with pytest.raises(InvalidInput):
        shard_of("x", 0)


@given(st.text(), st.integers(min_value=1, max_value=1000))
def test_shard_of_is_in_range_and_stable(member: str, shards: int) -> None:
    value = shard_of(member, shards)
    assert 0 <= value < shards
    assert shard_of(member, shards) == value


def test_conversation_key_ignores_roles_order_and_duplicates() -> None:
    assert conversation_key(["a", "b", "c"]) == conversation_key(["c", "b", "a", "a"])
    assert conversation_key(["a", "b"]) != conversation_key(["a", "b", "c"])
    assert conversation_key(["bob", "cat", "ann"]) == "ann\x1fbob\x1fcat"  # as the gate keys it


def messages_table() -> pa.Table:
    return pa.table(
        {
            "id": ["m1", "m2", "m3", "m4", "m5"],
            "author_id": ["ann", "bob", "cat", "dan", "ann"],
            "recipient_ids": pa.array(
                [["bob"], ["ann"], ["ann", "dan"], None, []], type=pa.list_(pa.string())
            ),
            "text": ["hi", "hello", "pay rise", "lunch", "note"],
            "topic": ["social", "social", "work", "social", "work"],
        }
    )


def test_shards_touched_counts_rows_as_author_or_recipient() -> None:
    table = messages_table().append_column("shard", pa.array([0, 1, 2, 3, 4], pa.int32()))
    assert shards_touched(table, "ann") == {0, 1, 2, 4}
    assert shards_touched(table, "dan") == {2, 3}
    assert shards_touched(table, "nobody") == set()
    # without a recipients column (e.g. digits) only authorship counts
    assert shards_touched(table.drop_columns(["recipient_ids"]), "ann") == {0, 4}
    assert member_mask(table, "bob").to_pylist() == [True, True, False, False, False]


def test_conversation_sharding_keeps_a_reply_with_its_message() -> None:
    table = messages_table()
    by_author = assign_shards(table, 1000)
    by_conversation = assign_shards(table, 1000, by="conversation")
    authors = table.column("author_id").to_pylist()
    assert by_author.column("shard").to_pylist() == [shard_of(a, 1000) for a in authors]
    shards = by_conversation.column("shard").to_pylist()
    assert shards[0] == shards[1] == shard_of(conversation_key(["ann", "bob"]), 1000)
    assert shards[3] == shard_of(conversation_key(["dan"]), 1000)
    assert by_conversation.column("shard").type == pa.int32()


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from("abcdef"),
            st.lists(st.sampled_from("abcdef"), max_size=3),
            st.integers(0, 5),
        ),
        max_size=30,
    ),
    st.sampled_from("abcdefg"),
)
def test_shards_touched_matches_a_naive_scan(
    rows: list[tuple[str, list[str], int]], member: str
) -> None:
    table = pa.table(
        {
            "author_id": pa.array([r[0] for r in rows], pa.string()),
            "recipient_ids": pa.array([r[1] for r in rows], pa.list_(pa.string())),
            "shard": pa.array([r[2] for r in rows], pa.int64()),
        }
    )
    expected = {s for author, rec, s in rows if member == author or member in rec}
    assert shards_touched(table, member) == expected


# --- text datasets ---


def test_message_text_trains_with_string_labels_one_class_and_empty_shards(
    sklearn: Any,
) -> None:
    rng = np.random.default_rng(0)
    words = {"work": "salary meeting deadline project", "social": "lunch party movie weekend"}
    rows = []
    for i in range(120):
        topic = ["work", "social"][i % 2]
        text = " ".join(rng.choice(words[topic].split(), 4))
        rows.append((f"msg-{i:03d}", f"member-{i % 12}", text, topic, i % 2))
    table = pa.table(
        {
            "id": [r[0] for r in rows],
            "author_id": [r[1] for r in rows],
            "text": [r[2] for r in rows],
            "topic": [r[3] for r in rows],
            # shards 0 and 1 mix topics, shard 2 holds only "social", shard 3 is empty
            "shard": pa.array([i // 40 if i < 80 else 2 * r[4] for i, r in enumerate(rows)]),
        }
    )
    model = train_shards(
        table,
        features=TextFeatures(n_features=2**10),
        label="topic",
        estimator_factory=logistic,
        seed=1,
        shards=4,
    )
    assert model.classes == ("social", "work")
    assert [s.rows for s in model.shards] == [60, 40, 20, 0]
    assert model.shards[2].constant == "social" and model.shards[2].estimator is None
    assert model.shards[3].predict(np.zeros((1, 1))) is None
    probe = pa.table({"text": ["salary deadline meeting", "party movie", None]})
    assert model.predict(probe).tolist()[:2] == ["work", "social"]
    assert model.score(table) > 0.9


# --- persistence ---


def test_saved_model_loads_with_same_predictions_and_can_be_retrained(
    digits: pa.Table, holdout: pa.Table, tmp_path: Path
) -> None:
    model = train_shards(
        digits, features="pixels", label="label", estimator_factory=logistic, seed=3
    )
    digest = save_model(model, tmp_path / "model")
    manifest_bytes = (tmp_path / "model" / "manifest.json").read_bytes()
    assert digest == hashlib.sha256(manifest_bytes).hexdigest()
    manifest = json.loads(manifest_bytes)
    assert [s["fingerprint"] for s in manifest["shards"]] == list(model.fingerprints)
    assert manifest["estimator"]["params"]["max_iter"] == 2000
    assert manifest["seed"] == 3
    loaded = load_model(tmp_path / "model")
    assert np.array_equal(loaded.predict(holdout), model.predict(holdout))
    assert loaded.classes == model.classes
    member = busiest_member(digits)
    a = retrain(loaded, without(digits, member))
    b = retrain(model, without(digits, member))
    assert np.array_equal(a.model.predict(holdout), b.model.predict(holdout))
    assert not list(tmp_path.glob(".model.tmp-*"))
    with pytest.raises(Conflict):
        save_model(model, tmp_path / "model")


def test_tampered_model_file_is_refused(digits: pa.Table, tmp_path: Path) -> None:
    model = train_shards(
        digits, features="pixels", label="label", estimator_factory=logistic, seed=3
    )
    save_model(model, tmp_path / "model")
    shard_file = tmp_path / "model" / "shard-0001.pkl"
    shard_file.write_bytes(shard_file.read_bytes() + b"\x00")
    with pytest.raises(InvalidInput, match="does not match its manifest"):
        load_model(tmp_path / "model")


# --- refused input ---


def test_bad_training_input_is_refused(digits: pa.Table) -> None:
    def train(table: pa.Table, **kw: Any) -> ShardedModel:
        return train_shards(
            table, features="pixels", label="label", estimator_factory=logistic, seed=0, **kw
        )

    duplicated = pa.concat_tables([digits.slice(0, 10), digits.slice(0, 1)])
    with pytest.raises(InvalidInput, match="unique"):
        train(duplicated)
    with pytest.raises(InvalidInput, match="outside"):
        train(digits, shards=2)
    with pytest.raises(SchemaMismatch, match="missing"):
        train(digits.drop_columns(["label"]))
    model = train(digits)
    with pytest.raises(InvalidInput, match="outside"):
        retrain(model, assign_shards(digits, SHARDS + 3))


def test_unlearn_imports_without_sklearn_or_the_store() -> None:
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import consentgate.unlearn as u\n"
        "assert u.shard_of('member-42', 10) == 5\n"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'sqlalchemy' "
        "or m.startswith(('consentgate.store', 'consentgate.cli'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
