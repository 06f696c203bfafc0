"""The redactor: detect, resolve overlapping spans, and apply a profile, per Arrow batch.

``Redactor.apply`` is what the gate calls on the texts of eligible records: Arrow string
array in, redacted Arrow string array out, with each record's exclusion reason and the
counts the manifest reports. The steps for a batch:

1. ``prefilter.groups`` runs the RE2 prefilter of every entity and label the profile acts
   on over the whole array, giving each row a bit mask of the detector groups worth
   running on it (``compensation`` only where the text also holds a digit: see
   ``_groups``);
2. a row carrying a label whose action is ``exclude`` is excluded at once, with reason
   ``sensitive_content:<label>`` (labels in ``catalog.LABELS`` order) and a null text;
   for a phrase label whose hard negatives' prefilter did not match either, RE2 alone
   decides, without Python;
3. the other rows with a non-zero mask, or where the directory may find a member
   (``Directory.candidates``; every row when an NER backend is set), go through the
   Python detectors of their groups (only those rows become Python strings); an entity whose action is
   ``exclude`` excludes the row; otherwise the ``redact``/``pseudonymize`` spans,
   overlaps resolved longest first, are replaced by placeholders;
4. a redacted row is scanned again when the replacement could have changed what the
   detectors see (see ``Redactor._recheck``), until nothing actionable is left: that is
   what makes ``redact(redact(x)) == redact(x)`` hold for every input, not just the
   usual ones. Placeholders are never detected, and each round strictly shrinks the
   non-placeholder text, so it ends.

``Redactor.scan`` reports what one text holds, for ``consentgate scan``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from consentgate.errors import SchemaMismatch
from consentgate.redact import patterns, prefilter, sensitive
from consentgate.redact.catalog import ENTITIES, LABELS, PLACEHOLDER
from consentgate.redact.ner import ORGANIZATION, NerBackend, find_all
from consentgate.redact.people import Directory, lowered
from consentgate.redact.profile import Profile, default_profile
from consentgate.redact.spans import LabelHit, ScanResult, Span, resolve_overlaps

__all__ = ["RedactionResult", "Redactor", "scan_lines"]

_ID_MASK: Final = sum(patterns.PREFILTERS)
_LABEL_MASK: Final = sum(sensitive.PREFILTERS)
_DIRECTORY_ENTITIES: Final = frozenset({"PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER"})
_NUMBERED: Final = re.compile(r"<([A-Z][A-Z0-9_]*?)_([0-9]+)>")
_ACT: Final = frozenset({"redact", "pseudonymize"})
_SCAN_BATCH: Final = 1024
_CONTEXT_GROUPS: Final = patterns.G_DOB | _LABEL_MASK
# Neighbours of a new placeholder that cannot end (before it) or start (after it) any
# detection: only then can the neighbour's own match not have changed. (":" is in neither:
# an IPv6 address may begin or end with one.)
_SAFE_BEFORE: Final = "'\",;>"
_SAFE_AFTER: Final = ".,;!?)]}'\"<"
_JOINERS: Final = " .-/:"  # separators inside a digit run, phone or account number
_PAY_BIT: Final = sensitive.LABEL_BITS["compensation"]
_CAPITAL: Final = r"\p{Lu}"  # RE2: an upper-case letter, which every NER candidate starts with


@dataclass(frozen=True, slots=True)
class RedactionResult:
    """The outcome of :meth:`Redactor.apply` for one batch of texts.

    ``texts``: the redacted texts (null where the input was null or the record is
    excluded); ``excluded``: ``sensitive_content:<name>`` or null, per row;
    ``redactions``: spans replaced per entity or label name, over kept rows;
    ``exclusions``: records excluded per label or entity name.
    """

    texts: pa.Array
    excluded: pa.Array
    redactions: Mapping[str, int] = field(default_factory=dict)
    exclusions: Mapping[str, int] = field(default_factory=dict)


class _Row:
    """Per-record state across fixpoint rounds, for records that had replacements."""

    __slots__ = ("counts", "numbers", "pseudonyms")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.pseudonyms: dict[tuple[str, str], int] = {}
        self.numbers: dict[str, int] = {}


class Redactor:
    """Detects personal data and sensitive content and applies a :class:`Profile`.

    Build one per profile and directory and reuse it: construction compiles nothing per
    call, and the object is picklable (for Spark executors) when its NER backend is.
    """

    __slots__ = (
        "_act_entities",
        "_act_labels",
        "_directory",
        "_entity_action",
        "_exclude_entities",
        "_exclude_labels",
        "_label_action",
        "_ner",
        "_profile",
        "_span_labels",
    )

    def __init__(
        self,
        profile: Profile | None = None,
        directory: Directory | None = None,
        *,
        ner: NerBackend | None = None,
    ) -> None:
        self._profile = profile if profile is not None else default_profile()
        self._directory = directory
        self._ner = ner
        entities = set(ENTITIES) | (set(ner.entities) if ner is not None else set())
        self._act_entities = frozenset(
            e for e in entities if self._profile.entity_action(e) != "keep"
        )
        self._act_labels = frozenset(
            lb for lb in LABELS if self._profile.label_action(lb) != "keep"
        )
        self._entity_action = {e: self._profile.entity_action(e) for e in entities}
        self._label_action = {lb: self._profile.label_action(lb) for lb in LABELS}
        self._exclude_entities = frozenset(
            e for e, a in self._entity_action.items() if a == "exclude"
        )
        self._exclude_labels = tuple(
            lb for lb in LABELS if self._profile.label_action(lb) == "exclude"
        )
        self._span_labels = frozenset(lb for lb in LABELS if self._profile.label_action(lb) in _ACT)

    @property
    def profile(self) -> Profile:
        return self._profile

    @property
    def ner(self) -> NerBackend | None:
        return self._ner

    @property
    def description(self) -> dict[str, Any]:
        """How this redactor finds names, for the dataset manifest: ``names_found_by``
        (``directory``, ``cues``, ``ner``) and, with an NER backend that describes
        itself, its pipelines under ``ner``."""
        found_by = ["directory"] if self._directory is not None else []
        found_by.append("cues")
        out: dict[str, Any] = {"names_found_by": found_by}
        if self._ner is not None:
            found_by.append("ner")
            described = getattr(self._ner, "description", None)
            if described:
                out["ner"] = dict(described)
        return out

    # ------------------------------------------------------------------ detection

    def scan(
        self, text: str, participants: Sequence[str] = (), *, language: str | None = None
    ) -> ScanResult:
        """Every entity span (overlaps resolved) and label in ``text``, whatever the
        profile's actions. ``participants`` are member ids of the record's people;
        ``language`` (e.g. ``"fr"``) picks the NER pipeline, detected when None."""
        strings = pa.array([text], pa.string())
        groups = int(prefilter.groups(strings, _ID_MASK | _LABEL_MASK)[0])
        ner: list[Span] = []
        if self._ner is not None:
            ner = find_all(self._ner, [text], [language])[0]
        spans, hits = self._detect(
            text, groups, self._indexes(participants), _ALL_ENTITIES, _ALL_LABELS, ner
        )
        return _scan_result(spans, hits)

    def scan_batch(
        self,
        texts: pa.Array,
        participants: pa.Array | None = None,
        languages: pa.Array | None = None,
    ) -> list[ScanResult | None]:
        """:meth:`scan` for every row of an Arrow string array (None for null rows)."""
        strings = _as_strings(texts)
        _check_participants(strings, participants)
        _check_languages(strings, languages)
        empty = _scan_result([], [])
        valid: list[bool] = strings.is_valid().to_numpy(zero_copy_only=False).tolist()
        results: list[ScanResult | None] = [empty if v else None for v in valid]
        todo, groups, named = self._worth_a_look(strings, _ID_MASK | _LABEL_MASK, _ALL_ENTITIES)
        take = pa.array(todo)
        values: list[str] = strings.take(take).to_pylist()
        parts = participants.take(take).to_pylist() if participants is not None else None
        langs = languages.take(take).to_pylist() if languages is not None else None
        ner = self._ner_spans(values, named, langs)
        for k, i in enumerate(todo.tolist()):
            who = self._indexes(parts[k]) if parts is not None else ()
            spans, hits = self._detect(
                values[k], groups[k], who, _ALL_ENTITIES, _ALL_LABELS, ner.get(k, ())
            )
            results[i] = _scan_result(spans, hits)
        return results

    def _ner_spans(
        self,
        values: Sequence[str | None],
        named: Sequence[bool] | None,
        languages: Sequence[str | None] | None,
    ) -> dict[int, list[Span]]:
        """NER spans of ``values[k]`` for every ``k`` where ``named[k]`` (the text holds
        a capital letter), in one backend call."""
        if self._ner is None or named is None:
            return {}
        picked = [k for k, yes in enumerate(named) if yes and values[k] is not None]
        if not picked:
            return {}
        texts = [str(values[k]) for k in picked]
        langs = [languages[k] for k in picked] if languages is not None else None
        found = find_all(self._ner, texts, langs)
        return {k: spans for k, spans in zip(picked, found, strict=True) if spans}

    def _indexes(self, member_ids: Iterable[str] | None) -> tuple[int, ...]:
        if self._directory is None or not member_ids:
            return ()
        index_of = self._directory.index_of
        return tuple([i for i in map(index_of, member_ids) if i is not None])

    def _detect(
        self,
        text: str,
        groups: int,
        participants: Sequence[int],
        entities: frozenset[str],
        labels: frozenset[str],
        ner: Sequence[Span] = (),
    ) -> tuple[list[Span], list[LabelHit]]:
        """Entity spans (overlapping, resolved later) and label hits in ``text``: the
        identifiers of the prefilter ``groups``, the directory's members, the cues, and
        ``ner`` (the backend's spans for this text), combined by :func:`_combine`."""
        spans = patterns.find_identifiers(text, groups, entities) if groups & _ID_MASK else []
        found: list[Span] = []
        if self._directory is not None and not entities.isdisjoint(_DIRECTORY_ENTITIES):
            found = self._directory.find(
                text, lowered(text), participants, digits=bool(groups & patterns.G_DIGITS)
            )
            if found and spans:
                # the directory's span wins over the same span found by a cue ("Hi Jane"):
                # it knows the member, which keeps pseudonyms consistent
                same = {(s.start, s.end, s.entity) for s in found}
                spans = [s for s in spans if (s.start, s.end, s.entity) not in same]
            if not entities >= _DIRECTORY_ENTITIES:
                found = [s for s in found if s.entity in entities]
        if ner:
            spans, found = _combine(spans, found, ner, entities)
        spans.extend(found)
        hits = sensitive.find_labels(text, groups, labels) if groups & _LABEL_MASK else []
        if "<" in text and (spans or hits):
            held = [(m.start(), m.end()) for m in PLACEHOLDER.finditer(text)]
            if held:
                spans = [s for s in spans if not _overlaps(s.start, s.end, held)]
                hits = [h for h in hits if not _overlaps(h.start, h.end, held)]
        return spans, hits

    # ------------------------------------------------------------------ redaction

    def apply(
        self,
        texts: pa.Array,
        participants: pa.Array | None = None,
        languages: pa.Array | None = None,
    ) -> RedactionResult:
        """Redact a batch per the profile. ``texts``: string array (nulls allowed);
        ``participants``: ``list<string>`` of member ids per row, or None; ``languages``:
        a language tag per row (``"en"``, ``"fr-CA"``; null: detect), for the NER
        backend, or None to detect every row's."""
        strings = _as_strings(texts)
        n = len(strings)
        _check_participants(strings, participants)
        _check_languages(strings, languages)
        excluded: dict[int, str] = {}
        out: dict[int, str | None] = {}  # rows whose text was redacted or excluded
        exclusions: Counter[str] = Counter()
        bits = self._bits()
        rows: dict[int, _Row] = {}
        # round 1 looks at every row; Python sees only the rows RE2 says may hold something
        todo, groups, named = self._worth_a_look(strings, bits, self._act_entities)
        pending: list[int] = todo.tolist()
        values: list[str | None] = strings.take(pa.array(todo)).to_pylist()
        current = dict(zip(pending, values, strict=True))
        who_of: dict[int, Any] = {}
        if participants is not None:
            who_of = dict(zip(pending, participants.take(pa.array(todo)).to_pylist(), strict=True))
        language_of: dict[int, str | None] | None = None
        if languages is not None:
            taken = languages.take(pa.array(todo)).to_pylist()
            language_of = dict(zip(pending, taken, strict=True))
        while pending:
            again: list[int] = []
            reasons = [
                self._label_exclusion(text, g) if g & _LABEL_MASK and text is not None else None
                for text, g in zip((current[i] for i in pending), groups, strict=True)
            ]
            ner = self._ner_spans(
                [current[i] if reasons[k] is None else None for k, i in enumerate(pending)],
                named,
                [language_of[i] for i in pending] if language_of is not None else None,
            )
            for k, i in enumerate(pending):
                g = groups[k]
                text = current[i]
                if text is None:  # pragma: no cover - pending rows are never null
                    continue
                reason = reasons[k]
                if reason is None:
                    who = self._indexes(who_of.get(i))
                    spans, hits = self._detect(
                        text, g, who, self._act_entities, self._span_labels, ner.get(k, ())
                    )
                    if not spans and not hits:
                        continue
                    reason = self._exclusion(spans) if self._exclude_entities else None
                if reason is not None:
                    excluded[i] = f"sensitive_content:{reason}"
                    exclusions[reason] += 1
                    out[i] = None
                    rows.pop(i, None)
                    continue
                row = rows.get(i)
                if row is None:
                    row = rows[i] = _Row()
                replaced = self._replace(text, row, spans, hits)
                if replaced is not None:
                    out[i] = current[i] = replaced[0]
                    if self._recheck(replaced[1], g):
                        again.append(i)
            if not again:
                break
            recheck = pa.array([current[i] for i in again], pa.string())
            keep, groups, named = self._worth_a_look(recheck, bits, self._act_entities)
            pending = [again[k] for k in keep.tolist()]
        redactions: Counter[str] = Counter()
        for row in rows.values():
            redactions.update(row.counts)
        return RedactionResult(
            texts=_with_changes(texts, out),
            excluded=_sparse(n, excluded),
            redactions=dict(redactions),
            exclusions=dict(exclusions),
        )

    def _worth_a_look(
        self, strings: pa.Array, bits: int, entities: frozenset[str]
    ) -> tuple[npt.NDArray[np.intp], list[int], list[bool] | None]:
        """The rows of ``strings`` the Python detectors must see, their prefilter groups,
        and (with an NER backend looking for one of ``entities``) whether each holds a
        capital letter, without which it has no NER candidate (``ner.windows``): rows
        with a group set, a possible directory match or a capital letter. On the other
        rows every detector would find nothing (the prefilters, ``Directory.candidates``
        and the capital are necessary conditions), so they are not even converted to
        Python strings."""
        groups = _groups(strings, bits)
        look = groups != 0
        capital = None
        if self._ner is not None and not entities.isdisjoint(self._ner.entities):
            capital = prefilter.matches(strings, _CAPITAL)
            look |= capital
        if self._directory is not None and not entities.isdisjoint(_DIRECTORY_ENTITIES):
            look |= self._directory.candidates(strings, digits=(groups & patterns.G_DIGITS) != 0)
        rows = np.flatnonzero(look)
        named = capital[rows].tolist() if capital is not None else None
        return rows, groups[rows].tolist(), named

    def redact(
        self, text: str, participants: Sequence[str] = (), *, language: str | None = None
    ) -> tuple[str | None, str | None]:
        """One text through :meth:`apply`: (redacted text or None, exclusion reason or None)."""
        parts = pa.array([list(participants)], pa.list_(pa.string()))
        langs = pa.array([language], pa.string()) if language is not None else None
        result = self.apply(pa.array([text], pa.string()), parts, langs)
        return result.texts[0].as_py(), result.excluded[0].as_py()

    def _bits(self) -> int:
        bits = 0
        for bit, entities in patterns.GROUP_ENTITIES.items():
            if not entities.isdisjoint(self._act_entities):
                bits |= bit
        for label in self._act_labels:
            bits |= sensitive.LABEL_BITS[label]
        for label in self._exclude_labels:
            bits |= sensitive.NEGATIVE_BITS.get(label, 0)
        return bits

    def _label_exclusion(self, text: str, groups: int) -> str | None:
        """The first label (in ``LABELS`` order) whose action is exclude and that the text
        carries. A phrase label whose trigger prefilter matched and whose hard-negative
        prefilter did not is decided without Python; the others are checked in Python."""
        for label in self._exclude_labels:
            if not groups & sensitive.LABEL_BITS[label]:
                continue
            certain = (
                label in sensitive.SURE_LABELS
                and not groups & sensitive.NEGATIVE_BITS.get(label, 0)
                and "<" not in text
            )
            if certain:
                return label
            hits = sensitive.find_labels(text, groups, frozenset({label}))
            if "<" in text:
                held = [(m.start(), m.end()) for m in PLACEHOLDER.finditer(text)]
                hits = [h for h in hits if not _overlaps(h.start, h.end, held)]
            if hits:
                return label
        return None

    def _exclusion(self, spans: list[Span]) -> str | None:
        if not self._exclude_entities:
            return None
        profile = self._profile
        for entity in sorted({s.entity for s in spans}):
            if profile.entity_action(entity) == "exclude":
                return entity
        return None

    def _recheck(self, touching: bool, groups: int) -> bool:
        """Whether the text just redacted could hold a detection it did not hold before.

        The identifier, name and place detectors are local: a match depends on its
        characters and the one on each side. Replacing spans by placeholders can only
        create a new match where a new placeholder touches a character that could end or
        start one, or where a span that lost to an overlapping one left a remainder
        (``touching``, from :meth:`_replace`), so a text needs another round only then; or
        when a detector with a context window (dates of birth, labels and their hard
        negatives) or an NER backend saw it. ``test_skipping_the_second_round_changes_nothing``
        compares this with a full fixpoint on generated texts.
        """
        return touching or self._ner is not None or bool(groups & _CONTEXT_GROUPS)

    def _replace(
        self, text: str, row: _Row, spans: list[Span], hits: list[LabelHit]
    ) -> tuple[str, bool] | None:
        """``text`` with its actionable spans replaced, and whether a new placeholder
        touches a character that could end or start a detection; None if nothing to do."""
        entity_action = self._entity_action
        plan: dict[Span, tuple[str, str]] = {}  # span -> (action, counted name)
        for s in spans:
            action = entity_action.get(s.entity) or self._profile.entity_action(s.entity)
            if action in _ACT:
                plan[s] = (action, s.entity)
        for h in hits:
            action = self._label_action[h.label]
            if action in _ACT:
                span = Span(
                    h.start,
                    h.end,
                    h.label.upper(),
                    h.category,
                    text[h.start : h.end].lower(),
                    30,
                )
                plan[span] = (action, h.label)
        if not plan:
            return None
        numbers = row.numbers
        if not row.pseudonyms and not numbers and "<" in text:
            for m in _NUMBERED.finditer(text):
                numbers[m.group(1)] = max(numbers.get(m.group(1), 0), int(m.group(2)))
        pieces: list[str] = []
        last = 0
        if len(plan) == 1:
            chosen = list(plan)
            touching = False
        else:
            chosen = resolve_overlaps(list(plan))
            # a span that lost to an overlapping one leaves a remainder that was never
            # offered to the detectors as such: look again then too
            touching = len(chosen) < len(plan) and any(
                not any(c.start <= d.start and d.end <= c.end for c in chosen)
                for d in plan
                if d not in chosen
            )
        n = len(text)
        for k, s in enumerate(chosen):
            if not touching:
                after_next = k + 1 < len(chosen) and chosen[k + 1].start == s.end
                touching = (s.start != last and _touches_before(text, s.start)) or (
                    not after_next and _touches_after(text, s.end, n)
                )
            action, counted = plan[s]
            pieces.append(text[last : s.start])
            if action == "pseudonymize":
                key = (s.entity, s.ref or text[s.start : s.end].lower())
                number = row.pseudonyms.get(key)
                if number is None:
                    number = numbers[s.entity] = numbers.get(s.entity, 0) + 1
                    row.pseudonyms[key] = number
                pieces.append(f"<{s.entity}_{number}>")
            else:
                pieces.append(f"<{s.entity}>")
            row.counts[counted] = row.counts.get(counted, 0) + 1
            last = s.end
        pieces.append(text[last:])
        return "".join(pieces), touching


_ALL_ENTITIES: Final = frozenset(ENTITIES)
_ALL_LABELS: Final = frozenset(LABELS)


def _groups(texts: pa.Array, bits: int) -> npt.NDArray[np.int64]:
    """:func:`prefilter.groups`, with the ``compensation`` bit set only on texts that
    also hold an ASCII digit.

    Every amount ``compensation`` looks for (``sensitive._AMOUNT``: currency figures,
    "150k", percentages, share counts) contains a digit ``[0-9]``
    (``test_every_compensation_amount_holds_a_digit``), so on a text without one its
    Python check could only find nothing. That check runs the pay-vocabulary regex over
    the whole text, the dearest detector on chat that merely mentions "salary" or
    "offer", and the prefilter tests the pay vocabulary only on rows with a digit. Leaving
    the bit clear also spares the row its second round (``_recheck``), which is sound for
    the same reason: the only digits a redaction adds are inside placeholders, which are
    never detected.
    """
    return prefilter.groups(texts, bits, digit_only=_PAY_BIT if bits & _PAY_BIT else 0)


def _touches_before(text: str, start: int) -> bool:
    """Whether the text just before a new placeholder at ``start`` could end a detection
    or be part of a longer candidate cut by the placeholder (a digit group one space back)."""
    if start == 0:
        return False
    ch = text[start - 1]
    if not (ch.isspace() or ch in _SAFE_BEFORE):
        return True
    return ch in _JOINERS and start > 1 and text[start - 2].isdigit()


def _touches_after(text: str, end: int, n: int) -> bool:
    """Whether the text just after a new placeholder ending at ``end`` could start a
    detection, or continue a candidate that began inside the replaced span (digits, "+",
    "(", or an upper-case code such as an IBAN or NINO group, one space on)."""
    if end >= n:
        return False
    ch = text[end]
    if not (ch.isspace() or ch in _SAFE_AFTER):
        return True
    if ch not in _JOINERS or end + 1 >= n:
        return False
    nxt = text[end + 1]
    if nxt.isdigit() or (ch == " " and nxt in "+("):
        return True
    return (
        ch == " "
        and nxt.isupper()
        and end + 2 < n
        and (text[end + 2].isupper() or text[end + 2].isdigit())
    )


def _scan_result(spans: list[Span], hits: list[LabelHit]) -> ScanResult:
    found = {h.label for h in hits}
    return ScanResult(
        spans=tuple(resolve_overlaps(spans)),
        labels=tuple(lb for lb in LABELS if lb in found),
        label_hits=tuple(sorted(hits)),
    )


def _overlaps(start: int, end: int, ranges: list[tuple[int, int]]) -> bool:
    return any(a < end and start < b for a, b in ranges)


def _as_strings(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type):
        return texts
    if pa.types.is_string_view(texts.type) or pa.types.is_null(texts.type):
        return texts.cast(pa.string())
    raise SchemaMismatch("texts to redact must be strings", [f"texts: got {texts.type}"])


def _out_type(texts: pa.Array | pa.ChunkedArray) -> pa.DataType:
    return pa.large_string() if pa.types.is_large_string(texts.type) else pa.string()


def _with_changes(texts: pa.Array | pa.ChunkedArray, out: Mapping[int, str | None]) -> pa.Array:
    """``texts`` with the rows in ``out`` replaced by their value there.

    Usually few rows change: patching them into the input array is cheaper than
    converting every row's Python string back to Arrow.
    """
    kind = _out_type(texts)
    base = _as_strings(texts).cast(kind)
    if not out:
        return base
    where = sorted(out)
    mask = np.zeros(len(base), bool)
    mask[where] = True
    return pc.replace_with_mask(base, pa.array(mask), pa.array([out[i] for i in where], kind))


def _check_languages(strings: pa.Array, languages: pa.Array | None) -> None:
    if languages is not None and len(languages) != len(strings):
        raise SchemaMismatch(
            "languages do not match texts",
            [f"languages: {len(languages)} rows for {len(strings)} texts"],
        )


def _combine(
    spans: list[Span], found: list[Span], ner: Sequence[Span], entities: frozenset[str]
) -> tuple[list[Span], list[Span]]:
    """The one place where NER spans meet the rule-based ones (before overlaps are
    resolved longest first):

    * an organisation the model found takes the places the gazetteer or the address rule
      found inside it ("Bank of London", "London Stock Exchange"), and is then dropped:
      organisations are not redacted;
    * a person the model found that overlaps a directory member's name becomes part of
      that member's span (the union, with the member as its reference, so "Jane Doe
      Smith" and "Jane" share a pseudonym);
    * the model's people and places are added; validated identifiers, cues and the
      directory keep their own spans, and :func:`resolve_overlaps` keeps the longest.
    """
    orgs = [(s.start, s.end) for s in ner if s.entity == ORGANIZATION]
    if orgs:
        spans = [
            s
            for s in spans
            if not (
                s.entity == "LOCATION"
                and any(a <= s.start and s.end <= b and b - a > s.end - s.start for a, b in orgs)
            )
        ]
    people = [s for s in found if s.entity == "PERSON"]
    extra: list[Span] = []
    for s in ner:
        if s.entity not in entities or s.entity == ORGANIZATION:
            continue
        if s.entity == "PERSON" and people:
            k = next((k for k, p in enumerate(people) if p.start < s.end and s.start < p.end), -1)
            if k >= 0:
                p = people[k]
                union = p._replace(start=min(p.start, s.start), end=max(p.end, s.end))
                found[found.index(p)] = people[k] = union
                continue
        extra.append(s)
    return spans + extra, found


def _check_participants(strings: pa.Array, participants: pa.Array | None) -> None:
    if participants is not None and len(participants) != len(strings):
        raise SchemaMismatch(
            "participants do not match texts",
            [f"participants: {len(participants)} rows for {len(strings)} texts"],
        )


def _sparse(n: int, values: Mapping[int, str]) -> pa.Array:
    """A string array of ``n`` nulls but at the rows of ``values``."""
    column: list[str | None] = [None] * n
    for i, value in values.items():
        column[i] = value
    return pa.array(column, pa.string())


def scan_lines(lines: Iterable[str], redactor: Redactor) -> Iterator[dict[str, Any]]:
    """``consentgate scan``: for each input line (numbered from 1, line ending removed),
    ``{"line": N, "spans": [{"start", "end", "entity", "category"}], "labels": [...]}``
    with character offsets into the line."""
    batch: list[str] = []
    first = 1
    for line in lines:
        batch.append(line.rstrip("\r\n"))
        if len(batch) == _SCAN_BATCH:
            yield from _scan_chunk(batch, first, redactor)
            first += len(batch)
            batch = []
    if batch:
        yield from _scan_chunk(batch, first, redactor)


def _scan_chunk(batch: list[str], first: int, redactor: Redactor) -> Iterator[dict[str, Any]]:
    for k, result in enumerate(redactor.scan_batch(pa.array(batch, pa.string()))):
        if result is None:  # pragma: no cover - lines are never null
            continue
        yield {
            "line": first + k,
            "spans": [s.to_dict() for s in result.spans],
            "labels": list(result.labels),
        }
