"""Benchmark: consentgate redaction against Presidio pattern-only, same corpus, same run.

    python bench/bench_redact.py            # 20,000 messages (Presidio: the first 3,000)
    python bench/bench_redact.py --full     # 200,000 messages (Presidio: the first 20,000)
    python bench/bench_redact.py --external DIR   # labeled corpora written by others

``--external`` (bench/redact_external.py) scores the redactor with and without NER, and
Presidio with the same spaCy pipelines, on every corpus under DIR; the rest of this
docstring is about the synthetic corpus.

The corpus is tests/corpus_redact.py's synthetic workplace messages with ground-truth
spans and labels (fixed seed). Presidio (presidio-analyzer, pinned below) is installed by
this script into its own virtualenv, bench/.bench-venv-presidio (git-ignored; never a
project dependency), and runs in a subprocess with ``NoOpNlpEngine`` (no spaCy model, so
nothing is downloaded) and its predefined English recognizers plus ``UkNinoRecognizer``;
its overlapping results are resolved as Presidio's anonymizer does (higher score, then
longer, wins). consentgate runs ``Redactor.scan_batch`` (detection, every entity and
label) and ``Redactor.apply`` (the default profile, as the gate calls it) on Arrow
batches of 8,192 messages with the corpus's member directory.

Printed: messages/s and MB/s (wall clock and CPU time) for both, the speed ratio, and
per-entity recall and precision on the messages both ran (a predicted span counts when it
overlaps a true span of the same entity). Figures also go to bench/out/bench_redact.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import tomllib
import venv
from pathlib import Path
from typing import Any

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import corpus_redact  # noqa: E402
import redact_external  # noqa: E402

from consentgate.redact import Directory, Redactor, default_profile  # noqa: E402

PRESIDIO = "presidio-analyzer==2.2.366"
VENV = ROOT / "bench" / ".bench-venv-presidio"
OUT = ROOT / "bench" / "out"
BATCH = 8192

# Runs inside the Presidio virtualenv: argv = corpus.jsonl, count, predictions.jsonl.
PRESIDIO_RUN = r"""
import json, sys, time
import tldextract
from tldextract import tldextract as _tld
_tld.TLD_EXTRACTOR = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=())  # offline snapshot
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import NoOpNlpEngine
from presidio_analyzer.predefined_recognizers import UkNinoRecognizer

path, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
texts = [json.loads(line) for _, line in zip(range(count), open(path))]
nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
nlp.load()
registry = RecognizerRegistry()
registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp)
registry.add_recognizer(UkNinoRecognizer())
engine = AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])
for t in texts[:50]:
    engine.analyze(t, language="en")
results = []
wall, cpu = time.perf_counter(), time.process_time()
for t in texts:
    results.append(engine.analyze(t, language="en"))
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

def resolve(rs):
    ranked = sorted(rs, key=lambda r: (-r.score, r.start - r.end, r.start))
    kept = []
    for r in ranked:
        if all(r.end <= k.start or k.end <= r.start for k in kept):
            kept.append(r)
    return sorted(kept, key=lambda r: r.start)

with open(out, "w") as f:
    for rs in results:
        f.write(json.dumps([[r.start, r.end, r.entity_type, round(r.score, 3)] for r in resolve(rs)]) + "\n")
entities = sorted({e for r in registry.recognizers for e in r.supported_entities})
print(json.dumps({"wall": wall, "cpu": cpu, "messages": len(texts), "entities": entities}))
"""


def ensure_presidio(*, install: bool, with_ner: bool = False) -> Path:
    """The bench virtualenv's Python, with Presidio (and, ``with_ner``, the pinned spaCy
    pipelines of the project's ``ner`` extra) installed."""
    python = VENV / "bin" / "python"
    if not python.exists():
        if not install:
            raise SystemExit(f"no Presidio virtualenv at {VENV}; run without --no-install")
        print(f"creating {VENV} and installing {PRESIDIO} ...", flush=True)
        venv.create(VENV, with_pip=True)
    wanted = [PRESIDIO] + (ner_extra() if with_ner else [])
    names = [w.split("==")[0].replace("-", "_") for w in wanted]
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib, sys; [importlib.import_module(n) for n in sys.argv[1:]]",
            *names,
        ],
        capture_output=True,
    )
    if probe.returncode != 0:
        if not install:
            raise SystemExit(f"{', '.join(wanted)} not all installed in {VENV}")
        subprocess.run([str(python), "-m", "pip", "install", "-q", *wanted], check=True)
    return python


