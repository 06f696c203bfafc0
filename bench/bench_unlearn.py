"""Benchmark: SISA shard retraining versus a full retrain after one member's withdrawal.

Two datasets, both built in memory (no download):

* digits — scikit-learn's bundled 8x8 digits (1,797 images), 80 % training rows owned by
  synthetic members with skewed activity, 20 % held out; features are the 64 pixels;
* messages — synthetic short messages with a topic label, in conversations of 2-4
  participants (1-3 recipients), hashed text features; a separate held-out set.

For each shard count S, the sharded model is trained, then for several withdrawing
members the remediated table (the member's rows removed; for messages every message
they sent or received) is retrained three ways:

* SISA — ``retrain``: only shards whose record ids changed;
* full — one model on all remaining rows (what a non-sharded model needs);
* all-shards — the whole ensemble from scratch (SISA without the selective part).

Reported: rows trained, median wall time, the SISA/full ratio, and accuracy of the
ensemble against the single model on the held-out rows. A second table gives the
shard-touch cost of a member's withdrawal on messages sharded by author versus by
conversation, over every member. Wall times include reading, fingerprinting and
featurising, not scoring.

    python bench/bench_unlearn.py                 # default sizes, about two minutes
    python bench/bench_unlearn.py --full          # 20,000 messages, 1,000 members
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from consentgate.unlearn import (
    ShardBy,
    TextFeatures,
    assign_shards,
    member_mask,
    retrain,
    shards_touched,
    train_shards,
)

TOPICS = {
    "pay": "salary bonus raise compensation payroll offer equity band review increase",
    "travel": "flight hotel trip airport booking visa itinerary luggage train conference",
    "hiring": "candidate interview resume recruiter role opening referral onsite screen hire",
    "project": "deadline launch roadmap milestone sprint release backlog spec design ship",
    "social": "lunch coffee party weekend dinner drinks birthday game movie hike",
    "health": "doctor appointment sick leave clinic therapy recovery insurance dentist rest",
}
FILLER = "the a to and of for on with this that we you i it is are be can will just please thanks"


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    train: pa.Table
    holdout: pa.Table
    features: Any
    members: list[str]


def digits_dataset(members: int, seed: int) -> Dataset:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    cut = int(len(y) * 0.8)
    names = [f"member-{i:05d}" for i in range(members)]
    activity = rng.lognormal(0.0, 1.0, members)
    owners = rng.choice(members, size=cut, p=activity / activity.sum())

    def table(rows: np.ndarray, owner: list[str] | None) -> pa.Table:
        columns: dict[str, Any] = {
            "id": [f"digit-{i:05d}" for i in rows],
            "pixels": pa.array(list(X[rows] / 16.0), type=pa.list_(pa.float64())),
            "label": pa.array(y[rows], type=pa.int64()),
        }
        if owner is not None:
            columns["author_id"] = owner
        return pa.table(columns)

    train = table(order[:cut], [names[k] for k in owners])
    return Dataset("digits", train, table(order[cut:], None), "pixels", names)


def message_rows(
    rng: np.random.Generator, count: int, names: list[str], conversations: list[list[int]]
) -> dict[str, list[Any]]:
    topics = list(TOPICS)
    vocab = {t: w.split() for t, w in TOPICS.items()}
    every = [w for words in vocab.values() for w in words]
    filler = FILLER.split()
    weights = rng.pareto(1.5, len(conversations)) + 1.0
    picks = rng.choice(len(conversations), size=count, p=weights / weights.sum())
    leaning = rng.integers(0, len(topics), len(conversations))  # each thread has a usual topic
    rows: dict[str, list[Any]] = {k: [] for k in ("author_id", "recipient_ids", "text", "topic")}
    for c in picks:
        people = conversations[c]
        author = people[rng.integers(len(people))]
        topic = topics[leaning[c]] if rng.random() < 0.6 else topics[rng.integers(len(topics))]
        words = []
        for _ in range(rng.integers(4, 12)):
            r = rng.random()
            pool = vocab[topic] if r < 0.45 else every if r < 0.6 else filler
            words.append(pool[rng.integers(len(pool))])
        rows["author_id"].append(names[author])
        rows["recipient_ids"].append([names[p] for p in people if p != author])
        rows["text"].append(" ".join(words))
        rows["topic"].append(topic)
    return rows


def messages_dataset(members: int, messages: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    names = [f"member-{i:05d}" for i in range(members)]
    conversations = [
        [int(p) for p in rng.choice(members, size=rng.integers(2, 5), replace=False)]
        for _ in range(members * 2)
    ]
    train = message_rows(rng, messages, names, conversations)
    test = message_rows(rng, max(1000, messages // 4), names, conversations)
    train_table = pa.table(
        {"id": [f"msg-{i:07d}" for i in range(messages)], **train},
        schema=pa.schema(
            [
                ("id", pa.string()),
                ("author_id", pa.string()),
                ("recipient_ids", pa.list_(pa.string())),
                ("text", pa.string()),
                ("topic", pa.string()),
            ]
        ),
    )
    holdout = pa.table({"text": test["text"], "topic": test["topic"]})
    return Dataset("messages", train_table, holdout, TextFeatures(n_features=2**16), names)


def logistic() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000)


def svc() -> Any:
    from sklearn.svm import SVC

    return SVC()


def linear_svc() -> Any:
    from sklearn.svm import LinearSVC

    return LinearSVC()


ESTIMATORS: dict[str, Callable[[], Any]] = {"logreg": logistic, "svc": svc, "linsvc": linear_svc}


def fastest(fn: Callable[[], float], repeats: int) -> float:
    """Least of ``repeats`` timings: the machine is shared, noise only ever adds time."""
    return min(fn() for _ in range(repeats))


def stopwatch(fn: Callable[[], Any]) -> Callable[[], float]:
    def run() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return run


def retrain_seconds(model: Any, table: pa.Table) -> float:
    return float(retrain(model, table).seconds)


def label_of(data: Dataset) -> str:
    return "label" if data.name == "digits" else "topic"


def withdrawn_rows(table: pa.Table, member: str, scope: str) -> pa.BooleanArray:
    if scope == "author":
        return pc.fill_null(pc.equal(table.column("author_id"), member), False)
    return member_mask(table, member)


def run_case(
    data: Dataset, estimator: str, shards: int, by: ShardBy, scope: str, args: argparse.Namespace
) -> dict[str, Any]:
    factory, label = ESTIMATORS[estimator], label_of(data)
    table = assign_shards(data.train, shards, by=by)
    one_shard = table.set_column(
        table.column_names.index("shard"), "shard", pa.array(np.zeros(table.num_rows, np.int32))
    )

    def train(t: pa.Table, s: int) -> Any:
        return train_shards(
            t, features=data.features, label=label, estimator_factory=factory, seed=0, shards=s
        )

    model = train(table, shards)
    single = train(one_shard, 1)
    fixed = fastest(lambda: retrain(model, table).seconds, args.repeats)
    rng = np.random.default_rng(args.seed + shards)
    owners = sorted(set(table.column("author_id").to_pylist()))
    chosen = rng.choice(len(owners), size=min(args.withdrawals, len(owners)), replace=False)
    sisa_s, full_s, all_s, sisa_rows, touched, removed = [], [], [], [], [], []
    for k in chosen:
        keep = pc.invert(withdrawn_rows(table, owners[k], scope))
        left, left_one = table.filter(keep), one_shard.filter(keep)
        removed.append(table.num_rows - left.num_rows)
        result = retrain(model, left)
        sisa_rows.append(result.rows_trained)
        touched.append(len(result.retrained))
        # retrain's own timer (reading, fingerprinting, training; no scoring)
        sisa_s.append(fastest(partial(retrain_seconds, model, left), args.repeats))
        full_s.append(fastest(stopwatch(partial(train, left_one, 1)), args.repeats))
        all_s.append(fastest(stopwatch(partial(train, left, shards)), args.repeats))
    return {
        "dataset": data.name,
        "estimator": estimator,
        "by": by,
        "scope": scope,
        "S": shards,
        "rows": table.num_rows,
        "removed": statistics.mean(removed),
        "touched": statistics.mean(touched),
        "sisa_rows": statistics.mean(sisa_rows),
        "fixed_s": fixed,
        "sisa_s": statistics.median(sisa_s),
        "full_s": statistics.median(full_s),
        "all_s": statistics.median(all_s),
        "acc_sharded": model.score(data.holdout),
        "acc_single": single.score(data.holdout),
    }


def print_retrain_table(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'dataset':8} {'model':6} {'shard by':12} {'withdraws':11} {'S':>3} {'rows':>5} "
        f"{'gone':>5} {'shards':>6} {'SISA rows':>9} {'fixed ms':>8} {'SISA ms':>8} "
        f"{'full ms':>8} {'all-S ms':>8} {'SISA/full':>9} {'acc S':>6} {'acc 1':>6} {'diff':>5}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        diff = 100 * (r["acc_sharded"] - r["acc_single"])
        scope = "authored" if r["scope"] == "author" else "sent+recv"
        print(
            f"{r['dataset']:8} {r['estimator']:6} {r['by']:12} {scope:11} {r['S']:>3} "
            f"{r['rows']:>5} {r['removed']:>5.1f} {r['touched']:>6.1f} {r['sisa_rows']:>9.0f} "
            f"{1000 * r['fixed_s']:>8.1f} {1000 * r['sisa_s']:>8.1f} "
            f"{1000 * r['full_s']:>8.1f} {1000 * r['all_s']:>8.1f} "
            f"{r['sisa_s'] / r['full_s']:>9.3f} {100 * r['acc_sharded']:>6.1f} "
            f"{100 * r['acc_single']:>6.1f} {diff:>+5.1f}"
        )


def print_touch_table(data: Dataset, shard_counts: list[int]) -> None:
    """Shards (and share of rows) a member's withdrawal touches, over every member."""
    head = (
        f"{'S':>3} {'shard by':12} {'mean shards':>11} {'p50':>4} {'max':>4} "
        f"{'mean rows retrained':>19} {'= share':>7}"
    )
    print(head)
    print("-" * len(head))
    for shards in shard_counts:
        for by in ("author", "conversation"):
            table = assign_shards(data.train, shards, by=by)
            sizes = np.bincount(table.column("shard").to_numpy(), minlength=shards)
            counts, work = [], []
            for member in data.members:
                hit = shards_touched(table, member)
                if hit:
                    counts.append(len(hit))
                    work.append(int(sizes[list(hit)].sum()))
            print(
                f"{shards:>3} {by:12} {statistics.mean(counts):>11.2f} "
                f"{statistics.median(counts):>4.0f} {max(counts):>4} "
                f"{statistics.mean(work):>19.0f} {statistics.mean(work) / table.num_rows:>7.1%}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shards", default="5,10,20", help="comma-separated shard counts")
    parser.add_argument("--members", type=int, default=300)
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--withdrawals", type=int, default=5, help="withdrawing members per S")
    parser.add_argument("--repeats", type=int, default=5, help="timings per measurement")
    parser.add_argument("--digits-estimators", default="logreg,svc", help="of logreg,svc,linsvc")
    parser.add_argument(
        "--message-estimators",
        default="linsvc",
        help="of linsvc,logreg,svc (logreg: lbfgs on 2^16 hashed features, slow per shard)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS/OpenMP threads")
    parser.add_argument("--full", action="store_true", help="20,000 messages, 1,000 members")
    args = parser.parse_args()
    if args.full:
        args.messages, args.members = 20_000, 1000
    # threadpool_limits only reaches BLAS libraries already loaded: import them first
    import sklearn.feature_extraction.text
    import sklearn.linear_model
    import sklearn.svm  # noqa: F401
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    with threadpool_limits(limits=args.blas_threads):
        run(args)


