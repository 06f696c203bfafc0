"""What the redactor's shortcuts (RE2 prefilters, the directory's name filter, rows skipped
without Python) must never change: which rows are looked at, and the outputs."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import corpus_redact
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from consentgate.redact import Directory, Redactor, patterns, prefilter, sensitive
from consentgate.redact.engine import _groups
from consentgate.redact.people import _MAX_PATTERNS, _MAX_PREFIXES, lowered

try:  # the parser behind ``re`` (a private module, stable across 3.11+)
    from re import _constants as sre_c
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants as sre_c  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

PARTS = pa.list_(pa.string())
ALL_BITS = sum(patterns.PREFILTERS) | sum(sensitive.PREFILTERS) | sum(sensitive.NEGATIVE_PREFILTERS)
_DIGITS = frozenset(range(ord("0"), ord("9") + 1))


# ------------------------------------------------------------ "every match holds a digit"


def _class_is_digits(items: list[Any]) -> bool:
    for op, av in items:
        if op is sre_c.LITERAL and av in _DIGITS:
            continue
        if op is sre_c.RANGE and ord("0") <= av[0] and av[1] <= ord("9"):
            continue
        if op is sre_c.CATEGORY and av is sre_c.CATEGORY_DIGIT:  # \d is [0-9] in RE2
            continue
        return False
    return bool(items)


def must_hold_digit(items: Any) -> bool:
    """Whether every string a parsed pattern (a sequence) matches holds an ASCII digit."""
    for op, av in items:
        if op is sre_c.LITERAL and av in _DIGITS:
            return True
        if op is sre_c.IN and _class_is_digits(list(av)):
            return True
        if op is sre_c.SUBPATTERN and must_hold_digit(av[-1]):
            return True
        if op is sre_c.BRANCH and all(must_hold_digit(alt) for alt in av[1]):
            return True
        if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT) and av[0] >= 1 and must_hold_digit(av[2]):
            return True
    return False


def holds_digit(pattern: str) -> bool:
    return must_hold_digit(sre_parse.parse(pattern))


def test_the_digit_analysis_can_say_no() -> None:
    assert holds_digit(r"[0-9]{2}x|y(?:1|[2-3]+)")
    for pattern in [r"[0-9]?k", r"[0-9]|x", r"[0-9a]", r"\w", r"(?:1)*", r"[^a]"]:
        assert not holds_digit(pattern), pattern


def test_every_compensation_amount_holds_a_digit() -> None:
    # engine._groups sets the compensation bit only on texts with a digit, sparing the
    # pay-vocabulary check on chat that says "salary" without a figure: sound only if
    # every amount the check looks for holds one
    assert holds_digit(sensitive._AMOUNT.pattern)
    texts = pa.array(["my salary is great", "my salary is $120k", "salary: 5 RSUs", None])
    groups = _groups(texts, sensitive.LABEL_BITS["compensation"]).tolist()
    pay = sensitive.LABEL_BITS["compensation"]
    assert [bool(g & pay) for g in groups] == [False, True, True, False]


def test_declared_digit_groups_match_only_text_with_a_digit() -> None:
    digit_groups = {b for b in patterns.PREFILTERS if b & patterns.DIGIT_GROUPS}
    assert digit_groups == {b for b, p in patterns.PREFILTERS.items() if holds_digit(p)}
    assert patterns.G_DIGITS in digit_groups


# ------------------------------------------------------------ prefilter passes


def _one_pass_per_pattern(texts: pa.Array, bits: int) -> np.ndarray[Any, Any]:
    groups = np.zeros(len(texts), np.int64)
    every = {**patterns.PREFILTERS, **sensitive.PREFILTERS, **sensitive.NEGATIVE_PREFILTERS}
    for bit, pattern in every.items():
        if bits & bit:
            hit = pc.match_substring_regex(texts, pattern).fill_null(False)
            groups[np.asarray(hit.to_numpy(zero_copy_only=False), bool)] |= bit
    for label, negative in sensitive.NEGATIVE_BITS.items():  # only where the trigger is
        groups[(groups & sensitive.LABEL_BITS[label]) == 0] &= ~negative
    return groups


def _texts() -> list[pa.Array]:
    out = [
        pa.array([m.text for m in corpus_redact.generate(1500, seed=5, mix=mix).messages])
        for mix in ("realistic", "dense")
    ]
    out.append(pa.array(["", None, "Hi Jane", "order 1234567", "no digits here", "x" * 2000]))
    return out


@pytest.mark.parametrize(
    ("large", "small", "chars"),
    [(0, 0, 12_000), (0, 0, 500), (1 << 40, 0, 12_000), (1 << 40, 1 << 40, 12_000)],
    ids=["every-union", "unions-in-small-chunks", "no-first-union", "no-union"],
)
def test_groups_equal_one_pass_per_pattern(
    monkeypatch: pytest.MonkeyPatch, large: int, small: int, chars: int
) -> None:
    # the unions only decide which rows each pattern is tested on, never a row's bits
    monkeypatch.setattr(prefilter, "_LARGE", large)
    monkeypatch.setattr(prefilter, "_SMALL", small)
    monkeypatch.setattr(prefilter, "_UNION_CHARS", chars)
    rng = np.random.default_rng(3)
    masks = [ALL_BITS, sum(patterns.PREFILTERS), sum(sensitive.PREFILTERS), patterns.G_DIGITS]
    masks += [int(m) & ALL_BITS for m in rng.integers(0, 1 << 48, 12)]
    for texts in _texts():
        for bits in masks:
            assert (prefilter.groups(texts, bits) == _one_pass_per_pattern(texts, bits)).all()


def test_no_union_pass_outgrows_the_budget_re2_runs_fast() -> None:
    """Issue 15 grew the label patterns past what one RE2 union runs as a DFA (a gate
    batch took 45 s instead of 0.1 s): every union ``groups`` builds stays under
    ``_UNION_CHARS`` unless it is a single pattern."""
    built: list[str] = []
    real = prefilter.union

    def spy(table: Any) -> str:
        table = list(table)
        built.append(real(table))
        assert len(table) == 1 or sum(map(len, table)) <= prefilter._UNION_CHARS
        return built[-1]

    big = pa.array(["words without anything " * 40] * 8000 + ["Hi Jane, salary 120k"])
    assert big.nbytes >= prefilter._LARGE
    with pytest.MonkeyPatch.context() as m:
        m.setattr(prefilter, "union", spy)
        prefilter.groups(big, ALL_BITS)
    assert len(built) > 1  # the first union was cut in chunks


# ------------------------------------------------------------ the directory's filter

TRICKY = [
    {"member_id": "a", "name": "Jane Doe", "email": "jd@x.example", "phone": None},
    {"member_id": "b", "name": "Kirk O'Neil", "email": None, "phone": "+44 20 7946 0958"},
    {"member_id": "c", "name": "İlker Şahin", "email": None, "phone": None},
    {"member_id": "d", "name": "Mary-Jane Watson", "email": None, "phone": None},
    {"member_id": "e", "name": "Grant Rose", "email": None, "phone": None},
    {"member_id": "f", "name": "ΟΔΥΣΣΕΑΣ Ελύτης", "email": None, "phone": None},
    {"member_id": "g", "name": "Ivan Ilic", "email": None, "phone": None},
]
TRICKY_TEXTS = [
    "hi JANE DOE!", "(jane d.) said", "KIRK o'neil", "\u212airk O'Neil", "İLKER ŞAHİN",
    "ilker şahin", "Mary-Jane Watson", "mary-jane", "Grant", "grant", "Rose,", "οδυσσεασ ελύτης",
    "Οδυσσεας", "jd@x.example", "call 020 7946 0958", "nothing here", "janedoe", "_jane doe",
    "xjane doe", "Jane\u00a0Doe", "", "oneil", "Watson.", "hi İVAN İLIC",
]  # fmt: skip


def _found_rows(directory: Directory, texts: list[str], parts: list[int]) -> list[bool]:
    return [bool(directory.find(t, lowered(t), parts, digits=True)) for t in texts]


def _has_digit(values: list[str]) -> np.ndarray[Any, Any]:
    return np.array([re.search("[0-9]", v) is not None for v in values], bool)


def test_directory_candidates_never_hide_a_match() -> None:
    directory = Directory.from_records(TRICKY)
    parts = list(range(len(TRICKY)))  # every member a participant: single names count too
    arrays = [pa.array(TRICKY_TEXTS)]
    corpus = corpus_redact.generate(1500, seed=6, mix="dense")
    arrays.append(pa.array([m.text for m in corpus.messages]))
    for texts in arrays:
        values = texts.to_pylist()
        found = _found_rows(directory, values, parts)
        cand = directory.candidates(texts, digits=_has_digit(values))
        assert all(c for c, f in zip(cand.tolist(), found, strict=True) if f)
    big = Directory.from_records(corpus.members)
    texts = pa.array([m.text for m in corpus.messages])
    found = _found_rows(big, texts.to_pylist(), list(range(len(corpus.members))))
    cand = big.candidates(texts, digits=_has_digit(texts.to_pylist()))
    assert all(c for c, f in zip(cand.tolist(), found, strict=True) if f)
    assert sum(found) > 1000


def test_directory_filter_skips_texts_without_names() -> None:
    directory = Directory.from_records(TRICKY)
    texts = pa.array(["the plan for next week", "Jane Doe", "the jane doe", None, "a@b"])
    cand = directory.candidates(texts, digits=np.zeros(5, bool))
    assert cand.tolist() == [False, True, True, False, True]  # "@": emails are looked up


def test_large_directories_split_or_drop_the_name_filter() -> None:
    letters = "abcdefghijklmnopqrstuvwxyz"
    rng = np.random.default_rng(1)

    def names(n: int) -> list[str]:
        return ["".join(rng.choice(list(letters), 8)) + " Smith" for _ in range(n)]

    split = names(_MAX_PREFIXES // 4)
    directory = Directory([str(i) for i in range(len(split))], split)
    assert directory._names is not None and 1 < len(directory._names) <= _MAX_PATTERNS
    text = f"ping {split[-1].upper()} and {split[0]}"
    assert directory.candidates(pa.array([text, "nobody"]), digits=np.zeros(2, bool)).tolist() == [
        True,
        False,
    ]
    dropped = names(_MAX_PREFIXES * (_MAX_PATTERNS + 1) // 6)
    huge = Directory([str(i) for i in range(len(dropped))], dropped)
    assert huge._names is None
    assert huge.candidates(pa.array(["nobody", None]), digits=np.zeros(2, bool)).tolist() == [
        True,
        False,
    ]


# ------------------------------------------------------------ outputs pinned

# sha256 of the canonical JSON of ``_outputs()``, computed with the redactor before the
# prefilter passes were merged and rows without candidates were skipped
PINNED = "0d916d56db567b92966106670eb6e6832040f99a2e87774fbfaf33b0f5619993"


def _outputs() -> list[Any]:
    out: list[Any] = []
    for mix, seed in (("realistic", 7), ("dense", 11)):
        corpus = corpus_redact.generate(1500, seed=seed, mix=mix)
        directory = Directory.from_records(corpus.members)
        texts = pa.array([m.text for m in corpus.messages] + [None, ""])
        parts = pa.array([list(m.participants) for m in corpus.messages] + [[], ["x"]], PARTS)
        for redactor in (Redactor(None, directory), Redactor(None)):
            result = redactor.apply(texts, parts)
            out.append([result.texts.to_pylist(), result.excluded.to_pylist()])
            out.append([sorted(result.redactions.items()), sorted(result.exclusions.items())])
        scans = Redactor(None, directory).scan_batch(texts, parts)
        out.append(
            [None if s is None else [[list(x) for x in s.spans], list(s.labels)] for s in scans]
        )
    return out


def digest() -> str:
    blob = json.dumps(_outputs(), ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def test_outputs_are_those_of_the_redactor_before_the_shortcuts() -> None:
    assert digest() == PINNED


def test_a_few_outputs_spelled_out() -> None:
    directory = Directory.from_records(TRICKY)
    redactor = Redactor(None, directory)
    texts = pa.array(["Hi Jane Doe, my salary is $120k", "my salary is great", "jd@x.example"])
    result = redactor.apply(texts, pa.array([["a"], ["a"], []], PARTS))
    assert result.texts.to_pylist() == [
        "Hi <PERSON_1>, my salary is <COMPENSATION>",
        "my salary is great",
        "<EMAIL_ADDRESS>",
    ]
    assert re.fullmatch(r"[0-9a-f]{64}", digest())


if __name__ == "__main__":  # print the digest of the current outputs
    print(digest())
