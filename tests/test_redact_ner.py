"""Pluggable NER: the backend protocol, the Presidio adapter (tested for real when installed),
and the spaCy backend with its cheap pass and language choice (issue 15; the small English
and French pipelines of the ``ner`` extra, a handful of texts)."""

from __future__ import annotations

import importlib.util
import pickle
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pytest

from consentgate.errors import InvalidInput
from consentgate.redact import Directory, PresidioNer, Redactor, Span, default_profile
from consentgate.redact.cues import is_title
from consentgate.redact.ner import SpacyNer, installed_pipelines, pipelines
from consentgate.redact.ner.language import Detector, normalize
from consentgate.redact.ner.windows import candidate_windows


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


# --------------------------------------------------------------- issue 15: the cheap pass


def windows(text: str) -> list[str]:
    return [text[a:b] for a, b in candidate_windows(text)]


@pytest.mark.parametrize(
    "text",
    [
        "thanks, see you tomorrow",
        "The build is green. I think we can ship.",
        "Thanks! Could you check it? We're done.",
        "see you on Friday, the PR and the API are fine",
        "",
    ],
)
def test_text_without_a_candidate_name_gets_no_window(text: str) -> None:
    assert windows(text) == []


def test_windows_surround_candidates_within_their_sentence() -> None:
    text = "Yesterday I met Rohan Mehta in Lagos. it rained all day long and night. We saw Anna."
    assert windows(text) == ["Yesterday I met Rohan Mehta in Lagos.", "We saw Anna."]


def test_abbreviations_do_not_end_the_sentence_but_lines_do() -> None:
    assert windows("Mr. Smith met Dr. Jones and J. R. Tolkien.") == [
        "Mr. Smith met Dr. Jones and J. R. Tolkien."
    ]
    assert windows("Hi Priya, the build is green\nok then see you later on\nBest,\nTom") == [
        "Hi Priya, the build is green",
        "see you later on\nBest,\nTom",
    ]


def test_a_name_alone_on_a_short_line_is_read_with_the_lines_around_it() -> None:
    # "Vince" alone is a heading to the model; with the sentence before it, a signature
    assert windows("Thanks a lot for the help.\nVince") == ["a lot for the help.\nVince"]
    assert windows("Hi Priya,\nok\nBest,\nTom") == ["Hi Priya,\nok\nBest,\nTom"]


def test_a_sentence_opener_is_a_candidate_unless_it_is_a_common_word() -> None:
    assert windows("Rohan called.") == ["Rohan called."]
    assert windows("Bonjour, nous arrivons.") == []
    assert windows("PARIS et DUPONT") == ["PARIS et DUPONT"]  # capitals, four letters or more


# ------------------------------------------------------------------ issue 15: language


def test_language_tags_are_normalized() -> None:
    assert [normalize(t) for t in ("fr-CA", "FR", "de_DE", "", None)] == [
        "fr",
        "fr",
        "de",
        None,
        None,
    ]


def test_language_is_detected_and_falls_back_when_unsure() -> None:
    pytest.importorskip("py3langid")
    detector = Detector("en")
    assert detector.detect("Bonjour Jean, merci pour ton aide avec le dossier.") == "fr"
    assert detector.detect("Ich bin morgen den ganzen Tag im Büro.") == "de"
    assert detector.detect("ok") == "en"  # too short to tell


# ----------------------------------------------------------- issue 15: the spaCy backend


def _models() -> dict[str, str]:
    models = installed_pipelines()
    if not {"en", "fr"} <= set(models):
        pytest.skip("the ner extra (English and French spaCy pipelines) is not installed")
    return models


@pytest.fixture(scope="module")
def ner() -> SpacyNer:
    return SpacyNer(_models())


def _found(ner: SpacyNer, text: str, language: str | None = None) -> list[tuple[str, str]]:
    return [(text[s.start : s.end], s.entity) for s in ner.find_batch([text], [language])[0]]


