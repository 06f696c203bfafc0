"""People by their cues in five languages, and cities that are part of longer names (issue 15)."""

from __future__ import annotations

import pytest

from consentgate.redact import Redactor
from consentgate.redact.cues import strip_title
from consentgate.redact.profile import Profile


def found(text: str, entity: str) -> list[str]:
    return [
        text[s.start : s.end] for s in Redactor(Profile()).scan(text).spans if s.entity == entity
    ]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Dr. Okafor will join", ["Okafor"]),
        ("M. Barthou a reçu une demande.", ["Barthou"]),
        ("Mme Curie et MM. Dupont arrivent.", ["Curie", "Dupont"]),
        ("Mlle Élodie Martin est là.", ["Élodie Martin"]),
        ("Herr Müller kommt morgen.", ["Müller"]),
        ("Bitte an Herrn Weber weiterleiten.", ["Weber"]),
        ("Frau Dr. Schmidt ist im Urlaub.", ["Schmidt"]),
        ("La Sra. García llamó.", ["García"]),
        ("Gentile Sig.ra Bianchi,", ["Bianchi"]),
        ("Dott.ssa Rossi è in riunione.", ["Rossi"]),
        ("M. de Gaulle et Herr von Weizsäcker", ["de Gaulle", "von Weizsäcker"]),
        ("Bonjour Jean, merci pour le dossier.", ["Jean"]),
        ("Hallo Anna! Kannst du helfen?", ["Anna"]),
        ("Hola Pablo, ¿qué tal?", ["Pablo"]),
        ("Ciao Luca, a dopo.", ["Luca"]),
        ("Cordialement,\nJean Dupont", ["Jean Dupont"]),
        ("Viele Grüße\nAnna", ["Anna"]),
        ("Un saludo,\nLucía", ["Lucía"]),
        ("Name: Jane Doe\nEmail: none", ["Jane Doe"]),
        ("From: Priya Sharma <ps@example.com>", ["Priya Sharma"]),
        ("An: Max Mustermann\nBetreff: Rechnung", ["Max Mustermann"]),
        ("Nom : Dupont\nPrénom : Marie", ["Dupont", "Marie"]),
        ("Nombre: Ana Torres", ["Ana Torres"]),
        ("Nome: Luca Rossi", ["Luca Rossi"]),
        ("Name: JANE DOE", ["JANE DOE"]),
        ("Hi Sean O'Brien, thanks", ["Sean O'Brien"]),
    ],
)
def test_a_cue_marks_the_name_after_it(text: str, names: list[str]) -> None:
    assert found(text, "PERSON") == names


@pytest.mark.parametrize(
    "text",
    [
        "Our Sr. Software Engineer left",  # "Sr." is "Senior" in English job titles
        "Hi team, thanks all",
        "Hallo zusammen, kurzes Update",
        "Bonjour à tous, la démo est prête",
        "Liebe Kollegen, bitte beachten",
        "Hola a todos",
        "Ciao ragazzi!",
        "From: HR Team",
        "To: All staff",
        "Subject: Name change",
        "the M.Sc. programme",
    ],
)
def test_words_after_a_cue_that_are_not_names(text: str) -> None:
    assert found(text, "PERSON") == []


def test_a_title_is_not_taken_for_the_name_after_a_salutation() -> None:
    assert found("Dear Dr. Smith,", "PERSON") == ["Smith"]


@pytest.mark.parametrize(
    ("text", "places"),
    [
        ("I love Paris Hilton's shows", []),
        ("He works at the London Stock Exchange", []),
        ("She read the Washington Post", []),
        ("We met. Jack London wrote it.", []),
        ("Bank of London opened", []),
        ("In London today", ["London"]),
        ("Most of London is wet", ["London"]),
        ("We moved to London last year", ["London"]),
        ("New York City is big", ["New York"]),
        ("I was in Paris. Berlin next", ["Paris", "Berlin"]),
    ],
)
def test_a_city_inside_a_longer_name_is_not_a_place(text: str, places: list[str]) -> None:
    assert found(text, "LOCATION") == places


@pytest.mark.parametrize(
    ("span", "name"),
    [("M. Dupont", "Dupont"), ("Frau Dr. Schmidt", "Schmidt"), ("Dr.", "Dr."), ("Anna", "Anna")],
)
def test_strip_title(span: str, name: str) -> None:
    assert span[strip_title(span, 0, len(span)) :] == name
