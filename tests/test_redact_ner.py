"""Pluggable NER: the backend protocol, the Presidio adapter (tested for real when installed)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pytest

from consentgate.errors import InvalidInput
from consentgate.redact import PresidioNer, Redactor, Span, default_profile


@dataclass
class _Result:
    entity_type: str
    start: int
    end: int
    score: float


class _FakeAnalyzer:
    """Presidio's analyze() contract: finds "Priya" as PERSON and "Lagos" as LOCATION."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def analyze(
        self, *, text: str, language: str, entities: list[str], score_threshold: float
    ) -> list[_Result]:
        self.calls.append(
            {"language": language, "entities": entities, "score_threshold": score_threshold}
        )
        out = []
        for word, entity in (("Priya", "PERSON"), ("Lagos", "LOCATION"), ("ACME", "ORG")):
            at = text.find(word)
            if at >= 0:
                out.append(_Result(entity, at, at + len(word), 0.85))
        return out


def test_presidio_adapter_maps_results_to_spans() -> None:
    analyzer = _FakeAnalyzer()
    ner = PresidioNer(analyzer, entities=("PERSON", "LOCATION"), score_threshold=0.6)
    spans = ner.find("I met Priya in Lagos at ACME")
    assert [(s.entity, s.category, s.start, s.end) for s in spans] == [
        ("PERSON", "user.name", 6, 11),
        ("LOCATION", "user.location", 15, 20),
    ]
    assert analyzer.calls == [
        {"language": "en", "entities": ["LOCATION", "PERSON"], "score_threshold": 0.6}
    ]


def test_redactor_uses_the_backend_for_other_peoples_names() -> None:
    redactor = Redactor(default_profile(), ner=PresidioNer(_FakeAnalyzer()))
    result = redactor.apply(pa.array(["I met Priya in Lagos", None]))
    assert result.texts.to_pylist() == ["I met <PERSON_1> in <LOCATION>", None]
    assert result.redactions == {"PERSON": 1, "LOCATION": 1}


class _Initials:
    """Any object with ``entities`` and ``find`` is a backend."""

    entities = frozenset({"PERSON"})

    def find(self, text: str) -> list[Span]:
        at = text.find("J.R.")
        return [] if at < 0 else [Span(at, at + 4, "PERSON", "user.name", "jr")]


def test_any_object_with_the_protocol_is_a_backend() -> None:
    text, _ = Redactor(default_profile(), ner=_Initials()).redact("ask J.R. now")
    assert text == "ask <PERSON_1> now"


@pytest.mark.skipif(
    importlib.util.find_spec("presidio_analyzer") is not None, reason="presidio installed"
)
def test_from_spacy_model_without_presidio_says_what_to_install() -> None:
    with pytest.raises(InvalidInput, match="pip install presidio-analyzer"):
        PresidioNer.from_spacy_model()


def test_real_presidio_analyzer_through_the_adapter() -> None:
    presidio = pytest.importorskip("presidio_analyzer")
    nlp_engine = pytest.importorskip("presidio_analyzer.nlp_engine")
    nlp = nlp_engine.NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    nlp.load()
    recognizer = presidio.PatternRecognizer(
        supported_entity="PERSON", patterns=[presidio.Pattern("titled", r"Dr\. [A-Z][a-z]+", 0.9)]
    )
    registry = presidio.RecognizerRegistry()
    registry.add_recognizer(recognizer)
    analyzer = presidio.AnalyzerEngine(
        registry=registry, nlp_engine=nlp, supported_languages=["en"]
    )
    spans = PresidioNer(analyzer, entities=("PERSON",)).find("ask Dr. Okafor")
    assert [(s.entity, s.start, s.end) for s in spans] == [("PERSON", 4, 14)]