def test_spacy_finds_people_and_places_in_english_and_french(ner: SpacyNer) -> None:
    en = _found(ner, "Yesterday I met Rohan Mehta in Lagos, he flew in from Nairobi.")
    assert ("Rohan Mehta", "PERSON") in en and ("Lagos", "LOCATION") in en
    fr = _found(ner, "Hier, Mme Camille Dubois est arrivée à Marseille avec son frère.")
    assert ("Camille Dubois", "PERSON") in fr  # the title is not part of the span
    assert ("Marseille", "LOCATION") in fr


def test_a_person_found_once_is_found_at_every_mention(ner: SpacyNer) -> None:
    text = "I met Vince Kaminski yesterday. Vince was late, as usual."
    found = _found(ner, text, "en")
    assert ("Vince Kaminski", "PERSON") in found and ("Vince", "PERSON") in found
    # only whole capitalised words: "vince" in running lower case, "Vincent" are not it
    assert (
        pipelines._mentions_again(
            "Vince called. vince Vincent", [pipelines._span("Vince called.", 0, 5, "PERSON")]
        )
        == []
    )


def test_a_street_named_after_a_person_is_a_place() -> None:
    text = "Send it to 159 Eleftheriou Venizelou, or to Elisabeth Street."
    start = text.index("Eleftheriou")
    assert pipelines._in_an_address(text, start, start + len("Eleftheriou Venizelou"), "en")
    start = text.index("Elisabeth")
    assert pipelines._in_an_address(text, start, start + len("Elisabeth"), "fr")
    # French lists put the number after the street: "rue Notre-Dame, 28 Jean Briand"
    text = "Louis Denis, rue Notre-Dame, 28 Jean Briand, rue de Quintin"
    start = text.index("Jean")
    assert not pipelines._in_an_address(text, start, start + len("Jean Briand"), "fr")
    assert not pipelines._in_an_address("I met 2 Johns", 8, 13, "fr")


def test_a_span_stops_at_a_line_break() -> None:
    @dataclass
    class Ent:
        start_char: int
        end_char: int
        label_: str

    @dataclass
    class Doc:
        ents: list[Ent]

    text = "3536 1659 Hoog St\n Apt. 839\n Brakpan"
    spans = pipelines._spans(text, Doc([Ent(10, 22, "GPE")]))
    assert spans == [(10, 17, "LOCATION")]  # "Hoog St", not "Hoog St\n Apt"


def test_a_title_alone_is_not_a_person() -> None:
    assert is_title("M.") and is_title("MM.") and is_title("Frau Dr.")
    assert not is_title("Dupont") and not is_title("M. Dupont")


def test_the_language_given_picks_the_pipeline(ner: SpacyNer, monkeypatch: Any) -> None:
    used: list[str] = []
    real = pipelines._pipeline

    def spy(package: str) -> Any:
        used.append(package)
        return real(package)

    monkeypatch.setattr(pipelines, "_pipeline", spy)
    ner.clear_cache()
    ner.find_batch(["Anna kommt."], ["fr-FR"])
    ner.find_batch(["Ich treffe Anna Schmidt heute in Köln im Büro."], [None])
    assert used == [ner.models["fr"]]  # German is detected and has no pipeline: no NER


def test_results_are_cached_per_window(ner: SpacyNer, monkeypatch: Any) -> None:
    text = "Please ask Rohan Mehta about it."
    first = ner.find_batch([text, text], ["en", "en"])
    monkeypatch.setattr(pipelines, "_pipeline", lambda package: pytest.fail("not cached"))
    assert ner.find_batch([text], ["en"]) == first[:1]
    assert first[0] == first[1]


def test_load_loads_every_pipeline_before_first_use(ner: SpacyNer) -> None:
    ner.load()
    assert set(ner.models.values()) <= set(pipelines._LOADED)


def test_the_backend_pickles_as_its_settings(ner: SpacyNer) -> None:
    ner.find_batch(["Rohan Mehta is here."], ["en"])
    copy = pickle.loads(pickle.dumps(ner))
    assert copy.models == ner.models
    assert len(pickle.dumps(ner)) < 500  # no pipeline, no cache
    assert _found(copy, "Rohan Mehta is here.", "en") == _found(ner, "Rohan Mehta is here.", "en")


