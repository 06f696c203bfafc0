"""Sensitive-content labels: phrases, hard negatives, evidence spans, measured floors."""

from __future__ import annotations

import re

import corpus_redact
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from consentgate.redact import LABELS, Redactor, prefilter, sensitive
from consentgate.redact.profile import Profile

ALL = frozenset(LABELS)


def labels(text: str) -> tuple[str, ...]:
    return Redactor(Profile()).scan(text).labels


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("I was diagnosed with ADHD in March", "health"),
        ("my oncologist wants another scan", "health"),
        ("I'm gay and out at work", "sexual_orientation"),
        ("I pray five times a day", "religion"),
        ("I'm a Republican, sorry", "political_opinion"),
        ("the shop steward called a meeting", "trade_union"),
        ("he was convicted of fraud", "criminal_history"),
        ("API key: sk-proj-4f9aQ2xLw8ZrT1uV3yB6nC0d", "credentials"),
        ("They laid off my whole team", "employment_dispute"),
        ("the deal is under NDA until Monday", "confidential_business"),
        ("I make $95k a year", "compensation"),
        # issue 15: phrasing beyond fixed phrases, and members' other languages
        ("we've been organizing with the union since spring", "trade_union"),
        ("talk to our union before signing", "trade_union"),
        ("la moitié de l'équipe est syndiquée", "trade_union"),
        ("wir sind alle in der Gewerkschaft", "trade_union"),
        ("los conductores están en huelga", "trade_union"),
        ("she is recovering from hip surgery", "health"),
        ("ich bin diese Woche krankgeschrieben", "health"),
        ("estoy de baja hasta el lunes", "health"),
        ("he converted to Judaism before the wedding", "religion"),
        ("le dimanche je vais à la messe", "religion"),
        ("I'm a staunch conservative", "political_opinion"),
        ("ich wähle seit Jahren die Grünen", "political_opinion"),
        ("he was booked for possession last year", "criminal_history"),
        ("il a un casier judiciaire", "criminal_history"),
        ("Passwort: Apfelbaum2024", "credentials"),
        ("mir wurde gestern gekündigt", "employment_dispute"),
        ("they pay me 80k now", "compensation"),
        ("mein Gehalt: 58.000 Euro", "compensation"),
        ("keep this quiet, we're acquiring a competitor", "confidential_business"),
        # issue 15, second round: special categories in broader words
        ("the drivers have been picketing since Monday", "trade_union"),
        ("I paid my dues this month", "trade_union"),
        ("they voted to ratify the tentative agreement", "trade_union"),
        ("she's a labor organizer at the plant", "trade_union"),
        ("huelga general el jueves", "trade_union"),
        ("we're expecting a baby in May", "health"),
        ("I broke my wrist skiing", "health"),
        ("my mum has been in remission for a year", "health"),
        ("le médecin m'a arrêté une semaine", "health"),
        ("I'm bi, for what it's worth", "sexual_orientation"),
        ("going to Pride with my girlfriend", "sexual_orientation"),
        ("he's attracted to other men", "sexual_orientation"),
        ("Macron is a disaster", "political_opinion"),
        ("I'm anti-Brexit", "political_opinion"),
        ("I always vote Green", "political_opinion"),
    ],
)
def test_label_found(text: str, label: str) -> None:
    assert label in labels(text)


@pytest.mark.parametrize(
    "text",
    [
        "the health of the codebase is poor",
        "we're hiring for a Python developer position",
        "compute the union of two sets with UNION ALL",
        "terminate the process before you deploy",
        "let's raise an exception when the token is missing",
        "reset your password via the link",
        "a conservative estimate for the release",
        "leader election in Raft",
        "she's charged with the task of migrating the DB",
        "bonus points if CI is green",
        "pip install -r requirements.txt",
        "the budget is $40,000 for laptops",
        "I'm confident in the numbers",
        "the health check returns 503",
        "we fired the webhook twice",
        # issue 15: workplace words the broader rules must leave alone
        "Amazon Prime costs $139",
        "data augmentation raised accuracy by 20%",
        "the SQL union of both tables, see the union type docs",
        "reached out to my manager about the roadmap",
        "the process was terminated by the scheduler",
        # issue 15, second round
        "I'm expecting the build to pass",
        "we take pride in our code reviews",
        "a white picket fence in the mockup",
        "our local branch is behind main",
        "the committee voted to ratify the RFC",
        "the due date is in March",
    ],
)
def test_hard_negative_raises_no_label(text: str) -> None:
    assert labels(text) == ()


def test_compensation_hits_are_the_amounts() -> None:
    text = "My salary is $185,000 plus a 15% bonus."
    hits = Redactor(Profile()).scan(text).label_hits
    assert [text[h.start : h.end] for h in hits if h.label == "compensation"] == ["$185,000", "15%"]


def test_credential_hits_are_the_secrets() -> None:
    text = "password: hunter2024 and key AKIAIOSFODNN7EXAMPLE"
    hits = Redactor(Profile()).scan(text).label_hits
    assert [text[h.start : h.end] for h in hits] == ["hunter2024", "AKIAIOSFODNN7EXAMPLE"]