def ner_extra() -> list[str]:
    """The pinned requirements of the project's ``ner`` extra (pyproject.toml)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return list(project["optional-dependencies"].get("ner", []))


def run_presidio(
    python: Path, corpus: Path, count: int
) -> tuple[dict[str, Any], list[list[tuple[int, int, str]]]]:
    predictions = OUT / "presidio_predictions.jsonl"
    done = subprocess.run(
        [
            str(python),
            "-W",
            "ignore",
            "-c",
            PRESIDIO_RUN,
            str(corpus),
            str(count),
            str(predictions),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    timing = json.loads(done.stdout.strip().splitlines()[-1])
    spans = [[(s, e, ent) for s, e, ent, _ in json.loads(line)] for line in predictions.open()]
    return timing, spans


def run_consentgate(
    redactor: Redactor, texts: list[str], participants: list[list[str]]
) -> tuple[dict[str, float], list[list[tuple[int, int, str]]], list[tuple[str, ...]]]:
    batches = [
        (
            pa.array(texts[i : i + BATCH], pa.string()),
            pa.array(participants[i : i + BATCH], pa.list_(pa.string())),
        )
        for i in range(0, len(texts), BATCH)
    ]
    redactor.scan_batch(*batches[0])  # warm-up: phone metadata, regex caches
    spans: list[list[tuple[int, int, str]]] = []
    labels: list[tuple[str, ...]] = []
    wall, cpu = time.perf_counter(), time.process_time()
    for t, p in batches:
        for result in redactor.scan_batch(t, p):
            assert result is not None
            spans.append([(s.start, s.end, s.entity) for s in result.spans])
            labels.append(result.labels)
    scan = (time.perf_counter() - wall, time.process_time() - cpu)
    wall, cpu = time.perf_counter(), time.process_time()
    for t, p in batches:
        redactor.apply(t, p)
    apply = (time.perf_counter() - wall, time.process_time() - cpu)
    timing = {
        "scan_wall": scan[0],
        "scan_cpu": scan[1],
        "apply_wall": apply[0],
        "apply_cpu": apply[1],
    }
    return timing, spans, labels


def fmt(t: corpus_redact.Tally | None, truth: int) -> str:
    """recall / precision; with no true span, only the false positives."""
    if t is None:
        return "-"
    if not truth:
        return f"{t.fp} false pos." if t.fp else "-"
    return f"{t.recall:7.3f} / {t.precision:5.3f}"


def rate(count: int, megabytes: float, seconds: float) -> str:
    return f"{count / seconds:10,.0f} msg/s {megabytes / seconds:8.3f} MB/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="200,000 messages, Presidio on 20,000")
    parser.add_argument("--messages", type=int, help="messages for consentgate (default 20,000)")
    parser.add_argument(
        "--presidio-messages", type=int, help="messages for Presidio (default 3,000)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--mix", choices=sorted(corpus_redact.MIXES), default="realistic", help="corpus mix"
    )
    parser.add_argument("--no-presidio", action="store_true", help="consentgate only")
    parser.add_argument(
        "--no-install", action="store_true", help="fail rather than install Presidio"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="--external: processes for the NER apply run"
    )
    parser.add_argument(
        "--external",
        type=Path,
        metavar="DIR",
        help="score every labeled corpus under DIR (bench/redact_external.py)",
    )
    args = parser.parse_args()
    if args.external is not None:
        OUT.mkdir(parents=True, exist_ok=True)
        python = (
            None
            if args.no_presidio
            else ensure_presidio(install=not args.no_install, with_ner=True)
        )
        redact_external.main(args.external, presidio_python=python, out=OUT, workers=args.workers)
        return
    n = args.messages or (200_000 if args.full else 20_000)
    m = min(n, args.presidio_messages or (20_000 if args.full else 3_000))

    OUT.mkdir(parents=True, exist_ok=True)
    corpus = corpus_redact.generate(n, seed=args.seed, mix=args.mix)
    texts = [msg.text for msg in corpus.messages]
    size = lambda k: sum(len(t.encode()) for t in texts[:k]) / 1e6  # noqa: E731
    corpus_path = OUT / "redact_corpus.jsonl"
    with corpus_path.open("w") as f:
        for t in texts:
            f.write(json.dumps(t) + "\n")
    print(
        f"corpus ({args.mix}): {n:,} messages, {size(n):.2f} MB, "
        f"{sum(len(x.spans) for x in corpus.messages):,} true spans"
    )

    redactor = Redactor(default_profile(), Directory.from_records(corpus.members))
    ours, our_spans, our_labels = run_consentgate(
        redactor, texts, [list(x.participants) for x in corpus.messages]
    )
    print(
        f"consentgate scan   wall {rate(n, size(n), ours['scan_wall'])}   cpu {rate(n, size(n), ours['scan_cpu'])}"
    )
    print(
        f"consentgate apply  wall {rate(n, size(n), ours['apply_wall'])}   cpu {rate(n, size(n), ours['apply_cpu'])}"
    )
    summary: dict[str, Any] = {
        "mix": args.mix,
        "messages": n,
        "megabytes": size(n),
        "consentgate": ours,
    }

    theirs: dict[str, Any] = {}
    their_spans: list[list[tuple[int, int, str]]] = []
    if not args.no_presidio:
        python = ensure_presidio(install=not args.no_install)
        theirs, their_spans = run_presidio(python, corpus_path, m)
        print(
            f"presidio analyze   wall {rate(m, size(m), theirs['wall'])}   cpu {rate(m, size(m), theirs['cpu'])}  ({m:,} messages)"
        )
        ratio_wall = (n / ours["scan_wall"]) / (m / theirs["wall"])
        ratio_cpu = (n / ours["scan_cpu"]) / (m / theirs["cpu"])
        ratio_apply = (n / ours["apply_cpu"]) / (m / theirs["cpu"])
        print(
            f"speed ratio (consentgate scan / presidio): {ratio_wall:.1f}x wall, {ratio_cpu:.1f}x cpu; apply: {ratio_apply:.1f}x cpu"
        )
        summary |= {
            "presidio": theirs,
            "presidio_messages": m,
            "ratio_wall": ratio_wall,
            "ratio_cpu": ratio_cpu,
            "ratio_apply_cpu": ratio_apply,
        }

    head = corpus.messages[:m]
    ours_q = corpus_redact.score_entities(head, our_spans[:m])
    theirs_q = corpus_redact.score_entities(head, their_spans) if their_spans else {}
    shared = set(theirs.get("entities", ()))
    print(f"\nper entity on the first {m:,} messages: recall / precision (true spans)")
    print(f"  {'entity':22} {'consentgate':>17} {'presidio':>17}  true")
    quality: dict[str, Any] = {}
    for entity in sorted(set(ours_q) | set(theirs_q)):
        o = ours_q.get(entity, corpus_redact.Tally())
        t = theirs_q.get(entity)
        truth = o.tp + o.fn
        ours_txt = fmt(o, truth)
        theirs_txt = fmt(t, truth) if t and entity in shared else "-"
        mark = ""
        if truth and t is not None and entity in shared:
            mark = "  ok" if o.recall >= t.recall and o.precision >= t.precision else "  BELOW"
        print(f"  {entity:22} {ours_txt:>17} {theirs_txt:>17}  {truth:5d}{mark}")
        quality[entity] = {"consentgate": [o.recall, o.precision, o.tp, o.fp, o.fn]} | (
            {"presidio": [t.recall, t.precision, t.tp, t.fp, t.fn]} if t else {}
        )
    labels_q = corpus_redact.score_labels(corpus.messages, our_labels)
    print(f"\nper label on all {n:,} messages (consentgate; Presidio has none): recall / precision")
    for label, tally in sorted(labels_q.items()):
        print(
            f"  {label:22} {tally.recall:7.3f} / {tally.precision:5.3f}  ({tally.tp + tally.fn} true)"
        )
        quality[f"label:{label}"] = [tally.recall, tally.precision, tally.tp, tally.fp, tally.fn]
    summary["quality"] = quality
    (OUT / f"bench_redact_{args.mix}.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