def test_redactor_with_spacy_redacts_other_peoples_names(ner: SpacyNer) -> None:
    redactor = Redactor(default_profile(), ner=ner)
    text = "Yesterday I met Rohan Mehta in Lagos; he works for the Bank of London."
    out, reason = redactor.redact(text)
    assert reason is None and out is not None
    assert "Rohan" not in out and "Lagos" not in out
    assert "Bank of London" in out  # an organisation, and the city inside it, are kept
    assert redactor.redact(out) == (out, None)  # idempotent


def test_ner_and_the_directory_share_one_pseudonym(ner: SpacyNer) -> None:
    directory = Directory.from_records([{"member_id": "m1", "name": "Jane Doe"}])
    redactor = Redactor(default_profile(), directory, ner=ner)
    text = "Yesterday Jane Doe Smith called, and later Jane wrote."
    out, _ = redactor.redact(text, ["m1"])
    assert out == "Yesterday <PERSON_1> called, and later <PERSON_1> wrote."


def test_idempotent_with_ner_on_mixed_texts(ner: SpacyNer) -> None:
    redactor = Redactor(default_profile(), ner=ner)
    texts = [
        "Hi Priya,\nCan you send the deck to Élodie Martin before Friday?\nBest,\nTom",
        "Bonjour Jean, M. Dupont arrive à Lyon demain avec Mme Curie.",
        "Call Rohan at +44 20 7946 0958 or mail rohan@example.com, he is in Berlin.",
        "Sehr geehrte Frau Schmidt, Herr Weber aus München kommt.",
    ]
    once = redactor.apply(pa.array(texts)).texts
    assert redactor.apply(once).texts.to_pylist() == once.to_pylist()


class _Counting:
    """A batch backend that records what it is given."""

    entities = frozenset({"PERSON"})

    def __init__(self) -> None:
        self.seen: list[str] = []

    def find(self, text: str) -> list[Span]:
        return self.find_batch([text])[0]

    def find_batch(self, texts: list[str], languages: object = None) -> list[list[Span]]:
        self.seen.extend(texts)
        return [[] for _ in texts]


def test_rows_without_a_capital_letter_never_reach_the_backend() -> None:
    backend = _Counting()
    Redactor(default_profile(), ner=backend).apply(
        pa.array(["all lower case", "Rohan is here", None, "no names 12345"])
    )
    assert backend.seen == ["Rohan is here"]


def test_description_says_how_names_were_found() -> None:
    assert Redactor(default_profile()).description == {"names_found_by": ["cues"]}
    directory = Directory.from_records([{"member_id": "m1", "name": "Jane Doe"}])
    described = Redactor(default_profile(), directory, ner=_Counting()).description
    assert described == {"names_found_by": ["directory", "cues", "ner"]}


def test_without_pipelines_there_is_no_default_backend(monkeypatch: Any) -> None:
    monkeypatch.setattr(pipelines, "installed_pipelines", lambda: {})
    assert pipelines.default_ner() is None


def test_spacy_description_names_the_pipelines(ner: SpacyNer) -> None:
    described = ner.description
    assert described["backend"].startswith("spacy ")
    assert set(described["models"]) == set(ner.models)
    assert all(" " in v for v in described["models"].values())  # package and version


def test_blas_products_predict_what_the_pipeline_predicts_by_itself(ner: SpacyNer) -> None:
    spacy = pytest.importorskip("spacy")
    package = ner.models["en"]
    texts = [
        "Yesterday I met Rohan Mehta in Lagos, he flew in from Nairobi with Anna.",
        "The Bank of London hired Priya Sharma from Deloitte in Manchester.",
    ]
    plain = spacy.load(package)  # thinc's own ops, every component
    ours = pipelines._pipeline(package)
    assert any(
        isinstance(node.ops, type(pipelines._blas_ops()))
        for node in ours.get_pipe("ner").model.walk()
    )
    expected = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in plain.pipe(texts)]
    got = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in ours.pipe(texts)]
    assert got == expected