def run(args: argparse.Namespace) -> None:
    shard_counts = [int(s) for s in args.shards.split(",")]
    digits = digits_dataset(args.members, args.seed)
    messages = messages_dataset(args.members, args.messages, args.seed)
    print(
        f"digits: {digits.train.num_rows} training rows, {digits.holdout.num_rows} held out; "
        f"messages: {messages.train.num_rows} training rows, {messages.holdout.num_rows} held "
        f"out; {args.members} members; {args.withdrawals} withdrawals x {args.repeats} "
        f"timings each; {args.blas_threads} BLAS thread(s)\n"
    )
    rows = []
    cases: list[tuple[Dataset, str, ShardBy, str]] = [
        (digits, e, "author", "author") for e in args.digits_estimators.split(",")
    ]
    for estimator in args.message_estimators.split(","):
        for by in ("author", "conversation"):
            cases += [(messages, estimator, by, scope) for scope in ("author", "participant")]
    for data, estimator, by, scope in cases:
        for shards in shard_counts:
            rows.append(run_case(data, estimator, shards, by, scope, args))
    print(
        "Retraining after one member's withdrawal (gone = rows removed, shards = retrained,\n"
        "fixed = retrain() with nothing changed; times are the least of the repeats, then the\n"
        "median over withdrawals; acc S / acc 1 = held-out accuracy of the S-shard ensemble\n"
        "and of one model on all rows, diff in points)"
    )
    print_retrain_table(rows)
    print("\nShard-touch cost of a member's withdrawal on messages (sent or received)")
    print_touch_table(messages, shard_counts)


if __name__ == "__main__":
    main()
