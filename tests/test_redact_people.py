"""The member directory: which name variants match whom, emails and phones, big directories."""

from __future__ import annotations

import pickle

import pyarrow as pa
import pytest

from consentgate.errors import SchemaMismatch
from consentgate.redact import Directory, Redactor
from consentgate.redact.people import lowered
from consentgate.redact.profile import Profile

MEMBERS = [
    {
        "member_id": "m-jane",
        "name": "Jane Q. Doe",
        "email": "jane@corp.example",
        "phone": "+1 415 555 0132",
    },
    {"member_id": "m-grant", "name": "Grant Baker", "email": None, "phone": None},
    {"member_id": "m-priya", "name": "Priya Sharma", "email": "priya@corp.example", "phone": None},
]


def people(text: str, participants: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    redactor = Redactor(Profile(), Directory.from_records(MEMBERS))
    return [(s.entity, text[s.start : s.end]) for s in redactor.scan(text, participants).spans]


def test_full_name_of_any_member_is_found_case_insensitively() -> None:
    assert ("PERSON", "priya sharma") in people("ask priya sharma about it")
    assert ("PERSON", "Jane Doe") in people("Jane Doe said so")
    assert ("PERSON", "Jane Q. Doe") in people("cc Jane Q. Doe.")


def test_first_name_and_initial_of_any_member_is_found() -> None:
    assert ("PERSON", "Priya S.") in people("Priya S. approved it")


def test_first_or_last_name_alone_only_for_the_records_participants() -> None:
    text = "Priya will send it; Sharma agreed"
    assert people(text) == []
    assert people(text, ("m-priya",)) == [("PERSON", "Priya"), ("PERSON", "Sharma")]


def test_a_name_that_is_a_word_matches_alone_only_when_capitalized() -> None:
    text = "please grant access, Grant"
    assert people(text, ("m-grant",)) == [("PERSON", "Grant")]


def test_names_need_word_boundaries() -> None:
    assert people("Priyanka and Sharmaine", ("m-priya",)) == []


def test_member_email_and_phone_are_found_in_any_formatting() -> None:
    found = people("write jane@corp.example or call 415.555.0132", ("m-priya",))
    assert ("EMAIL_ADDRESS", "jane@corp.example") in found
    assert ("PHONE_NUMBER", "415.555.0132") in found


def test_one_member_gets_one_pseudonym_across_variants() -> None:
    redactor = Redactor(
        Profile(entities={"PERSON": "pseudonymize"}), Directory.from_records(MEMBERS)
    )
    text, reason = redactor.redact("Jane Doe wrote; Jane agrees; Priya Sharma not", ["m-jane"])
    assert reason is None
    assert text == "<PERSON_1> wrote; <PERSON_1> agrees; <PERSON_2> not"


def test_unknown_participants_are_ignored() -> None:
    assert people("Priya is here", ("nobody",)) == []


def test_from_arrow_reads_the_columns_and_refuses_a_bad_table() -> None:
    table = pa.table({k: [m[k] for m in MEMBERS] for k in ("member_id", "name", "email", "phone")})
    directory = Directory.from_arrow(table)
    assert len(directory) == 3
    assert directory.index_of("m-priya") == 2
    with pytest.raises(SchemaMismatch, match="name"):
        Directory.from_arrow(pa.table({"member_id": ["a"]}))
    with pytest.raises(SchemaMismatch, match="email: expected string"):
        Directory.from_arrow(pa.table({"member_id": ["a"], "name": ["A B"], "email": [1]}))
    with pytest.raises(SchemaMismatch, match="null"):
        Directory.from_arrow(
            pa.table(
                {"member_id": [None], "name": ["A B"]},
                schema=pa.schema([("member_id", pa.string()), ("name", pa.string())]),
            )
        )


def test_directory_survives_pickling_for_spark_executors() -> None:
    directory = pickle.loads(pickle.dumps(Directory.from_records(MEMBERS)))
    text = "Priya Sharma"
    assert [s.entity for s in directory.find(text, lowered(text), ())] == ["PERSON"]


def test_lowered_keeps_offsets_when_lower_case_is_longer() -> None:
    assert len(lowered("İstanbul İzmir")) == len("İstanbul İzmir")


def test_a_hundred_thousand_member_directory_still_matches_by_name() -> None:
    firsts = [f"fn{i:03d}x" for i in range(400)]
    lasts = [f"ln{i:03d}y" for i in range(250)]
    ids = [f"m{i}" for i in range(100_000)]
    names = [f"{firsts[i % 400]} {lasts[i // 400]}" for i in range(100_000)]
    directory = Directory(ids, names)
    text = "ask Fn123x Ln200y and fn399x ln249y, not fn123x alone"
    found = [(s.start, s.end) for s in directory.find(text, lowered(text), ())]
    assert [text[a:b] for a, b in found] == ["Fn123x Ln200y", "fn399x ln249y"]


def test_member_email_and_phone_the_generic_recognizers_miss_are_found() -> None:
    odd = {
        "member_id": "m-ops",
        "name": "Ops Desk",
        "email": "ops@intranet",
        "phone": "111 111 1111",
    }
    redactor = Redactor(Profile(), Directory.from_records([*MEMBERS, odd]))
    assert Redactor(Profile()).scan("mail ops@intranet or 111-111-1111").spans == ()
    text = "mail ops@intranet or 111-111-1111"
    found = [(s.entity, text[s.start : s.end]) for s in redactor.scan(text).spans]
    assert found == [("EMAIL_ADDRESS", "ops@intranet"), ("PHONE_NUMBER", "111-111-1111")]
