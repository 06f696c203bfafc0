"""Identifier recognizers and their validators: the formats people type, and near misses."""

from __future__ import annotations

import random
import re

import corpus_redact
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from consentgate.redact import ENTITIES, Redactor, Span, patterns, prefilter, validators
from consentgate.redact.profile import Profile

ALL = frozenset(ENTITIES)


def entities(text: str) -> list[tuple[str, str]]:
    """(entity, matched text) of every identifier in ``text``, overlaps resolved."""
    spans = Redactor(Profile()).scan(text).spans
    return [(s.entity, text[s.start : s.end]) for s in spans]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail jane.doe@example.co.uk today", ("EMAIL_ADDRESS", "jane.doe@example.co.uk")),
        ("Visa 4111 1111 1111 1111 please", ("CREDIT_CARD", "4111 1111 1111 1111")),
        ("Mastercard 2-series 2221000000000009", ("CREDIT_CARD", "2221000000000009")),
        ("19-digit Visa 4000 0000 0000 0000 006", ("CREDIT_CARD", "4000 0000 0000 0000 006")),
        ("Amex 3782-822463-10005 on file", ("CREDIT_CARD", "3782-822463-10005")),
        ("IBAN GB82 WEST 1234 5698 7654 32.", ("IBAN_CODE", "GB82 WEST 1234 5698 7654 32")),
        ("SSN 078-05-1123 for HR", ("US_SSN", "078-05-1123")),
        ("NI number AB 12 34 56 C", ("UK_NINO", "AB 12 34 56 C")),
        ("call +44 20 7946 0958 now", ("PHONE_NUMBER", "+44 20 7946 0958")),
        ("or (415) 555-0132 at night", ("PHONE_NUMBER", "(415) 555-0132")),
        ("Berlin office +49 30 1234567", ("PHONE_NUMBER", "+49 30 1234567")),
        ("server 10.0.12.7 is down", ("IP_ADDRESS", "10.0.12.7")),
        ("v6 2001:db8::8a2e:370:7334 too", ("IP_ADDRESS", "2001:db8::8a2e:370:7334")),
        ("MAC 00:1A:2B:3C:4D:5E", ("MAC_ADDRESS", "00:1A:2B:3C:4D:5E")),
        ("see https://wiki.example.com/page?id=3).", ("URL", "https://wiki.example.com/page?id=3")),
        (
            "btc 1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
            ("CRYPTO", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"),
        ),
        (
            "segwit bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
            ("CRYPTO", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
        ),
        ("I was born on 14 March 1985.", ("DATE_OF_BIRTH", "14 March 1985")),
        ("DOB: 1985-03-14", ("DATE_OF_BIRTH", "1985-03-14")),
        ("we moved to 221 Baker Street last year", ("LOCATION", "221 Baker Street")),
        ("Dr. Okafor will join", ("PERSON", "Okafor")),
        ("Hi Priya, thanks", ("PERSON", "Priya")),
        # issue 15: Swiss AHV/AVS numbers are national ids, not phones; JCB's 15 digits
        ("AHV 756.9217.0769.85 on file", ("CH_AHV", "756.9217.0769.85")),
        ("AVS 7569217076985", ("CH_AHV", "7569217076985")),
        ("JCB 180000000000002", ("CREDIT_CARD", "180000000000002")),
        ("JCB 2131 0000 0000 001", ("CREDIT_CARD", "2131 0000 0000 001")),
        # a phone next to a date is still a phone; a Canadian number is North American
        ("on 16.04.2000 call 0171 1234567", ("PHONE_NUMBER", "0171 1234567")),
        ("Montreal office 263.521.2985", ("PHONE_NUMBER", "263.521.2985")),
        ("call 415 5550132 now", ("PHONE_NUMBER", "415 5550132")),
    ],
)
def test_identifier_found_with_its_span(text: str, expected: tuple[str, str]) -> None:
    assert expected in entities(text)


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 declined",  # Luhn fails
        "IBAN GB82 WEST 1234 5698 7654 33",  # mod 97 fails
        "SSN 666-05-1123 and 078-05-1120",  # area 666, the Woolworth number
        "order 48213377 shipped",
        "we're on version 3.2.1, build 2024.03.15",
        "edit setup.py and README.md, then call df.info()",
        "it was done.Then we left",
        "the hash is 8f953371d3e85eddb89b05ed6b9e680791055315c73e1025ab5dba7bb2aee189",
        "ratio 1:2:3:4 in std::vector",
        "meeting at 10:30 in room 12",
        "request a8eedfd6-9d8a-44e0-b0fc-cc7d517db5dc failed",
        "btc 1BoatSLRHtKNngkdXEeobR76b53LETtpyU",  # checksum fails
        "Hi team, thanks all",
        # issue 15: date-times and address digit runs are not phone numbers
        "logged at 2000-04-16 11:34 by admin",
        "sent 2023-11-05 14:22:10 UTC",
        "order on 12.03.2024 10:15",
        "House 221 2047 123 Main",
        "Hausnummer 4 1234 5678 90",
        "at 25 864 64677 ok",
    ],
)
def test_near_misses_raise_nothing(text: str) -> None:
    assert entities(text) == []


