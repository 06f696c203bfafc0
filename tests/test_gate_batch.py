"""The gate's batch function: every exclusion reason, the ordering rule, and a property
test of the vectorized ``evaluate`` against a per-record reference written from DESIGN.md."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentgate.errors import InvalidInput
from consentgate.gate.batch import (
    ELIGIBLE,
    REASON,
    REASONS,
    Columns,
    _ascii_words,
    _hash_bytes,
    _hash_words,
    evaluate,
    gate_batch,
    owner_failures,
    prepare,
)
from consentgate.snapshot import (
    GRANTS_SCHEMA,
    MEMBERS_SCHEMA,
    WITHDRAWN_SCHEMA,
    ConsentSnapshot,
    resolve_category,
)

PRIVATE = "user.content.private"
PUBLIC = "user.content.public"
T = datetime(2024, 6, 1, tzinfo=UTC)
BEFORE = T - timedelta(days=1)
AFTER = T + timedelta(days=1)
RECORD_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("category", pa.string()),
        ("author_id", pa.string()),
        ("recipient_ids", pa.list_(pa.string())),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("text", pa.string()),
    ]
)


def make_snapshot(
    members: dict[str, bool],
    grants: Sequence[tuple[str, str, datetime]] = (),
    withdrawn: Sequence[tuple[str, str]] = (),
    categories: tuple[str, ...] = (PRIVATE, PUBLIC),
    as_of: datetime = datetime(2025, 1, 1, tzinfo=UTC),
) -> ConsentSnapshot:
    return ConsentSnapshot(
        use="train_ai_system",
        recipient="first_party",
        as_of=as_of,
        known_at=datetime(2025, 1, 1, tzinfo=UTC),
        categories=categories,
        policy_versions=("v1",),
        grants=pa.Table.from_pylist(
            [{"member_id": m, "category": c, "covers_from": t} for m, c, t in grants],
            schema=GRANTS_SCHEMA,
        ),
        members=pa.Table.from_pylist(
            [{"member_id": m, "erased": e} for m, e in members.items()], schema=MEMBERS_SCHEMA
        ),
        withdrawn=pa.Table.from_pylist(
            [{"member_id": m, "category": c} for m, c in withdrawn], schema=WITHDRAWN_SCHEMA
        ),
    )


def make_batch(rows: Sequence[dict[str, Any]]) -> pa.RecordBatch:
    full = [
        {
            "id": f"r{i}",
            "category": PRIVATE,
            "recipient_ids": None,
            "created_at": T,
            "text": f"text {i}",
            **row,
        }
        for i, row in enumerate(rows)
    ]
    return pa.RecordBatch.from_pylist(full, schema=RECORD_SCHEMA)


# alice, bob and carol consent to both categories from T; dave to nothing; erin withdrew
# private messages; frank is erased; "ghost" is not a member.
SNAPSHOT = make_snapshot(
    {"alice": False, "bob": False, "carol": False, "dave": False, "erin": False, "frank": True},
    grants=[(m, c, T) for m in ("alice", "bob", "carol", "frank") for c in (PRIVATE, PUBLIC)]
    + [("erin", PUBLIC, T)],
    withdrawn=[("erin", PRIVATE)],
)
INDEX = prepare(SNAPSHOT)

CASES: list[tuple[str, dict[str, Any], str | None, list[str]]] = [
    ("post by a consenting author", {"author_id": "alice", "category": PUBLIC}, None, []),
    (
        "message, everyone consents",
        {"author_id": "alice", "recipient_ids": ["bob", "carol"]},
        None,
        [],
    ),
    ("created exactly at covers_from", {"author_id": "alice", "created_at": T}, None, []),
    ("author without consent", {"author_id": "dave"}, "no_consent", ["dave"]),
    (
        "recipient without consent",
        {"author_id": "alice", "recipient_ids": ["bob", "dave"]},
        "no_consent_counterparty",
        ["dave"],
    ),
    ("author withdrew", {"author_id": "erin"}, "withdrawn", ["erin"]),
    (
        "recipient withdrew",
        {"author_id": "alice", "recipient_ids": ["erin"]},
        "withdrawn",
        ["erin"],
    ),
    (
        "withdrawal of a post category does not apply",
        {"author_id": "erin", "category": PUBLIC},
        None,
        [],
    ),
    (
        "no_consent beats withdrawn",
        {"author_id": "dave", "recipient_ids": ["erin"]},
        "no_consent",
        ["dave", "erin"],
    ),
    (
        "no_consent_counterparty beats withdrawn",
        {"author_id": "alice", "recipient_ids": ["erin", "dave"]},
        "no_consent_counterparty",
        ["erin", "dave"],
    ),
    (
        "before the consent scope",
        {"author_id": "alice", "created_at": BEFORE},
        "before_consent_scope",
        ["alice"],
    ),
    (
        "withdrawn beats before_consent_scope",
        {"author_id": "alice", "recipient_ids": ["erin"], "created_at": BEFORE},
        "withdrawn",
        ["alice", "erin"],
    ),
    ("erased author", {"author_id": "frank"}, "erased", ["frank"]),
    (
        "erased beats everything",
        {"author_id": "dave", "recipient_ids": ["ghost", "erin", "frank"], "created_at": BEFORE},
        "erased",
        ["dave", "ghost", "erin", "frank"],
    ),
    ("unknown author", {"author_id": "ghost"}, "unknown_member", ["ghost"]),
    (
        "unknown recipient beats no_consent",
        {"author_id": "dave", "recipient_ids": ["ghost"]},
        "unknown_member",
        ["dave", "ghost"],
    ),
    ("null author is unknown", {"author_id": None}, "unknown_member", []),
    (
        "null recipient is unknown",
        {"author_id": "alice", "recipient_ids": [None]},
        "unknown_member",
        [],
    ),
    ("null recipient list", {"author_id": "alice", "recipient_ids": None}, None, []),
    ("empty recipient list", {"author_id": "alice", "recipient_ids": []}, None, []),
    (
        "author repeated as recipient counts as author",
        {"author_id": "dave", "recipient_ids": ["dave"]},
        "no_consent",
        ["dave"],
    ),
    (
        "recipient listed twice counts once",
        {"author_id": "alice", "recipient_ids": ["dave", "bob", "dave"]},
        "no_consent_counterparty",
        ["dave"],
    ),
    (
        "category outside the snapshot",
        {"author_id": "alice", "category": "user.contact.email"},
        "no_consent",
        ["alice"],
    ),
    ("null category", {"author_id": "alice", "category": None}, "no_consent", ["alice"]),
    (
        "null created_at is before any scope",
        {"author_id": "alice", "created_at": None},
        "before_consent_scope",
        ["alice"],
    ),
]


@pytest.mark.parametrize(
    ("row", "reason", "affected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_reason_and_affected_members(
    row: dict[str, Any], reason: str | None, affected: list[str]
) -> None:
    batch = make_batch([row])
    out = evaluate(batch, INDEX)
    assert out.column(ELIGIBLE).to_pylist() == [reason is None]
    assert out.column(REASON).to_pylist() == [reason]
    failures = owner_failures(batch, INDEX)
    assert failures.column("member_id").to_pylist() == affected


def test_evaluate_keeps_input_columns_and_rows() -> None:
    batch = make_batch([c[1] for c in CASES])
    out = evaluate(batch, INDEX)
    assert out.schema.names == [*RECORD_SCHEMA.names, ELIGIBLE, REASON]
    assert out.select(RECORD_SCHEMA.names).equals(batch)
    assert out.column(REASON).to_pylist() == [c[2] for c in CASES]


def test_owner_failure_reasons_per_member() -> None:
    batch = make_batch([{"author_id": "dave", "recipient_ids": ["erin", "alice", "ghost"]}])
    failures = owner_failures(batch, INDEX).to_pylist()
    assert failures == [
        {"row": 0, "member_id": "dave", "reason": "no_consent"},
        {"row": 0, "member_id": "erin", "reason": "withdrawn"},
        {"row": 0, "member_id": "ghost", "reason": "unknown_member"},
    ]


def test_category_hierarchy_resolves_to_the_deepest_snapshot_category() -> None:
    snap = make_snapshot(
        {"a": False, "b": False},
        grants=[("a", "user.content", T), ("b", "user.content.private", T)],
        categories=("user.content", "user.content.private"),
    )
    index = prepare(snap)
    batch = make_batch(
        [
            {"author_id": "b", "category": "user.content.private.inmail"},  # -> .private
            {"author_id": "a", "category": "user.content.private.inmail"},  # a: only parent
            {"author_id": "a", "category": "user.content.public"},  # -> user.content
            {"author_id": "b", "category": "user.content.public"},
            {"author_id": "a", "category": "user.contentious"},  # not a descendant
        ]
    )
    assert evaluate(batch, index).column(REASON).to_pylist() == [
        None,
        "no_consent",
        None,
        "no_consent",
        "no_consent",
    ]


def test_column_types_are_normalised() -> None:
    """large_string, dictionary categories, large_list, ns and s timestamps, a sliced batch."""
    rows = [c[1] for c in CASES]
    batch = make_batch(rows)
    expected = evaluate(batch, INDEX).column(REASON).to_pylist()
    for unit in ("s", "ms", "ns"):
        variant = pa.RecordBatch.from_arrays(
            [
                batch.column("id").cast(pa.large_string()),
                batch.column("category").dictionary_encode(),
                batch.column("author_id").cast(pa.large_string()),
                batch.column("recipient_ids").cast(pa.large_list(pa.large_string())),
                batch.column("created_at").cast(pa.timestamp(unit, tz="Europe/Paris")),
                batch.column("text"),
            ],
            names=RECORD_SCHEMA.names,
        )
        assert evaluate(variant, INDEX).column(REASON).to_pylist() == expected
    sliced = batch.slice(3, 9)
    assert evaluate(sliced, INDEX).column(REASON).to_pylist() == expected[3:12]


def test_nanosecond_before_covers_from_is_out_of_scope() -> None:
    at = int(T.timestamp()) * 10**9
    just_before = pa.array([at - 1, at], pa.int64())
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(["r0", "r1"]),
            pa.array([PUBLIC, PUBLIC]),
            pa.array(["alice", "alice"]),
            pa.nulls(2, pa.list_(pa.string())),
            just_before.cast(pa.timestamp("ns", tz="UTC")),
        ],
        names=["id", "category", "author_id", "recipient_ids", "created_at"],
    )
    assert evaluate(batch, INDEX).column(REASON).to_pylist() == ["before_consent_scope", None]


def test_column_map_reads_renamed_columns() -> None:
    batch = make_batch([c[1] for c in CASES])
    renamed = batch.rename_columns(["mid", "kind", "sender", "to", "ts", "body"])
    columns = Columns.from_map(
        {
            "id": "mid",
            "category": "kind",
            "author_id": "sender",
            "recipient_ids": "to",
            "created_at": "ts",
        }
    )
    assert (
        evaluate(renamed, INDEX, columns=columns).column(REASON).to_pylist()
        == evaluate(batch, INDEX).column(REASON).to_pylist()
    )


def test_column_map_refuses_unknown_keys() -> None:
    with pytest.raises(InvalidInput, match="unknown column 'sender'"):
        Columns.from_map({"sender": "from"})


def test_prepare_refuses_duplicate_members() -> None:
    snap = dataclasses.replace(
        SNAPSHOT,
        members=pa.Table.from_pylist(
            [{"member_id": "a", "erased": False}] * 2, schema=MEMBERS_SCHEMA
        ),
    )
    with pytest.raises(InvalidInput, match="duplicate member ids"):
        prepare(snap)


def test_index_survives_pickling() -> None:
    batch = make_batch([c[1] for c in CASES])
    clone = pickle.loads(pickle.dumps(INDEX))
    assert evaluate(batch, clone).equals(evaluate(batch, INDEX))


# ------------------------------------------------------------------ member lookups


LOOKUP_MEMBERS = ["alice", "bob", "a", "a\0", "", "x" * 64]


@pytest.mark.parametrize(
    "members",
    [
        LOOKUP_MEMBERS,  # ASCII <= 64 bytes: fixed-width words
        [*LOOKUP_MEMBERS, "zoë"],  # non-ASCII: byte hashing
        [*LOOKUP_MEMBERS, "y" * 65],  # longer than 64 bytes: byte hashing
    ],
    ids=["words", "unicode", "long"],
)
def test_lookup_finds_exactly_the_members(members: list[str]) -> None:
    index = prepare(make_snapshot(dict.fromkeys(members, False)))
    queries = [*members, None, "alic", "alice ", "a\0\0", "zoe", "x" * 65, "bob\0", "é"]
    expected = [members.index(q) if q in members else -1 for q in queries]
    assert index.lookup(pa.array(queries, pa.string())).tolist() == expected
    assert index.lookup(pa.array(queries, pa.large_string())).tolist() == expected
    assert index.lookup(pa.array(queries[2:], pa.string())).tolist() == expected[2:]
    plain = dataclasses.replace(index, slot_hash=None, slot_row=None)
    assert plain.lookup(pa.array(queries, pa.string())).tolist() == expected


@pytest.mark.parametrize("members", [["alice", "bob"], ["alice", "bøb"]], ids=["words", "bytes"])
def test_lookup_confirms_hash_hits_by_comparing_ids(members: list[str]) -> None:
    """A stranger whose hash lands on a member's slot is still not that member."""
    index = prepare(make_snapshot(dict.fromkeys(members, False)))
    assert index.slot_hash is not None and index.slot_row is not None
    stranger = pa.array(["mallory"])
    if index.member_words is not None:
        words, lengths, _ = _ascii_words(stranger, index.width)
        fake = _hash_words(words, lengths, index.salt)[0]
    else:
        fake = _hash_bytes(stranger, index.salt)[0]
    slot_hash = index.slot_hash.copy()
    slot_row = index.slot_row.copy()
    home = int(fake) & (len(slot_hash) - 1)
    while slot_hash[home] != 0:
        home = (home + 1) & (len(slot_hash) - 1)
    slot_hash[home] = fake
    slot_row[home] = 0  # pretend the stranger is members[0]
    forged = dataclasses.replace(index, slot_hash=slot_hash, slot_row=slot_row)
    assert forged.lookup(stranger).tolist() == [-1]
    assert forged.lookup(pa.array(members)).tolist() == [0, 1]


