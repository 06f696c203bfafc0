"""The member directory, and finding its members' names, emails and phones in text.

Which variants match whom (a deliberate trade-off, see docs/redaction.md):

* any directory member: the full name ("Jane Doe", also with middle names as stored),
  "First L." ("Jane D."), the email address and the phone number (by its last nine
  digits, whatever the formatting);
* the record's own participants only: the first name alone and the last name alone.

A first name alone from a million-member directory would match nearly every message
("Will", "Grace", "Mark"), so single-name variants are limited to the people the record
is about, whose member ids the gate passes per row. A single name that is also a common
English word ("Grant", "Rose", "Baker") must be capitalized in the text to match.

Full names and initials go into one Aho-Corasick automaton (``pyahocorasick``), built once
per directory, scanned over the lower-cased text in one pass: the cost per text does not
grow with the directory. Matches must sit on word boundaries. Before that, for a whole
Arrow batch, ``Directory.candidates`` runs an RE2 alternation of the directory's first
and last names (a necessary condition for any match) so that texts naming nobody skip
the automaton and Python altogether.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import ahocorasick
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from consentgate.errors import SchemaMismatch
from consentgate.redact.catalog import ENTITY_CATEGORIES
from consentgate.redact.spans import Span

__all__ = ["COMMON_WORD_NAMES", "Directory", "lowered"]

_PERSON_CAT: Final = ENTITY_CATEGORIES["PERSON"]
_EMAIL_CAT: Final = ENTITY_CATEGORIES["EMAIL_ADDRESS"]
_PHONE_CAT: Final = ENTITY_CATEGORIES["PHONE_NUMBER"]
_AMBIGUOUS: Final = 0  # packed ref meaning "more than one member has this key"
_MAX_KEY: Final = 255

COMMON_WORD_NAMES: Final = frozenset(
    """
    will may june april august grant mark bill rose summer hope faith joy art chase dawn
    drew frank gene guy jack jean ray rich rob sandy sue victor wade amber angel autumn
    bell brook cliff dean earl ernest forest glen grace holly iris ivy jewel king lane
    lily major mason miles norm pat penny pierce price reed rusty sky stone terry wood
    young brown white black green long short little small hall hill park page mills rice
    bush fox frost gold case cook baker miller walker hunter carter cole best bond booth
    bishop lord knight sharp strong sweet wise west north south east winter spring day
    night love rain snow storm river lake field fields marsh moss bank banks ball bass
    bean bird bloom bolt bone bright brooks buck burns cash chance clay coins cross
    crown dale dell early fair fisher ford fowler free gay gardner gill glass hand hardy
    hart hay hope house hughes joiner justice kidd lamb land law leach light lock lucky
    mann march marshal mayor mercy moody moore nash new noble oak patience payne person
    pike pope porter power pratt rich rider rock rose rowe royal rush sage salmon savage
    sells shepherd shields shore silver skinner slater smart spicer steel stern stock
    summers swift tanner taylor temple thatcher trout turner vale waters weaver webb
    wells wolf woods worth wren wright
    """.split()  # noqa: SIM905
)
"""First or last names that are also common English words: matched alone only when capitalized."""


def lowered(text: str) -> str:
    """``text.lower()`` with the same length (offsets stay valid for the few characters
    whose lower case is longer, such as "İ")."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(ch.lower()[:1] or ch for ch in text)


def _normalize(name: str) -> str:
    return " ".join(name.lower().split())


_EMAIL_STOP: Final = frozenset(" \t\r\n\f\v<>()[]{}\"',;:")
_DIGIT_RUN: Final = re.compile(r"[0-9](?:[ ().-]{0,2}[0-9]){8,}\)?")  # nine digits or more


def _token_bounds(text: str, at: int) -> tuple[int, int]:
    """The run of non-delimiter characters around position ``at`` (an "@")."""
    start = at
    while start > 0 and text[start - 1] not in _EMAIL_STOP:
        start -= 1
    end = at + 1
    while end < len(text) and text[end] not in _EMAIL_STOP:
        end += 1
    return start, end


def _phone_key(digits: str) -> int | None:
    return int(digits[-9:]) if 9 <= len(digits) <= 15 else None


