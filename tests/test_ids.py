"""Member and event ids: one alphabet and normal form, checked in one place for every importer
and the CLI, so that SQLite and PostgreSQL accept exactly the same input and a look-alike id
never becomes a second member (docs/formats.md "Ids")."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from factories import day, policy_yaml, setting

from consentgate import ids, ingest, workspace
from consentgate.errors import InvalidInput
from consentgate.store import tables as t

# The real id every look-alike below imitates. No test path contains it, so a message that
# holds it echoed the value.
REAL = "zqmember"

LOOKALIKES = [
    # (what, id, what the refusal says)
    ("zero-width space", "zq\u200bmember", "U+200B"),
    ("trailing space", "zqmember ", "space"),
    ("leading space", " zqmember", "space"),
    ("bidi override", "\u202ezqmember", "U+202E"),
    ("right-to-left mark", "zqmember\u200f", "U+200F"),
    ("Cyrillic е among Latin letters", "zqm\u0435mber", "mixes scripts (Cyrillic, Latin)"),
    ("Greek ο among Latin letters", "zqmemb\u03bfr", "mixes scripts"),
    ("decomposed accent (NFD)", "zqme\u0301mber", "NFC"),
    ("fullwidth letter", "\uff5aqmember", "compatibility character"),
    ("no-break space", "zq\u00a0member", "U+00A0"),
    ("Hangul filler", "zq\u3164member", "U+3164"),
    ("variation selector", "zqmember\ufe0f", "U+FE0F"),
    ("soft hyphen", "zq\u00admember", "U+00AD"),
    ("NUL byte", "zq\x00member", "U+0000"),
    ("tab", "zq\tmember", "U+0009"),
    ("line separator", "zq\u2028member", "U+2028"),
    ("over-long", REAL + "x" * 250, "longer than 255 characters"),
    ("lone surrogate", "zq\ud800member", "U+D800"),
]

GOOD = [
    "m-1",
    "alice.smith@corp",
    "user:42/eu",
    "a b",  # an inner ASCII space is allowed
    "\u00e9lodie",  # é precomposed (NFC)
    "\u7530\u4e2d\u3055\u3093",  # 田中さん: Han and Hiragana together (Japanese)
    "tanaka\u7530\u4e2d",  # Latin with Han
    "\u0395\u03bb\u03ad\u03bd\u03b7",  # Ελένη: Greek alone
    "\u0438\u0432\u0430\u043d-7",  # иван-7: Cyrillic alone, with Common characters
    "x" * 255,
    "\u7530" * 255,  # 255 characters, 765 UTF-8 bytes: fits varchar(255) on PostgreSQL
]


@pytest.mark.parametrize(("what", "value", "says"), LOOKALIKES, ids=[w for w, _, _ in LOOKALIKES])
def test_lookalike_ids_are_refused_with_the_rule_not_the_value(
    what: str, value: str, says: str
) -> None:
    problem = ids.member_id_problem(value)
    assert problem is not None and says in problem
    assert REAL not in problem and "zq" not in problem


@pytest.mark.parametrize("value", GOOD)
def test_ordinary_ids_pass(value: str) -> None:
    assert ids.member_id_problem(value) is None


def test_event_ids_have_their_own_limit() -> None:
    assert ids.event_id_problem("e" * 128) is None
    assert ids.event_id_problem("e" * 129) == "longer than 128 characters"
    assert ids.event_id_problem("e\u200b1") is not None
    assert ids.event_id_problem(7) == "expected a string"


@pytest.mark.parametrize(
    ("evidence", "says"),
    [
        ({"score": float("nan")}, "NaN"),
        ({"score": float("inf")}, "NaN or infinite"),
        ({"deep": [{"score": float("-inf")}]}, "NaN or infinite"),
        ({"ua": "a\x00b"}, "NUL"),
        ({"a\x00": 1}, "NUL"),
        ({"ua": "\ud800"}, "surrogate"),
        ("not an object", "expected an object"),
        (json.loads("[" * 20 + "]" * 20), "expected an object"),
        ({"a": json.loads("[" * 20 + "]" * 20)}, "nested deeper than 16"),
    ],
)
def test_evidence_must_be_storable_json(evidence: Any, says: str) -> None:
    problem = ids.evidence_problem(evidence)
    assert problem is not None and says in problem


def test_ordinary_evidence_passes() -> None:
    assert (
        ids.evidence_problem({"ip_hash": "ab", "n": 1, "x": 1.5, "ok": True, "l": [None]}) is None
    )


# --------------------------------------------------------------------------- through the store


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _write_members(path: Path, member_ids: list[str]) -> None:
    rows = [{"member_id": m, "jurisdiction": "US"} for m in member_ids]
    if path.suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as fh:
            fh.write("member_id,jurisdiction\n")
            for m in member_ids:
                fh.write(f"{m},US\n")
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)


# Look-alikes each file format can carry (a CSV line cannot hold a line separator; no UTF-8
# file can hold a lone surrogate).
def _carried(fmt: str) -> list[tuple[str, str, str]]:
    return [
        case
        for case in LOOKALIKES
        if case[0] != "lone surrogate" and not (fmt == "csv" and case[0] == "line separator")
    ]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_lookalike_member_ids_never_become_a_second_member(
    engine: sa.Engine, tmp_path: Path, fmt: str
) -> None:
    first = tmp_path / f"first.{fmt}"
    _write_members(first, [REAL])
    assert (
        workspace.import_members(engine, ingest.read_members(first), source=str(first)).added == 1
    )
    cases = _carried(fmt)
    path = tmp_path / f"again.{fmt}"
    _write_members(path, [value for _, value, _ in cases])
    with pytest.raises(InvalidInput) as err:
        workspace.import_members(engine, ingest.read_members(path), source=str(path))
    problems = err.value.problems
    assert len(problems) == len(cases)
    for line, ((_, _, says), problem) in enumerate(zip(cases, problems, strict=True), start=1):
        # CSV line 1 is the header
        assert problem.startswith(f"{path}:{line + 1 if fmt == 'csv' else line}: member_id: ")
        assert says in problem
    assert REAL not in str(err.value)
    skipped = workspace.import_members(
        engine,
        ingest.read_members(path),
        source=str(path),
        on_error="skip",
        rejects=tmp_path / "rejects",
    )
    assert (skipped.added, skipped.rejected) == (0, len(cases))
    assert _count(engine, t.members) == 1


def test_ids_at_the_limit_fit_both_databases(engine: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    _write_members(path, GOOD)
    assert workspace.import_members(
        engine, ingest.read_members(path), source=str(path)
    ).added == len(GOOD)
    with engine.connect() as conn:
        assert set(conn.execute(sa.select(t.members.c.member_id)).scalars()) == set(GOOD)


@pytest.fixture
def ledger(engine: sa.Engine, tmp_path: Path) -> sa.Engine:
    policy = tmp_path / "v1.yaml"
    policy.write_text(policy_yaml("v1", settings=[setting()]))
    workspace.publish_policy(
        engine, policy.read_text(encoding="utf-8"), name=str(policy), notice_days=30
    )
    members = tmp_path / "members.jsonl"
    _write_members(members, [REAL, "m2"])
    workspace.import_members(engine, ingest.read_members(members), source=str(members))
    return engine


def _event(**kw: Any) -> dict[str, Any]:
    return {
        "member_id": REAL,
        "type": "grant",
        "setting": "ai_posts",
        "policy_version": "v1",
        "effective_at": day(50).isoformat(),
        **kw,
    }


BAD_EVENTS = [
    ("NUL in the member id", _event(member_id="zq\x00member"), "member_id: character 3 is U+0000"),
    ("look-alike member id", _event(member_id="zqm\u0435mber"), "member_id: mixes scripts"),
    ("over-long member id", _event(member_id="m" * 256), "member_id: longer than 255"),
    ("NUL in the event id", _event(event_id="ev\x00-1"), "event_id: character 3 is U+0000"),
    ("over-long event id", _event(event_id="e" * 129), "event_id: longer than 128"),
    ("zero-width event id", _event(event_id="ev-1\u200b"), "event_id: character 5 is U+200B"),
    ("empty event id", _event(event_id=""), "event_id: required"),
    ("NaN evidence", _event(evidence={"score": float("nan")}), "evidence: a number is NaN"),
    ("Infinity evidence", _event(evidence={"s": float("inf")}), "evidence: a number is NaN"),
    ("NUL in evidence", _event(evidence={"ua": "x\x00"}), "evidence: a string holds a NUL"),
]


def test_bad_ids_and_evidence_are_refused_identically_on_both_databases(
    ledger: sa.Engine, tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    # json.dumps writes NaN and Infinity as the bare words Python's JSON reader accepts
    path.write_text("".join(json.dumps(rec) + "\n" for _, rec, _ in BAD_EVENTS), encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        workspace.import_events(ledger, ingest.read_event_lines(path), source=str(path))
    problems = err.value.problems
    assert len(problems) == len(BAD_EVENTS)
    for line, ((_, _, says), problem) in enumerate(zip(BAD_EVENTS, problems, strict=True), 1):
        assert problem.startswith(f"{path}:{line}: {says}"), problem
    assert REAL not in str(err.value)
    assert _count(ledger, t.consent_events) == 0
    skipped = workspace.import_events(
        ledger,
        ingest.read_event_lines(path),
        source=str(path),
        on_error="skip",
        rejects=tmp_path / "rejects",
    )
    assert (skipped.added, skipped.rejected) == (0, len(BAD_EVENTS))
    assert _count(ledger, t.consent_events) == 0


def test_the_cli_refuses_lookalike_member_arguments_without_echoing_them(
    cli: Callable[..., Any], ledger: sa.Engine
) -> None:
    bad = "zq\u200bmember"
    for args in (
        ("consent", "status", bad, "--setting", "ai_posts"),
        ("consent", "record", bad, "--type", "withdraw", "--setting", "ai_posts"),
        ("consent", "record", REAL, "--type", "erase", "--event-id", "ev\u202e-1"),
        ("receipt", bad, "--out", "r.json"),
        ("impact", bad),
        ("report", "dsar", bad),
    ):
        res = cli(*args)
        assert res.exit_code == 2, (args, res.stderr)
        assert "not a valid" in res.stderr and REAL not in res.stderr
        assert "zq" not in res.stderr and "U+20" in res.stderr
    assert _count(ledger, t.consent_events) == 0
