"""Error analysis of PERSON and LOCATION with NER on the labeled corpora, by category.

    python bench/redact_errors.py DIR [--corpus NAME ...] [--examples N]

For each corpus under DIR (the layout of ``bench/redact_external.py``), runs
``Redactor(ner=default_ner()).scan_batch`` twice: with the cheap pre-pass
(``ner.windows``: the model sees only the words around capitalised candidates) and
without it (the model sees whole texts), and prints counts only:

* misses (a gold PERSON/LOCATION no predicted span of its label overlaps), by cause:
  ``lowercase`` (the gold surface has no capital), ``other_label`` (a predicted span of
  another entity covers it: a person read as a place), ``prepass`` (outside every
  candidate window, so the model never saw it), ``model`` (the model saw it and found
  nothing), ``model_whole_text_finds`` (among ``model``: found when the whole text is
  read); plus how many misses open a sentence;
* false positives (a predicted span overlapping no gold span of its label), by what the
  gold has there (``gold:ORGANIZATION``, ``gold:LOCATION``, ... or ``nothing``) and by
  shape (``all_caps``, ``digit``, ``one_word``, ``cue`` when a cue rather than the model
  produced it).

``--examples N`` also prints up to N surfaces per category, for the analyst's eyes only:
the corpora are for measuring, no list, pattern or threshold may be taken from them.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

import redact_external

from consentgate.redact import Redactor, default_profile
from consentgate.redact.ner import (
    default_ner,  # type: ignore[attr-defined]
    pipelines,
    windows,
)

LABELS = ("PERSON", "LOCATION")
_SENTENCE_END = ".!?\n"


def _scan(texts: list[str], *, whole: bool) -> list[list[tuple[int, int, str, int]]]:
    ner = default_ner()
    if ner is None:
        raise SystemExit("the ner extra is not installed")
    original = pipelines.candidate_windows
    if whole:
        pipelines.candidate_windows = lambda t: [(0, len(t))] if t.strip() else []  # type: ignore[assignment]
    try:
        redactor = Redactor(default_profile(), ner=ner)
        out = []
        for i in range(0, len(texts), 2048):
            for r in redactor.scan_batch(pa.array(texts[i : i + 2048], pa.string())):
                assert r is not None
                out.append([(s.start, s.end, s.entity, s.priority) for s in r.spans])
        return out
    finally:
        pipelines.candidate_windows = original  # type: ignore[assignment]


def _opens_sentence(text: str, start: int) -> bool:
    before = text[:start].rstrip(" \t\"'“(«")
    return not before or before[-1] in _SENTENCE_END


def analyse(
    corpus: redact_external.Corpus, examples: int, *, whole_too: bool = True
) -> dict[str, Any]:
    pre = _scan(corpus.texts, whole=False)
    whole = _scan(corpus.texts, whole=True) if whole_too else pre
    misses: dict[str, Counter[str]] = defaultdict(Counter)
    fps: dict[str, Counter[str]] = defaultdict(Counter)
    shown: dict[tuple[str, str], list[str]] = defaultdict(list)
    recall: dict[str, list[int]] = {lb: [0, 0, 0] for lb in LABELS}  # gold, pre, whole
    precision: dict[str, list[int]] = {lb: [0, 0] for lb in LABELS}  # predicted, right

    def note(kind: str, label: str, category: str, surface: str) -> None:
        (misses if kind == "miss" else fps)[label][category] += 1
        if len(shown[(kind + " " + label, category)]) < examples:
            shown[(kind + " " + label, category)].append(surface)

    for text, gold, got, got_whole in zip(corpus.texts, corpus.gold, pre, whole, strict=True):
        wins = windows.candidate_windows(text)
        for label in LABELS:
            mine = [(s, e, p) for s, e, lb, p in got if lb == label]
            theirs = [(s, e) for s, e, lb in gold if lb == label]
            for gs, ge in theirs:
                recall[label][0] += 1
                hit = any(s < ge and gs < e for s, e, _ in mine)
                hit_whole = any(s < ge and gs < e for s, e, lb, _ in got_whole if lb == label)
                recall[label][1] += hit
                recall[label][2] += hit_whole
                if hit:
                    continue
                surface = text[gs:ge]
                if _opens_sentence(text, gs):
                    note("miss", label, "(opens a sentence)", surface)
                if not any(c.isupper() for c in surface):
                    note("miss", label, "lowercase", surface)
                elif any(s < ge and gs < e and lb != label for s, e, lb, _ in got):
                    other = next(lb for s, e, lb, _ in got if s < ge and gs < e and lb != label)
                    note("miss", label, f"other_label:{other}", surface)
                elif not any(a <= gs and ge <= b for a, b in wins) and not any(
                    a < ge and gs < b for a, b in wins
                ):
                    note("miss", label, "prepass", surface)
                else:
                    note("miss", label, "model", surface)
                    if hit_whole:
                        note("miss", label, "model_whole_text_finds", surface)
            for s, e, priority in mine:
                precision[label][0] += 1
                if any(gs < e and s < ge for gs, ge in theirs):
                    precision[label][1] += 1
                    continue
                surface = text[s:e]
                there = sorted({lb for gs, ge, lb in gold if gs < e and s < ge}) or ["nothing"]
                note("fp", label, "gold:" + "+".join(there), surface)
                if priority != pipelines._PRIORITY:
                    note("fp", label, "shape:cue_or_rule", surface)
                letters = [c for c in surface if c.isalpha()]
                if letters and all(c.isupper() for c in letters):
                    note("fp", label, "shape:all_caps", surface)
                if any(c.isdigit() for c in surface):
                    note("fp", label, "shape:digit", surface)
                if len(surface.split()) == 1:
                    note("fp", label, "shape:one_word", surface)
    print(f"\n## {corpus.name}")
    for label in LABELS:
        g, p, w = recall[label]
        n, right = precision[label]
        if g and n:
            print(
                f"{label}: gold {g}, with the pre-pass precision {right / n:.3f} recall "
                f"{p / g:.3f}; recall on whole texts {w / g:.3f}"
            )
        print(f"  misses: {dict(misses[label].most_common())}")
        print(f"  false positives: {dict(fps[label].most_common())}")
    for (kind, category), surfaces in sorted(shown.items()):
        print(f"  e.g. {kind} {category}: {surfaces}")
    return {"recall": recall, "precision": precision, "misses": misses, "false_positives": fps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--corpus", action="append", help="only these corpora")
    parser.add_argument("--examples", type=int, default=0)
    parser.add_argument("--no-whole", action="store_true", help="skip the run without the pre-pass")
    args = parser.parse_args()
    for corpus in redact_external.load_corpora(args.root):
        if args.corpus and corpus.name not in args.corpus:
            continue
        analyse(corpus, args.examples, whole_too=not args.no_whole)


if __name__ == "__main__":
    main()