class Directory:
    """Members (id, name, email, phone) and the matchers built from them, once.

    Build with :meth:`from_arrow` or :meth:`from_records`; a ``Directory`` is immutable
    afterwards and can be shared (and pickled, for Spark executors).
    """

    __slots__ = ("_automaton", "_emails", "_ids", "_index", "_names", "_phones", "_singles")

    def __init__(
        self,
        member_ids: Sequence[str],
        names: Sequence[str | None],
        emails: Sequence[str | None] = (),
        phones: Sequence[str | None] = (),
    ) -> None:
        self._ids = list(member_ids)
        self._singles: list[tuple[tuple[str, bool], ...]] = []
        self._index: dict[str, int] = {}
        self._emails: dict[str, int] = {}
        self._phones: dict[int, int] = {}
        automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        runs: set[str] | None = set()
        for i, member_id in enumerate(self._ids):
            self._index.setdefault(member_id, i)
            name = names[i] if i < len(names) else None
            tokens = tuple(_normalize(name).split()) if name else ()
            singles = dict.fromkeys(t for t in tokens[:1] + tokens[-1:] if len(t) >= 2)
            self._singles.append(tuple((t, t in COMMON_WORD_NAMES) for t in singles))
            if runs is not None and tokens:
                # every variant matched starts with the first name, every single-name
                # variant is the first or the last name
                for token in singles or tokens[:1]:
                    run = _first_run(token)
                    if run is None:
                        runs = None  # a name without letters or digits: no filter
                        break
                    runs.add(run)
            if len(tokens) >= 2 and all(len(t) >= 2 for t in (tokens[0], tokens[-1])):
                variants = {
                    " ".join(tokens),
                    f"{tokens[0]} {tokens[-1]}",
                    f"{tokens[0]} {tokens[-1][0]}.",
                }
                for key in variants:
                    if len(key) <= _MAX_KEY:
                        old = automaton.get(key, None)
                        if old is None:
                            automaton.add_word(key, (i + 1) << 8 | len(key))
                        elif old >> 8 != i + 1:
                            automaton.add_word(key, _AMBIGUOUS << 8 | len(key))
            email = emails[i] if i < len(emails) else None
            if email:
                self._emails.setdefault(email.strip().lower(), i)
            phone = phones[i] if i < len(phones) else None
            if phone:
                phone_key = _phone_key("".join(c for c in phone if c.isdigit()))
                if phone_key is not None:
                    self._phones.setdefault(phone_key, i)
        if len(automaton):
            automaton.make_automaton()
        self._automaton = automaton
        self._names = _name_filter(runs)

    @classmethod
    def from_arrow(cls, table: pa.Table | pa.RecordBatch) -> Directory:
        """From columns ``member_id`` and ``name`` (strings) and optional ``email`` and
        ``phone`` (nullable strings)."""
        missing = [c for c in ("member_id", "name") if c not in table.column_names]
        if missing:
            raise SchemaMismatch(
                "member directory lacks columns", [f"{c}: required column missing" for c in missing]
            )

        def column(name: str) -> list[str | None]:
            if name not in table.column_names:
                return []
            col = table.column(name)
            if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
                raise SchemaMismatch(
                    "member directory column has the wrong type",
                    [f"{name}: expected string, got {col.type}"],
                )
            values: list[str | None] = col.to_pylist()
            return values

        ids = column("member_id")
        if any(i is None for i in ids):
            raise SchemaMismatch("member directory has null member ids", ["member_id: null value"])
        return cls([str(i) for i in ids], column("name"), column("email"), column("phone"))

    @classmethod
    def from_records(cls, rows: Iterable[Mapping[str, str | None]]) -> Directory:
        """From mappings with keys ``member_id``, ``name``, ``email``, ``phone``."""
        ids: list[str] = []
        names: list[str | None] = []
        emails: list[str | None] = []
        phones: list[str | None] = []
        for row in rows:
            ids.append(str(row["member_id"]))
            names.append(row.get("name"))
            emails.append(row.get("email"))
            phones.append(row.get("phone"))
        return cls(ids, names, emails, phones)

    def __len__(self) -> int:
        return len(self._ids)

    def index_of(self, member_id: str) -> int | None:
        """The internal index of a member, or None if the id is not in the directory."""
        return self._index.get(member_id)

    def candidates(
        self, texts: pa.Array, *, digits: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.bool_]:
        """Per row of an Arrow string array, whether :meth:`find` could find anything
        in it; ``digits``: the rows :meth:`find` is told hold digits (``digits=True``).

        A name is found only where the first word (a run of letters, digits or "_") of
        a directory first or last name stands as a whole word, in any case: one RE2
        pass over the array for all of them (a few for a large directory, none for a
        very large one: see ``_name_filter``); an email needs an "@". The Aho-Corasick
        scan, ~14 ns a character, then runs only on the rows that pass.
        """
        if len(texts) == 0:
            return np.zeros(0, bool)
        if self._names is None:
            found = np.ones(len(texts), bool)
        else:
            found = np.zeros(len(texts), bool)
            for pattern in self._names:
                rest = np.flatnonzero(~found)
                if len(rest) == len(texts):
                    found = _matches(texts, pattern)
                elif len(rest):
                    found[rest[_matches(texts.take(pa.array(rest)), pattern)]] = True
        if self._emails:
            found |= _matches(texts, "@")
        if self._phones:
            found |= digits
        found &= np.asarray(texts.is_valid().to_numpy(zero_copy_only=False), bool)
        return found

    def find(
        self, text: str, low: str, participants: Sequence[int] = (), *, digits: bool = True
    ) -> list[Span]:
        """PERSON, EMAIL_ADDRESS and PHONE_NUMBER spans of directory members in ``text``.

        ``low`` is :func:`lowered` ``(text)``; ``participants`` are the indexes (from
        :meth:`index_of`) of the record's own participants; ``digits=False`` says the text
        has no run of seven digits, so no phone number (the engine knows it from RE2).
        """
        spans: list[Span] = []
        n = len(text)
        if self._automaton.kind == ahocorasick.AHOCORASICK:
            for end, packed in self._automaton.iter(low):
                start = end - (packed & 0xFF) + 1
                if start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
                    continue
                after = end + 1
                if (
                    after < n
                    and text[end].isalnum()
                    and (text[after].isalnum() or text[after] == "_")
                ):
                    continue
                ref = packed >> 8
                key = f"m{ref - 1}" if ref else low[start:after]
                spans.append(Span(start, after, "PERSON", _PERSON_CAT, key, 88))
        if participants:
            seen: set[str] = set()
            singles = self._singles
            for i in participants:
                for token, common in singles[i]:
                    if token in seen:
                        continue
                    seen.add(token)
                    start = low.find(token)
                    while start >= 0:
                        end = start + len(token)
                        if not (
                            (start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"))
                            or (end < n and (text[end].isalnum() or text[end] == "_"))
                            or (common and not text[start].isupper())
                        ):
                            spans.append(Span(start, end, "PERSON", _PERSON_CAT, f"m{i}", 88))
                        start = low.find(token, end)
        if self._emails and "@" in text:
            at = text.find("@")
            while at >= 0:
                start, end = _token_bounds(text, at)
                value = text[start:end].rstrip(".")
                j = self._emails.get(value.lower())
                if j is not None:
                    spans.append(
                        Span(start, start + len(value), "EMAIL_ADDRESS", _EMAIL_CAT, f"m{j}", 90)
                    )
                at = text.find("@", max(end, at + 1))
        if self._phones and digits:
            for m in _DIGIT_RUN.finditer(text):
                start, end = m.start(), m.end()
                if start > 0 and text[start - 1] == "(":
                    start -= 1
                if start > 0 and text[start - 1] == "+":
                    start -= 1
                if _isword(text, start - 1) or _isword(text, end):
                    continue
                phone_key = _phone_key("".join(c for c in m.group() if c.isdigit()))
                j = self._phones.get(phone_key) if phone_key is not None else None
                if j is not None:
                    spans.append(Span(start, end, "PHONE_NUMBER", _PHONE_CAT, f"m{j}", 66))
        return spans


_MAX_PREFIXES: Final = 6000
_MAX_PATTERNS: Final = 4
_NOT_ASCII_WORD: Final = "[^0-9A-Za-z_]"


def _first_run(token: str) -> str | None:
    """The first run of word characters (``str.isalnum`` or "_") in ``token``."""
    start = 0
    while start < len(token) and not _isword(token, start):
        start += 1
    end = start
    while end < len(token) and _isword(token, end):
        end += 1
    return token[start:end] or None


def _name_filter(runs: set[str] | None) -> tuple[str, ...] | None:
    """RE2 patterns, one of which matches every text in which a directory name could
    be found (``()``: no text can hold one).

    A match found by :meth:`Directory.find` starts with a directory first name (or, for
    a participant, is a first or last name) standing on word boundaries, so the first
    word run of that name stands in the text between two characters that are not word
    characters (Python's, which are not ASCII word characters either). The runs come
    from lower-cased names and the text is matched case-insensitively: RE2 folds cases
    by Unicode simple folding, which relates every character to its lower case but "İ"
    (whose lower case in Python is "i" plus a combining dot), hence ``[iİ]``.

    RE2 runs an alternation of words as a DFA whose states are, in effect, the prefixes
    of the words' UTF-8 bytes; past ~9,000 of them for ASCII names (fewer for non-ASCII
    ones, whose case folding takes more program) it outgrows RE2's memory budget and
    falls back to an engine a hundred times slower, so the runs are split into patterns
    of at most ``_MAX_PREFIXES`` byte prefixes (one pass each). ``None`` means no filter (every text is
    a candidate): a name without word characters, or more than ``_MAX_PATTERNS``
    patterns, where scanning with the Aho-Corasick automaton alone is cheaper.
    """
    if runs is None:
        return None
    chunks: list[list[str]] = [[]]
    seen: set[bytes] = set()
    for run in sorted(runs):
        code = run.encode()
        fresh = {code[:k] for k in range(1, len(code) + 1)} - seen
        if len(seen) + len(fresh) > _MAX_PREFIXES and chunks[-1]:
            chunks.append([])
            seen = set()
            fresh = {code[:k] for k in range(1, len(code) + 1)}
        seen |= fresh
        chunks[-1].append(run)
    if len(chunks) > _MAX_PATTERNS:
        return None
    return tuple(
        f"(?i)(?:^|{_NOT_ASCII_WORD})(?:{_words(chunk)})(?:{_NOT_ASCII_WORD}|$)"
        for chunk in chunks
        if chunk
    )


def _words(runs: list[str]) -> str:
    return "|".join(re.escape(r).replace("i", "[iİ]") for r in sorted(runs, key=len, reverse=True))


def _matches(texts: pa.Array, pattern: str) -> npt.NDArray[np.bool_]:
    hit = pc.match_substring_regex(texts, pattern).fill_null(False)
    return np.asarray(hit.to_numpy(zero_copy_only=False), bool)


def _isword(text: str, i: int) -> bool:
    return 0 <= i < len(text) and (text[i].isalnum() or text[i] == "_")
