"""People found by the words around them, in English, French, German, Spanish and Italian.

Without a directory hit or an NER model, a name is recognizable by its cues:

* a title: "Dr. Okafor", "Ms Chen", "M. Barthou", "Mme Curie", "Herr Müller", "Frau
  Dr. Schmidt", "Sra. García", "Dott.ssa Bianchi" (one or two capitalised names, with a
  particle such as "de", "von", "van der" allowed before the last);
* a salutation opening a sentence: "Hi Priya,", "Bonjour Jean,", "Hallo Anna!", "Hola
  Pablo", "Ciao Luca";
* a sign-off on the line before a name alone on its line: "Best,\\nPriya",
  "Cordialement,\\nJean Dupont", "Viele Grüße\\nAnna";
* a field label at the start of a line: "Name: Jane Doe", "To: Jane Doe <jd@...>",
  "An: Max Mustermann", "Nom : Dupont", "Nombre: Ana", "Nome: Luca Rossi".

A capitalised word is any letter of Latin script with a case (so "Élodie", "Müller",
"Łukasz", "O'Brien", "McDonald", "Jean-Pierre" are names). Words that commonly follow a
salutation without being a name ("Hi team", "Bonjour à tous", "Hallo zusammen", "Liebe
Kollegen") are ``NOT_NAMES``. The lists are hand-written from the languages' usage.
"""

from __future__ import annotations

import re
from typing import Final

from consentgate.redact.spans import Found, entity_span, word_char_at

__all__ = [
    "FIELD_PREFILTER",
    "GREETING_PREFILTER",
    "NOT_NAMES",
    "SENTENCE_STARTERS",
    "TITLES",
    "TITLE_PREFILTER",
    "fields",
    "greeted",
    "strip_title",
    "titled",
]

_LATIN: Final = [chr(c) for c in range(0xC0, 0x250)]
_UP: Final = "A-Z" + "".join(c for c in _LATIN if c.isupper() and c.lower() != c)
_LOW: Final = "a-zß" + "".join(c for c in _LATIN if c.islower() and c.upper() != c)
_WORD: Final = rf"[{_UP}](?:['’][{_UP}])?[{_LOW}]+(?:[{_UP}][{_LOW}]+)?(?:-[{_UP}]?[{_LOW}]+)?"
_PARTICLE: Final = (
    r"(?:(?:de|van|von) (?:la|las|los|le|der|den|dem) |de |d['’]|du |des |del |della |"
    r"di |da |dos |das |do |van |von |zu |ten |ter |af |al-)"
)
_NAME: Final = rf"{_WORD}(?: {_PARTICLE}?{_WORD})?"
_CAPS_NAME: Final = rf"[{_UP}]{{2,}}(?:['’-][{_UP}]+)?(?: [{_UP}]{{2,}}(?:['’-][{_UP}]+)?){{1,2}}"

TITLES: Final = (
    # English
    "Mr",
    "Mrs",
    "Ms",
    "Mx",
    "Dr",
    "Prof",
    "Miss",
    # French ("M." only with its dot: a lone "M" is a letter)
    "M.",
    "MM.",
    "Mme",
    "Mmes",
    "Mlle",
    "Mlles",
    "Pr",
    "Monsieur",
    "Madame",
    "Mademoiselle",
    # German
    "Herr",
    "Herrn",
    "Frau",
    "Hr.",
    "Fr.",
    # Spanish ("Sr." alone is also "Senior" in English job titles: not a cue)
    "Sra",
    "Srta",
    "Don",
    "Doña",
    "Señor",
    "Señora",
    "Señorita",
    # Italian
    "Sig",
    "Sig.ra",
    "Sig.na",
    "Signor",
    "Signora",
    "Signorina",
    "Dott",
    "Dott.ssa",
    "Ing",
    "Avv",
)
"""Titles before a name; those without a trailing dot may be written with one."""


