"""The input limits (consentgate.limits) at their edges: nesting, timestamps, ids, text."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentgate import ids, limits
from consentgate.timestamps import parse_timestamp
from consentgate.tlog import strictjson


@pytest.mark.parametrize("depth", [1, 31, 32])
def test_nesting_up_to_the_limit_is_accepted(depth: int) -> None:
    text = "[" * depth + "]" * depth
    assert not limits.json_nesting_exceeds(text)
    assert not limits.json_nesting_exceeds(text.encode())
    assert strictjson.loads(text) is not None


@pytest.mark.parametrize("depth", [33, 1000, 200_000])
def test_nesting_past_the_limit_is_refused_before_parsing(depth: int) -> None:
    text = '{"a": ' * depth + "1" + "}" * depth
    assert limits.json_nesting_exceeds(text)
    with pytest.raises(ValueError, match="nested deeper than 32 levels"):
        strictjson.loads(text)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"text": "[[[{{{" * 50, "q": 'say "[[[["'})
    assert not limits.json_nesting_exceeds(text)
    # siblings closed between levels still count only the real depth
    assert not limits.json_nesting_exceeds("[" + "[[]]," * 40 + "1]")
    assert limits.json_nesting_exceeds("[]," * 5 + "[" * 33 + "]" * 33)


def test_strict_json_refuses_long_integers_and_repeated_keys() -> None:
    assert strictjson.loads("1" + "0" * 63) == 10**63
    with pytest.raises(ValueError, match="more than 64 digits"):
        strictjson.loads("1" + "0" * 64)
    with pytest.raises(ValueError, match="field 'type' is repeated"):
        strictjson.loads('{"type": "grant", "type": "withdraw"}')
    with pytest.raises(ValueError, match=r"\(a key\) is repeated"):
        strictjson.loads('{"a b@c": 1, "a b@c": 2}')


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:30:00+01:00",
        "0001-01-02T00:00:00Z",
    ],
)
def test_timestamps_outside_1970_9999_are_refused_by_field(text: str) -> None:
    with pytest.raises(ValueError, match=r"^covers_from: timestamp out of range"):
        parse_timestamp(text, field="covers_from")


@pytest.mark.parametrize(
    "text", ["1970-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "9999-12-31T23:00:00-00:59"]
)
def test_timestamps_at_the_edges_are_accepted(text: str) -> None:
    assert limits.timestamp_problem(parse_timestamp(text, field="t")) is None


MARKER = "ann.secret@example.com"


@given(
    st.sampled_from(["", "2024-10-01T00:00:00Z ", "2024-10-01 ", "9999-12-31T", "2024-1"]),
    st.text(max_size=20),
    st.booleans(),
)
@settings(max_examples=200, deadline=None, derandomize=True)
def test_a_refused_timestamp_names_the_field_never_the_value(
    prefix: str, noise: str, allow_date: bool
) -> None:
    """Every refusal of ``parse_timestamp`` starts with the field and never repeats the value
    (a timestamp field may hold member content): "<field>: <what is wrong>"."""
    for value in (prefix + MARKER + noise, prefix + noise + MARKER):
        with pytest.raises(ValueError) as info:
            parse_timestamp(value, field="effective_at", allow_date=allow_date)
        message = str(info.value)
        assert message.startswith("effective_at: ")
        assert MARKER not in message and "ann.secret" not in message


def test_text_fields_have_a_length_limit() -> None:
    assert ids.text_problem("x" * limits.MAX_TEXT_CHARS) is None
    assert ids.text_problem("x" * (limits.MAX_TEXT_CHARS + 1)) == "longer than 1024 characters"


def test_policy_ids_follow_the_id_rules() -> None:
    assert ids.policy_id_problem("v2", ids.POLICY_VERSION_MAX) is None
    assert ids.policy_id_problem("v" * 65, ids.POLICY_VERSION_MAX) == "longer than 64 characters"
    assert ids.policy_id_problem("s\x009") == "character 2 is U+0000, a control character"