def test_an_ahv_number_with_a_wrong_check_digit_is_no_national_id() -> None:
    assert "CH_AHV" not in {e for e, _ in entities("AHV 756.9217.0769.86 is a typo")}


def test_email_domain_is_not_also_a_url() -> None:
    assert entities("info@presidio.site") == [("EMAIL_ADDRESS", "info@presidio.site")]


def test_two_ibans_in_one_run_of_tokens_are_both_found() -> None:
    a, b = "DE89 3704 0044 0532 0130 00", "GB82 WEST 1234 5698 7654 32"
    assert entities(f"{a} {b}") == [("IBAN_CODE", a), ("IBAN_CODE", b)]


def test_overlapping_spans_keep_the_longest() -> None:
    found = entities("https://example.com/u/jane@example.org")
    assert found == [("URL", "https://example.com/u/jane@example.org")]


@settings(max_examples=200, deadline=None)
@given(st.randoms(use_true_random=False))
def test_generated_cards_ibans_and_addresses_validate(rng: random.Random) -> None:
    number = re.sub(r"[ -]", "", corpus_redact.card(rng))
    assert validators.card_ok(number)
    assert validators.iban_ok(corpus_redact.iban(rng).replace(" ", ""))
    address = corpus_redact.bitcoin(rng)
    if address.startswith("bc1"):
        assert validators.bech32_address_ok(address)
    else:
        assert validators.base58check_ok(address)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=13, max_size=19))
def test_luhn_accepts_exactly_one_check_digit(body: str) -> None:
    passing = [d for d in "0123456789" if validators.luhn_ok(body + d)]
    assert len(passing) == 1


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (validators.nino_ok, "AB123456C", "BG123456C"),
        (validators.nhs_ok, "4010232137", "4010232138"),
        (validators.es_nif_ok, "12345678Z", "12345678A"),
        (validators.aadhaar_ok, "312345678909", "123456789012"),
        (validators.pesel_ok, "44051401458", "44051401459"),
        (validators.itin_ok, "911701234", "911891234"),
        (validators.ca_sin_ok, "130692544", "130692545"),
        (validators.tr_tckn_ok, "10000000146", "10000000145"),
        (validators.fi_hetu_ok, "131052-308T", "131052-308U"),
        (validators.mbi_ok, "1EG4TE5MK73", "1SG4TE5MK73"),
        (validators.ch_ahv_ok, "7569217076985", "7569217076986"),
        (validators.card_ok, "180000000000002", "180000000000003"),
    ],
)
def test_validator_tells_real_from_altered(check: object, good: str, bad: str) -> None:
    assert callable(check)
    assert check(good)
    assert not check(bad)


# The engine runs a recognizer only where its RE2 prefilter matched: a prefilter that
# missed a text the Python recognizer fires on would silently drop a detection.
FRAGMENTS = [
    *"0123456789abcdefABCDEF:.-@/ +()xyzXYZ_SJNbc1\n",
    "Hi ",
    "Dr. Li",
    "born ",
    "www.",
    ".com",
    # issue 15: cues in other languages, field labels, accented names
    "M. ",
    "Frau ",
    "Sig.ra ",
    "Bonjour ",
    "Viele Grüße",
    "Name: ",
    "\nAn: ",
    "Élodie",
    "Müller",
    ", ",
]
TEXTS = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(TEXTS)
@example("0-.com")  # a label ending in "-": the URL prefilter once missed it
def test_prefilters_never_hide_a_detection(text: str) -> None:
    everything = patterns.find_identifiers(text, sum(patterns.PREFILTERS), ALL)
    groups = int(prefilter.groups(pa.array([text]), sum(patterns.PREFILTERS))[0])
    assert patterns.find_identifiers(text, groups, ALL) == everything


def test_prefilters_match_every_identifier_in_the_corpus() -> None:
    corpus = corpus_redact.generate(400, seed=3)
    texts = [m.text for m in corpus.messages]
    groups = prefilter.groups(pa.array(texts), sum(patterns.PREFILTERS))
    for text, g in zip(texts, groups, strict=True):
        full = patterns.find_identifiers(text, sum(patterns.PREFILTERS), ALL)
        assert patterns.find_identifiers(text, int(g), ALL) == full


def test_span_repr_hides_the_value() -> None:
    span = Span(0, 5, "EMAIL_ADDRESS", "user.contact.email", "a@b.c")
    assert "a@b.c" not in repr(span)
    assert span.to_dict() == {
        "start": 0,
        "end": 5,
        "entity": "EMAIL_ADDRESS",
        "category": "user.contact.email",
    }