def _title_alternation() -> str:
    parts = []
    for t in sorted(TITLES, key=len, reverse=True):
        parts.append(re.escape(t) if t.endswith(".") else re.escape(t) + r"\.?")
    return "|".join(parts)


_TITLE: Final = _title_alternation()
# a title may be followed by another ("Frau Dr. Schmidt", "Herr Prof. Weber")
_TITLED: Final = re.compile(rf"(?:{_TITLE})(?: (?:{_TITLE}))? ({_PARTICLE}?{_NAME})")
_LEADING_TITLE: Final = re.compile(rf"(?:(?:{_TITLE}) )+")
TITLE_PREFILTER: Final = (
    r"(?:Mr|Mrs|Ms|Mx|Dr|Prof|Miss|M\.|MM\.|Mme|Mmes|Mlle|Pr|Monsieur|Madame|Mademoiselle|"
    r"Herrn?|Frau|Hr\.|Fr\.|Sra|Srta|Don|Doña|Señor|Señora|Señorita|Sig|Signor|Signora|"
    r"Signorina|Dott|Ing|Avv)[.a-z]* (?:[a-z]+['’ -]){0,2}"
    rf"[{_UP}]"
)
"""RE2: a necessary condition for :func:`titled` (a title, a space, maybe particles, a
capital)."""

_SALUTATIONS: Final = (
    "Hi",
    "Hello",
    "Hey",
    "Dear",
    "Thanks",
    "Thank you",
    "Cheers",
    "Morning",
    "Good morning",
    "Bonjour",
    "Bonsoir",
    "Salut",
    "Coucou",
    "Cher",
    "Chère",
    "Merci",
    "Hallo",
    "Liebe",
    "Lieber",
    "Moin",
    "Servus",
    "Danke",
    "Guten Morgen",
    "Guten Tag",
    "Hola",
    "Querido",
    "Querida",
    "Estimado",
    "Estimada",
    "Gracias",
    "Buenos días",
    "Ciao",
    "Caro",
    "Cara",
    "Gentile",
    "Grazie",
    "Buongiorno",
    "Salve",
)
_SIGN_OFFS: Final = (
    "Best",
    "Regards",
    "Best regards",
    "Kind regards",
    "Cheers",
    "Thanks",
    "Sincerely",
    "Warmly",
    "Best wishes",
    "Cordialement",
    "Bien cordialement",
    "Bien à vous",
    "Amitiés",
    "Bises",
    "Merci",
    "Viele Grüße",
    "Beste Grüße",
    "Liebe Grüße",
    "Herzliche Grüße",
    "Mit freundlichen Grüßen",
    "Freundliche Grüße",
    "Grüße",
    "Gruß",
    "Danke",
    "Saludos",
    "Un saludo",
    "Atentamente",
    "Un abrazo",
    "Gracias",
    "Saluti",
    "Cordiali saluti",
    "Un saluto",
    "Grazie",
    "A presto",
)
_GREETING_WORDS: Final = tuple(
    dict.fromkeys(sorted(_SALUTATIONS + _SIGN_OFFS, key=len, reverse=True))
)
_GREETING: Final = re.compile(
    rf"(?:{'|'.join(re.escape(w) for w in _GREETING_WORDS)})(,? |,? *\n *)({_NAME})"
)
GREETING_PREFILTER: Final = rf"\b(?:{'|'.join(re.escape(w) for w in _GREETING_WORDS)})\b"
"""RE2: a necessary condition for :func:`greeted`."""

