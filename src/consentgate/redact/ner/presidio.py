"""Presidio as an NER backend (the optional `presidio-analyzer`).

:class:`PresidioNer` adapts a Presidio ``AnalyzerEngine`` (the optional extra
``presidio-analyzer``). It never builds an engine that could download a model: pass an
analyzer you built, or use :meth:`PresidioNer.from_spacy_model`, which refuses a spaCy
model that is not already installed. Its ``find`` is called per text (Presidio
analyses one text at a time); ``bench/bench_redact.py --external`` compares it with
:class:`~consentgate.redact.ner.SpacyNer` on labeled corpora.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from consentgate.errors import InvalidInput
from consentgate.redact.catalog import category_of
from consentgate.redact.spans import Span

__all__ = ["PresidioNer"]


class PresidioNer:
    """A :class:`NerBackend` over a Presidio ``AnalyzerEngine``.

    ``analyzer`` is anything with Presidio's ``analyze(text=, language=, entities=,
    score_threshold=)`` returning results with ``entity_type``, ``start``, ``end``;
    Presidio itself is imported only by :meth:`from_spacy_model`.
    """

    __slots__ = ("_analyzer", "_entities", "_language", "_threshold")

    def __init__(
        self,
        analyzer: Any,
        *,
        entities: Iterable[str] = ("PERSON", "LOCATION"),
        language: str = "en",
        score_threshold: float = 0.5,
    ) -> None:
        self._analyzer = analyzer
        self._entities = frozenset(entities)
        self._language = language
        self._threshold = score_threshold

    @property
    def entities(self) -> frozenset[str]:
        return self._entities

    def find(self, text: str) -> list[Span]:
        results = self._analyzer.analyze(
            text=text,
            language=self._language,
            entities=sorted(self._entities),
            score_threshold=self._threshold,
        )
        spans: list[Span] = []
        for r in results:
            entity = str(r.entity_type)
            if entity in self._entities and 0 <= r.start < r.end <= len(text):
                ref = " ".join(text[r.start : r.end].lower().split())
                spans.append(Span(int(r.start), int(r.end), entity, category_of(entity), ref, 60))
        return spans

    @classmethod
    def from_spacy_model(
        cls,
        model: str = "en_core_web_lg",
        *,
        entities: Iterable[str] = ("PERSON", "LOCATION"),
        language: str = "en",
        score_threshold: float = 0.5,
    ) -> PresidioNer:
        """Presidio with an *installed* spaCy model; refuses rather than download one."""
        try:
            presidio = importlib.import_module("presidio_analyzer")
            nlp_engine = importlib.import_module("presidio_analyzer.nlp_engine")
            spacy_util = importlib.import_module("spacy.util")
        except ImportError as exc:
            raise InvalidInput(
                "Presidio NER needs the optional extra: pip install presidio-analyzer",
                [f"{exc.name}: not installed"],
            ) from exc
        if not spacy_util.is_package(model):
            raise InvalidInput(
                f"spaCy model {model!r} is not installed (consentgate never downloads models)",
                [f"model: install it first, e.g. pip install {model}"],
            )
        provider = nlp_engine.NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": language, "model_name": model}],
            }
        )
        analyzer = presidio.AnalyzerEngine(
            nlp_engine=provider.create_engine(), supported_languages=[language]
        )
        return cls(analyzer, entities=entities, language=language, score_threshold=score_threshold)