def test_lookup_on_a_large_member_set() -> None:
    ids = [f"member-{i:06d}" for i in range(50_000)]
    index = prepare(make_snapshot(dict.fromkeys(ids, False)))
    rng = np.random.default_rng(1)
    picks = rng.integers(0, 60_000, 20_000)
    queries = pa.array([f"member-{i:06d}" for i in picks])
    assert index.lookup(queries).tolist() == [int(i) if i < 50_000 else -1 for i in picks]


# ------------------------------------------------------------------------ redaction


@dataclass(frozen=True)
class FakeResult:
    texts: pa.Array
    excluded: pa.Array
    redactions: dict[str, int]
    exclusions: dict[str, int]


class FakeRedactor:
    """Upper-cases texts; excludes any text mentioning a diagnosis."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], list[list[str]] | None]] = []

    def apply(self, texts: pa.Array, participants: pa.Array | None) -> FakeResult:
        values = texts.to_pylist()
        self.calls.append((values, participants.to_pylist() if participants is not None else None))
        excluded = ["sensitive_content:health" if "diagnosis" in t else None for t in values]
        return FakeResult(
            texts=pa.array([t.upper() for t in values]),
            excluded=pa.array(excluded, pa.string()),
            redactions={"PERSON": len(values)},
            exclusions={"health": sum(e is not None for e in excluded)},
        )


def test_redactor_sees_only_eligible_rows_and_can_exclude() -> None:
    batch = make_batch(
        [
            {"author_id": "alice", "recipient_ids": ["bob", "alice"], "text": "hello bob"},
            {"author_id": "dave", "text": "not eligible"},
            {"author_id": "bob", "text": "my diagnosis"},
            {"author_id": "carol", "category": PUBLIC, "text": "a post"},
        ]
    )
    redactor = FakeRedactor()
    out = gate_batch(batch, INDEX, redactor=redactor)
    assert redactor.calls == [
        (["hello bob", "my diagnosis", "a post"], [["alice", "bob", "alice"], ["bob"], ["carol"]])
    ]
    assert out.batch.column("text").to_pylist() == [
        "HELLO BOB",
        "not eligible",
        "MY DIAGNOSIS",
        "A POST",
    ]
    assert out.batch.column(REASON).to_pylist() == [
        None,
        "no_consent",
        "sensitive_content:health",
        None,
    ]
    assert out.eligible.tolist() == [True, False, False, True]
    assert dict(out.redactions) == {"PERSON": 3}
    assert dict(out.exclusions) == {"health": 1}


def test_redactor_is_not_called_without_eligible_rows() -> None:
    redactor = FakeRedactor()
    out = gate_batch(make_batch([{"author_id": "dave"}]), INDEX, redactor=redactor)
    assert redactor.calls == []
    assert out.batch.column("text").to_pylist() == ["text 0"]


# ------------------------------------------------------------- property: reference


SEVERITY = {reason: i for i, reason in enumerate(REASONS)}


def reference(
    snapshot: ConsentSnapshot, row: dict[str, Any]
) -> tuple[str | None, list[tuple[str, str]]]:
    """DESIGN.md "Record eligibility", one record at a time."""
    members = {m["member_id"]: m["erased"] for m in snapshot.members.to_pylist()}
    grants: dict[tuple[str, str], datetime] = {}
    for g in snapshot.grants.to_pylist():
        key = (g["member_id"], g["category"])
        grants[key] = max(grants.get(key, g["covers_from"]), g["covers_from"])
    withdrawn = {(w["member_id"], w["category"]) for w in snapshot.withdrawn.to_pylist()}
    c = row["category"]
    target = resolve_category(c, snapshot.categories) if c is not None else None
    owners: list[str | None] = [row["author_id"]]
    for r in row["recipient_ids"] or []:
        if r is None or r not in owners:
            owners.append(r)
    failures: list[tuple[str, str | None]] = []
    for position, owner in enumerate(owners):
        if owner is not None and members.get(owner):
            failures.append(("erased", owner))
        elif owner is None or owner not in members:
            failures.append(("unknown_member", owner))
        elif target is None or (owner, target) not in grants:
            if (owner, target) in withdrawn:
                failures.append(("withdrawn", owner))
            else:
                failures.append(
                    ("no_consent" if position == 0 else "no_consent_counterparty", owner)
                )
        elif row["created_at"] is None or row["created_at"] < grants[(owner, target)]:
            failures.append(("before_consent_scope", owner))
    if not failures:
        return None, []
    reason = min((f[0] for f in failures), key=SEVERITY.__getitem__)
    return reason, [(m, r) for r, m in failures if m is not None]


ASCII_POOL = ["m1", "m2", "m3", "m4", "m5", "m6", "longer-member-id-7"]
MIXED_POOL = ["m1", "m2", "zoë", "m4", "名前", "m6", "x" * 80]
CATEGORY_TREE = ("user.content", "user.content.private", "user.content.public")
RECORD_CATEGORIES = [*CATEGORY_TREE, "user.content.private.inmail", "user.contact.email", None]
TIMES = [T + timedelta(hours=h) for h in (-48, -1, 0, 1, 48)]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[ConsentSnapshot, list[dict[str, Any]]]:
    pool = draw(st.sampled_from([ASCII_POOL, MIXED_POOL]))
    members = draw(st.lists(st.sampled_from(pool), unique=True, min_size=1))
    erased = {m: draw(st.booleans()) if draw(st.integers(0, 4)) == 0 else False for m in members}
    categories = tuple(draw(st.lists(st.sampled_from(CATEGORY_TREE), unique=True, max_size=3)))
    grant_keys = draw(
        st.lists(st.tuples(st.sampled_from(pool), st.sampled_from(CATEGORY_TREE)), max_size=20)
    )
    grants = [(m, c, draw(st.sampled_from(TIMES))) for m, c in grant_keys]
    withdrawn = draw(
        st.lists(
            st.tuples(st.sampled_from(pool), st.sampled_from(CATEGORY_TREE)),
            unique=True,
            max_size=8,
        )
    )
    owner = st.one_of(st.sampled_from(pool), st.just("stranger"), st.none())
    rows = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "category": st.sampled_from(RECORD_CATEGORIES),
                    "author_id": owner,
                    "recipient_ids": st.one_of(st.none(), st.lists(owner, max_size=4)),
                    "created_at": st.one_of(st.sampled_from(TIMES), st.none()),
                }
            ),
            min_size=1,
            max_size=30,
        )
    )
    return make_snapshot(erased, grants, withdrawn, categories), rows


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_evaluate_matches_the_per_record_reference(
    scenario: tuple[ConsentSnapshot, list[dict[str, Any]]],
) -> None:
    snapshot, rows = scenario
    batch = make_batch(rows)
    index = prepare(snapshot)
    out = evaluate(batch, index)
    expected = [reference(snapshot, row) for row in batch.to_pylist()]
    assert out.column(REASON).to_pylist() == [e[0] for e in expected]
    assert out.column(ELIGIBLE).to_pylist() == [e[0] is None for e in expected]
    failures = owner_failures(batch, index)
    by_row: dict[int, list[tuple[str, str]]] = {}
    for f in failures.to_pylist():
        by_row.setdefault(f["row"], []).append((f["member_id"], f["reason"]))
    assert [by_row.get(i, []) for i in range(len(rows))] == [e[1] for e in expected]


# ------------------------------------------------- two times: the cutoff and the build


CUTOFF = T
BUILT = T + timedelta(hours=24)


def reference_build(
    at_cutoff: ConsentSnapshot, at_build: ConsentSnapshot, row: dict[str, Any]
) -> str | None:
    """DESIGN.md "Record eligibility" for a build: bad input first, then the checks at the
    cutoff (owners, then after_as_of), then the owner checks at the build time."""
    created = row["created_at"]
    if created is not None and created > at_build.as_of:
        return "created_after_build"
    reason, _ = reference(at_cutoff, row)
    if reason is not None:
        return reason
    if created is not None and created > at_cutoff.as_of:
        return "after_as_of"
    return reference(at_build, row)[0]


@st.composite
def build_scenarios(
    draw: st.DrawFn,
) -> tuple[ConsentSnapshot, ConsentSnapshot, list[dict[str, Any]]]:
    first, rows = draw(scenarios())
    members = first.members.column("member_id").to_pylist()
    pool = sorted({*members, *ASCII_POOL[:3]})
    erased = {
        m: e or draw(st.integers(0, 5)) == 0
        for m, e in zip(members, first.members.column("erased").to_pylist(), strict=True)
    }
    grants = [
        (m, c, draw(st.sampled_from(TIMES)))
        for m, c in draw(
            st.lists(st.tuples(st.sampled_from(pool), st.sampled_from(CATEGORY_TREE)), max_size=20)
        )
    ]
    withdrawn = draw(
        st.lists(
            st.tuples(st.sampled_from(pool), st.sampled_from(CATEGORY_TREE)),
            unique=True,
            max_size=8,
        )
    )
    at_cutoff = dataclasses.replace(first, as_of=CUTOFF)
    at_build = make_snapshot(erased, grants, withdrawn, first.categories, as_of=BUILT)
    return at_cutoff, at_build, rows


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(build_scenarios())
def test_two_time_evaluate_matches_the_reference(
    scenario: tuple[ConsentSnapshot, ConsentSnapshot, list[dict[str, Any]]],
) -> None:
    at_cutoff, at_build, rows = scenario
    batch = make_batch(rows)
    out = evaluate(batch, prepare(at_cutoff, at_build=at_build))
    expected = [reference_build(at_cutoff, at_build, row) for row in batch.to_pylist()]
    assert out.column(REASON).to_pylist() == expected


def test_withdrawal_after_the_cutoff_excludes_with_withdrawn() -> None:
    """Eligible at the cutoff, withdrawn by the build: out, as ``withdrawn``; a record that
    fails at the cutoff keeps the cutoff's reason; the build time's erasure is ``erased``."""
    at_cutoff = make_snapshot(
        {"alice": False, "bob": False, "dave": False},
        grants=[("alice", PRIVATE, BEFORE), ("bob", PRIVATE, BEFORE)],
        as_of=CUTOFF,
    )
    at_build = make_snapshot(
        {"alice": False, "bob": True, "dave": False},
        grants=[("bob", PRIVATE, BEFORE)],
        withdrawn=[("alice", PRIVATE)],
        as_of=BUILT,
    )
    index = prepare(at_cutoff, at_build=at_build)
    assert index.two_times
    batch = make_batch(
        [
            {"author_id": "alice"},
            {"author_id": "bob"},
            {"author_id": "dave", "recipient_ids": ["alice"]},
            {"author_id": "alice", "created_at": CUTOFF + timedelta(hours=1)},
            {"author_id": "alice", "created_at": BUILT + timedelta(seconds=1)},
        ]
    )
    assert evaluate(batch, index).column(REASON).to_pylist() == [
        "withdrawn",
        "erased",
        "no_consent",
        "after_as_of",
        "created_after_build",
    ]
    failures = owner_failures(batch.slice(0, 1), index).to_pylist()
    assert failures == [{"row": 0, "member_id": "alice", "reason": "withdrawn"}]


def test_same_consent_at_both_times_keeps_one_state_column() -> None:
    at_build = dataclasses.replace(SNAPSHOT, as_of=SNAPSHOT.as_of + timedelta(days=1))
    index = prepare(SNAPSHOT, at_build=at_build)
    assert not index.two_times
    assert index.built_at_us > index.as_of_us
    batch = make_batch([c[1] for c in CASES])
    assert evaluate(batch, index).equals(evaluate(batch, INDEX))


def test_snapshots_of_another_scope_do_not_pair() -> None:
    other = dataclasses.replace(SNAPSHOT, recipient="acme-ai")
    with pytest.raises(InvalidInput, match="recipient"):
        prepare(SNAPSHOT, at_build=other)
    earlier = dataclasses.replace(SNAPSHOT, as_of=SNAPSHOT.as_of - timedelta(days=1))
    with pytest.raises(InvalidInput, match="cutoff is after the build time"):
        prepare(SNAPSHOT, at_build=earlier)