_FIELD_LABELS: Final = (
    "Name",
    "Full name",
    "Contact",
    "Contact person",
    "To",
    "From",
    "Cc",
    "Attn",
    "An",
    "Von",
    "Kontakt",
    "Ansprechpartner",
    "Ansprechpartnerin",
    "Nom",
    "Prénom",
    "Nom complet",
    "De",
    "À",
    "Destinataire",
    "Expéditeur",
    "Nombre",
    "Nombre completo",
    "Para",
    "Nome",
    "Cognome",
    "Mittente",
    "Destinatario",
)
_LABELS: Final = "|".join(re.escape(w) for w in sorted(_FIELD_LABELS, key=len, reverse=True))
_FIELD: Final = re.compile(
    rf"(?:{_LABELS}) ?: *(?:(?:{_TITLE}) )?({_CAPS_NAME}|{_NAME}(?: {_WORD})?)(?=[ \t]*(?:$|[\n,;<(]))",
    re.MULTILINE,
)
FIELD_PREFILTER: Final = rf"(?m)^[ \t]*(?:{_LABELS}) ?:"
"""RE2: a necessary condition for :func:`fields` (a field label opening a line)."""

NOT_NAMES: Final = frozenset(
    """
    All Team Everyone Folks Guys There Both Again Everybody Anyone So For In On Sir
    Madam It Legal Mom Dad Gang Friends Bro Man Mate Sure Much Ok Okay Yes No The This
    That Good Great Hello Hi Hey Thanks Thank You Morning Afternoon Evening Best Regards
    Cheers Our Your My His Her Their We I Sorry Please Just Quick Happy Welcome Congrats
    Unknown None Me Us Them Staff Support Admin Sales Everyone Customer Customers Client
    Tous Toutes Tout Monde Équipe Collègues Collègue Monsieur Madame Mesdames Messieurs
    Mademoiselle Beaucoup Encore Bien Oui Non Chers Chères Amis
    Zusammen Allerseits Alle Team Kollegen Kolleginnen Kollege Kollegin Leute Freunde
    Herr Frau Damen Herren Vielen Dank Ja Nein Gut Schön
    Todos Todas Equipo Compañeros Compañeras Amigos Señor Señora Muchas Sí
    Tutti Tutte Ragazzi Colleghi Amici Signore Signora Mille Molte
    """.split()  # noqa: SIM905
)
"""Capitalised words that follow a salutation or a field label without being a name."""


def titled(text: str, out: Found) -> None:
    for m in _TITLED.finditer(text):
        if not word_char_at(text, m.start() - 1):
            _person(text, m.start(1), m.group(1), out, titled=True)


def greeted(text: str, out: Found) -> None:
    """A capitalised name right after a salutation that opens a sentence ("Hi Jane,"), or
    on the line after a sign-off ("Best,\\nJane")."""
    for m in _GREETING.finditer(text):
        s = m.start()
        if word_char_at(text, s - 1):
            continue
        word = text[s : m.start(1)]
        name, end = m.group(2), m.end(2)
        if "\n" in m.group(1):
            rest = text[end : text.find("\n", end) if "\n" in text[end:] else len(text)]
            if word not in _SIGN_OFFS or rest.strip(" "):
                continue
        else:
            before = text[:s].rstrip(" ")
            if word not in _SALUTATIONS or (before and before[-1] not in "\n.!?;"):
                continue
            if end < len(text) and text[end] not in ",.!:;\n ":
                continue
        _person(text, m.start(2), name, out, titled=False)


def fields(text: str, out: Found) -> None:
    """A name after a field label opening a line ("Name: Jane Doe", "An: Max Mustermann")."""
    for m in _FIELD.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        if text[line_start : m.start()].strip(" \t"):
            continue
        _person(text, m.start(1), m.group(1), out, titled=False)


def strip_title(text: str, start: int, end: int) -> int:
    """``start`` moved past any titles opening ``text[start:end]`` ("M. Dupont" ->
    "Dupont"), unless nothing would be left."""
    m = _LEADING_TITLE.match(text, start, end)
    return m.end() if m is not None and m.end() < end else start


_TITLES_ONLY: Final = re.compile(rf"(?:{_TITLE})(?: (?:{_TITLE}))*")


def is_title(value: str) -> bool:
    """Whether ``value`` is only titles ("M.", "MM.", "Frau Dr."): not a name."""
    return _TITLES_ONLY.fullmatch(value) is not None


