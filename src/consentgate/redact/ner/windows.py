"""The cheap pass before NER: which parts of a text could hold a name or a place.

A statistical NER pipeline costs about a hundred times more per byte than the rest of
the redactor, and most of a message is not near a name. Names and places in running text
are capitalised, so the pipeline only needs to see the words around a *candidate*: a word
that starts with a capital letter (or is all capitals, four letters or more), holds no
digit, and is neither the pronoun "I", a day or month name, nor a common word that is capitalised only because
it opens a sentence ("The", "Thanks", "Nous", "Heute", ...). Each candidate gets a window
of ``CONTEXT`` tokens on each side (punctuation counts as a token, as it does for spaCy),
never past the end of its sentence (".", "!", "?" before a space, or a line break)
unless that sentence is ``SHORT`` (a signature or greeting line such as "Vince" alone,
which the model reads as a name only with the lines around it);
windows that meet are merged. Keeping windows within sentences also means that when the
redactor runs NER again on a text it has just redacted, only the sentences it changed
miss the cache.

``CONTEXT`` follows from the pipelines' architecture: the small spaCy pipelines' NER
reads each token through a convolutional encoder of depth 4 with a window of 1 (four
tokens each side) plus the few tokens of its transition state, so six tokens each side
give the model the view of a candidate the whole sentence would. On the synthetic
message corpus (tests/corpus_redact.py) NER on these windows finds the same spans as NER
on whole texts for ~91% of them (wider windows change nothing; the rest comes from
cutting at sentence ends), with PERSON precision 0.95 against 0.91 and the same recall.

Lower-case names ("i met priya") are not candidates; the small pipelines, trained on
edited text, rarely find those anyway.
"""

from __future__ import annotations

import re
from typing import Final

from consentgate.redact.cues import SENTENCE_STARTERS

__all__ = ["CONTEXT", "candidate_windows"]

CONTEXT: Final = 6
SHORT: Final = 3
"""A sentence of at most this many tokens ("Vince", "Hi Anna,", "Sheridan Titman:") is
too short for the model to tell a name from a heading: its candidates' windows reach
into the neighbouring sentences, ``CONTEXT`` tokens each side."""

_TOKEN: Final = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
_BREAK: Final = frozenset(".!?…:;")
_END: Final = frozenset(".!?…")  # a sentence ends there when a space or the end follows
_OPENERS: Final = frozenset("\"'“”„«»‹›‘’()[]{}-–—*•·>")

_ABBREVIATIONS: Final = frozenset(
    """
    mr mrs ms mx dr prof st jr sr vs etc inc ltd co corp no nr approx dept fig mt
    mm mme mlle hr fr sig sra srta dott ing avv gen col lt sgt capt rev hon
    """.split()  # noqa: SIM905
)
"""Words that a "." follows without ending the sentence (titles and common abbreviations)."""

_CALENDAR: Final = frozenset(
    """
    monday tuesday wednesday thursday friday saturday sunday january february july
    september october november december montag dienstag mittwoch donnerstag freitag
    samstag sonntag januar februar märz juli oktober dezember
    """.split()  # noqa: SIM905
)
"""Day and month names English and German capitalise anywhere: never a candidate (months
that are also first names, "April", "May", "June", "August", stay candidates)."""

_PRONOUN_I: Final = frozenset({"i", "i'm", "i’m", "i'll", "i’ll", "i've", "i’ve", "i'd", "i’d"})


def _is_candidate(token: str, *, opens_sentence: bool) -> bool:
    first = token[0]
    if not first.isupper() or any(c.isdigit() for c in token):
        return False
    low = token.lower()
    if low in _PRONOUN_I or low in _CALENDAR:
        return False
    if token.isupper():
        return len(token) >= 4  # "PARIS", "DUPONT"; not "HR", "API", "CEO"
    if len(token) < 2:
        return False
    if not opens_sentence:
        return True
    head = low.replace("’", "'").split("'", 1)[0]  # "We're", "C'est", "L'équipe"
    return low not in SENTENCE_STARTERS and head not in SENTENCE_STARTERS


def candidate_windows(text: str, context: int = CONTEXT) -> list[tuple[int, int]]:
    """Character ranges of ``text`` the NER pipeline must see: up to ``context`` tokens
    around every candidate word, within its sentence, merged; empty when the text has no
    candidate."""
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    ranges: list[tuple[int, int, int]] = []  # first token, last token, sentence start
    opens = True
    first = 0  # the first token of the current sentence
    ends: list[int] = []  # per token, the last token of its sentence (filled lazily)
    for k, (s, e) in enumerate(tokens):
        if k and "\n" in text[tokens[k - 1][1] : s]:
            opens, first = True, k
        token = text[s:e]
        if len(token) == 1 and not token[0].isalnum():
            if token in _BREAK and not _abbreviation(text, tokens, k):
                opens = True
                if token in _END and (e == len(text) or text[e].isspace()):
                    first = k + 1
            elif token not in _OPENERS:
                opens = False
            continue
        if _is_candidate(token, opens_sentence=opens):
            last = _sentence_end(text, tokens, k, ends)
            if last - first < SHORT:  # a name alone on its line: read its neighbours too
                a, b = max(0, k - context), min(len(tokens) - 1, k + context)
            else:
                a, b = max(first, k - context), min(last, k + context)
            if ranges and (
                a <= ranges[-1][1] or (ranges[-1][2] == first and a == ranges[-1][1] + 1)
            ):
                ranges[-1] = (min(a, ranges[-1][0]), max(b, ranges[-1][1]), first)
            else:
                ranges.append((a, b, first))
        opens = False
    return [(tokens[a][0], tokens[b][1]) for a, b, _ in ranges]


def _abbreviation(text: str, tokens: list[tuple[int, int]], k: int) -> bool:
    """Whether token ``k``, a ".", ends an abbreviation or an initial ("Dr.", "J.")
    rather than a sentence."""
    if k == 0 or text[tokens[k][0]] != "." or tokens[k - 1][1] != tokens[k][0]:
        return False
    word = text[tokens[k - 1][0] : tokens[k - 1][1]]
    return (len(word) == 1 and word.isupper()) or word.lower() in _ABBREVIATIONS


def _sentence_end(text: str, tokens: list[tuple[int, int]], k: int, ends: list[int]) -> int:
    """The index of the last token of the sentence holding token ``k``."""
    if len(ends) > k:
        return ends[k]
    j = k
    while j + 1 < len(tokens):
        s, e = tokens[j]
        if (
            text[s:e] in _END
            and (e == len(text) or text[e].isspace())
            and not _abbreviation(text, tokens, j)
        ) or "\n" in text[e : tokens[j + 1][0]]:
            break
        j += 1
    ends.extend([j] * (j + 1 - len(ends)))
    return j