def test_label_categories_include_the_declared_extensions() -> None:
    from consentgate.redact import CATEGORY_EXTENSIONS, LABEL_CATEGORIES

    extensions = {c for c in LABEL_CATEGORIES.values() if c in CATEGORY_EXTENSIONS}
    assert extensions == {
        "user.workplace.employment_dispute",
        "user.workplace.trade_union",
        "user.content.confidential_business",
    }
    assert all(parent.startswith("user.") for parent, _ in CATEGORY_EXTENSIONS.values())


def test_every_prefilter_compiles_in_re2() -> None:
    texts = pa.array(["x"])
    for pattern in [*sensitive.PREFILTERS.values(), *sensitive.NEGATIVE_PREFILTERS.values()]:
        assert pc.match_substring_regex(texts, pattern).to_pylist() == [False]


# Floors on the labeled synthetic corpus. The corpus's label templates were written with
# the rules, so these numbers bound regressions rather than prove generality; the held-out
# sentences below were written separately, after the rules.
FLOORS = {"precision": 0.95, "recall": 0.95}


@pytest.mark.parametrize("mix", ["dense", "realistic"])
def test_per_label_precision_and_recall_on_the_corpus(mix: str) -> None:
    corpus = corpus_redact.generate(3000, seed=11, mix=mix)
    redactor = Redactor(Profile())
    results = redactor.scan_batch(pa.array([m.text for m in corpus.messages]))
    tallies = corpus_redact.score_labels(corpus.messages, [r.labels if r else () for r in results])
    for label, tally in tallies.items():
        assert tally.tp + tally.fn > 0, label
        assert tally.precision >= FLOORS["precision"], (label, tally)
        assert tally.recall >= FLOORS["recall"], (label, tally)


HELD_OUT_POSITIVES = {
    "health": ["She's recovering from a stroke.", "I have an appointment with my psychiatrist."],
    "sexual_orientation": ["My husband and I are both men.", "He's openly gay."],
    "religion": ["We keep kosher and observe Shabbat.", "I'm Catholic."],
    "political_opinion": [
        "I'm voting Labour next time.",
        "I marched against the government last week.",
    ],
    "trade_union": ["Our union dues went up.", "We're unionizing the office."],
    "criminal_history": ["He spent a night in jail.", "I have a felony on my record."],
    "credentials": ["my pwd is Summer2024!", "token: ghp_abcdefghijklmnopqrstuvwxyz0123456789"],
    "employment_dispute": ["I'm suing my employer.", "HR opened an investigation into my manager."],
    "confidential_business": ["Please keep this confidential.", "Don't share the term sheet."],
    "compensation": ["They pay me 70k.", "My base is $120,000."],
}
HELD_OUT_NEGATIVES = [
    "The church choir sang at the concert downtown.",
    "Health insurance enrolment opens Monday.",
    "The build was fired off at noon.",
    "Union types in TypeScript are neat.",
    "The password field needs a placeholder.",
    "Our confidence in the estimate is high.",
    "The election module has a bug.",
    "We paid $300 for the catering.",
]


def test_held_out_sentences_are_reported() -> None:
    """Records how the rules fare on sentences not tuned against (see docs/redaction.md)."""
    found = sum(label in labels(t) for label, texts in HELD_OUT_POSITIVES.items() for t in texts)
    total = sum(len(v) for v in HELD_OUT_POSITIVES.values())
    false = sum(bool(labels(t)) for t in HELD_OUT_NEGATIVES)
    assert found / total >= 0.5
    assert false <= 2


def test_prefiltered_labels_equal_unfiltered_labels_on_the_corpus() -> None:
    corpus = corpus_redact.generate(500, seed=5)
    texts = [m.text for m in corpus.messages]
    bits = sum(sensitive.PREFILTERS)
    groups = prefilter.groups(pa.array(texts), bits)
    for text, g in zip(texts, groups, strict=True):
        assert sensitive.find_labels(text, int(g), ALL) == sensitive.find_labels(text, bits, ALL)


def test_negative_prefilter_is_consistent_with_python_vetoes() -> None:
    # a trigger whose hard negative did not match in RE2 is never vetoed in Python
    texts = [m.text for m in corpus_redact.generate(800, seed=9).messages]
    bits = sum(sensitive.PREFILTERS) | sum(sensitive.NEGATIVE_PREFILTERS)
    groups = prefilter.groups(pa.array(texts), bits)
    for text, g in zip(texts, groups, strict=True):
        for label in sensitive.SURE_LABELS:
            if int(g) & sensitive.LABEL_BITS[label] and not int(g) & sensitive.NEGATIVE_BITS.get(
                label, 0
            ):
                assert sensitive.find_labels(text, int(g), frozenset({label})), (label, text)


def test_label_in_a_placeholder_is_not_detected() -> None:
    assert labels("the <CONFIDENTIAL_BUSINESS> note and <TRADE_UNION>") == ()


def test_patterns_are_plain_enough_for_both_engines() -> None:
    for pattern in sensitive.PREFILTERS.values():
        assert "(?<" not in pattern and "(?=" not in pattern and "(?!" not in pattern
        re.compile(pattern)