SENTENCE_STARTERS: Final = frozenset(
    """
    a about above after again against all also although always an and another any anyone
    anything are as at be because been before being below besides both but by can could
    did do does doing done during each either else even ever every everyone everything
    few first for from further had has have having he her here hers herself him himself
    his how however i if in instead into is it its itself just last later let let's like
    many maybe me meanwhile might more most much must my myself neither never next no nor
    not now of off often on once one only or other others otherwise our ours ourselves out
    over perhaps please quite rather really since so some someone something sometimes soon
    still such than that the their theirs them themselves then there therefore these they
    this those though through thus to today together tomorrow too under unless until up
    upon us usually very was we were what whatever when whenever where whether which while
    who whoever whom whose why will with within without would yes yesterday yet you your
    yours yourself yourselves hi hello hey dear thanks thank thx cheers sorry ok okay sure
    great good well oh ah yeah yep nope also btw fyi regards best kind sincerely warmly
    morning afternoon evening congrats congratulations welcome happy hope guess note update
    quick just fine agreed absolutely exactly indeed right cool nice awesome lol haha
    le la les l un une des du de d c n s m t au aux ce cet cette ces je j tu il elle on nous vous ils
    elles mais et ou où donc or ni car si quand comme comment pourquoi qui que qu quoi
    quel quelle quels quelles dans sur sous pour par avec sans chez entre vers depuis
    pendant avant après alors ainsi aussi encore déjà puis enfin ensuite cependant pourtant
    toutefois mon ma mes ton ta tes son sa ses notre nos votre vos leur leurs tout tous
    toute toutes chaque aucun aucune plusieurs certains certaines oui non merci bonjour
    bonsoir salut cher chère chers madame monsieur voici voilà il y est sont était ont a
    hier aujourd'hui demain ici là peut bien très
    der die das den dem des ein eine einen einem einer eines ich du er sie es wir ihr und
    aber oder denn doch sondern wenn als ob weil dass da dann damit so wie wo was wer wann
    warum wieso weshalb welche welcher welches im in am an auf aus bei mit nach von vor zu
    zum zur über unter für gegen ohne um durch bis seit mein meine dein deine sein seine
    unser unsere euer eure alle jeder jede jedes kein keine ja nein danke bitte hallo
    liebe lieber sehr heute gestern morgen hier dort auch noch schon nur nicht ist sind war
    waren hat haben wird werden kann können muss müssen
    el la lo los las un una unos unas yo tú él ella nosotros vosotros ellos ellas pero y o
    porque si cuando como donde dónde qué quién cuál en con sin por para sobre entre desde
    hasta mi mis tu tus su sus nuestro nuestra todo todos toda todas sí gracias hola
    buenos buenas querido querida hoy ayer mañana aquí también ya muy es son
    il lo la gli le i un uno una io lui lei noi voi loro ma e o perché se quando come dove
    che chi cosa nel nella con senza per tra fra da di del della mio mia tuo tua suo sua
    nostro nostra tutto tutti tutta tutte sì grazie ciao buongiorno buonasera caro cara
    oggi ieri domani qui anche già molto è sono
    """.split()  # noqa: SIM905
)
"""Words that are capitalised at the start of a sentence without being names (English,
French, German, Spanish, Italian function words, greetings and common sentence openers,
lower case): the NER windows (``ner.windows``) and the city rule (``context``) do not
take them for part of a name there."""

_TITLE_WORDS: Final = frozenset(t.rstrip(".").split(".")[0] for t in TITLES)


def _person(text: str, start: int, name: str, out: Found, *, titled: bool) -> None:
    words = name.split(" ")
    if words[0] in NOT_NAMES or words[0].title() in NOT_NAMES or words[0] in _TITLE_WORDS:
        return
    if not titled:
        for k in range(1, len(words)):
            if words[k] in NOT_NAMES:
                words = words[:k]
                break
        name = " ".join(words)
    out.append(entity_span(start, start + len(name), "PERSON", name.lower()))
