"""A synthetic, labeled corpus of workplace messages for redaction tests and the benchmark.

``generate(n, seed=...)`` is deterministic: the same seed gives the same messages, each
with its ground truth — entity spans (start, end, entity) and sensitive labels — and the
member ids of its two participants, plus the member directory they come from.

Messages are a greeting and one to three clauses drawn from templates: neutral work
chat, clauses carrying one identifier, clauses carrying sensitive content of a label,
and *hard negatives* that look like an identifier or a label and are neither ("the
health of the codebase", "order 48213377", "setup.py", "union of two sets"). Identifier
values are generated valid (Luhn, mod 97, base58check, real phone number plans), in the
formats people type. ``score_entities``/``score_labels`` compute per-entity and
per-label precision and recall (a predicted span counts when it overlaps a true span of
the same entity).
"""

from __future__ import annotations

import hashlib
import random
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import phonenumbers


def _words(text: str) -> list[str]:
    return text.split()


FIRST = _words(
    "Jane Priya Omar Lucia Wei Tomasz Amara Diego Hannah Kenji Fatima Oliver Sofia Mateo "
    "Aisha Lars Chloe Ravi Ingrid Kwame Elena Marcus Yuki Noah Leila Anders Camila Ivan "
    "Zara Felix Nadia Hugo Mei Samuel Olga Tariq Beatriz Jonas Rosa Emeka Clara Dmitri "
    "Ayesha Pablo Greta Malik Sienna Arjun Freya Tobias"
)
LAST = _words(
    "Doe Sharma Haddad Romero Zhang Kowalski Okafor Alvarez Schmidt Tanaka Rahman Bennett "
    "Rossi Herrera Mensah Lindqvist Dubois Patel Johansson Asante Popescu Whitfield Sato "
    "Fischer Nazari Berg Castillo Petrov Qureshi Wagner Haddadi Laurent Chen Adeyemi "
    "Volkova Siddiqui Moreira Keller Delgado Nwosu Hartmann Sokolov Akhtar Navarro Brandt "
    "Karimi Thornton Iyer Nilsen Vogel"
)
OTHER_NAMES = (
    "Beatrix Kowalczyk",
    "Rohan Mehta",
    "Ingrid Solberg",
    "Tomas Novak",
    "Mariana Costa",
    "Felipe Ortega",
)
CITIES = (
    "Berlin",
    "London",
    "Paris",
    "Toronto",
    "Seattle",
    "Madrid",
    "Singapore",
    "Amsterdam",
    "Chicago",
    "Tokyo",
)
STREETS = (
    "Peartree Road",
    "Maple Avenue",
    "Elm Street",
    "Harbour Lane",
    "Kingsway Drive",
    "Oak Street",
)
DOMAINS = ("example.com", "mail.example.org", "corp.example.net", "example.co.uk")


@dataclass(frozen=True, slots=True)
class Message:
    text: str
    spans: tuple[tuple[int, int, str], ...]
    labels: frozenset[str]
    participants: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Corpus:
    messages: list[Message]
    members: list[dict[str, str | None]] = field(default_factory=list)


# --------------------------------------------------------------------- identifier values


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        n = body + check
        total = 0
        for i, ch in enumerate(reversed(n)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        if total % 10 == 0:
            return n
    raise AssertionError("unreachable")


def card(rng: random.Random) -> str:
    kind = rng.choice(["visa16", "visa19", "mc5", "mc2", "amex"])
    if kind == "visa16":
        n = _luhn_complete("4", 16, rng)
    elif kind == "visa19":
        n = _luhn_complete("4", 19, rng)
    elif kind == "mc5":
        n = _luhn_complete(str(rng.randint(51, 55)), 16, rng)
    elif kind == "mc2":
        n = _luhn_complete(str(rng.randint(2221, 2720)), 16, rng)
    else:
        n = _luhn_complete(rng.choice(["34", "37"]), 15, rng)
    style = rng.choice(["plain", "space", "dash"])
    if style == "plain":
        return n
    groups = (
        [n[0:4], n[4:10], n[10:]] if len(n) == 15 else [n[i : i + 4] for i in range(0, len(n), 4)]
    )
    return (" " if style == "space" else "-").join(groups)


_IBAN_BBAN = {
    "DE": (18, "digits"),
    "GB": (18, "gb"),
    "FR": (23, "digits"),
    "NL": (14, "nl"),
    "ES": (20, "digits"),
}


def iban(rng: random.Random) -> str:
    country = rng.choice(sorted(_IBAN_BBAN))
    length, kind = _IBAN_BBAN[country]
    if kind == "gb":
        bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + "".join(
            rng.choice(string.digits) for _ in range(14)
        )
    elif kind == "nl":
        bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + "".join(
            rng.choice(string.digits) for _ in range(10)
        )
    else:
        bban = "".join(rng.choice(string.digits) for _ in range(length))
    numeric = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    compact = f"{country}{98 - numeric % 97:02d}{bban}"
    if rng.random() < 0.5:
        return compact
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def ssn(rng: random.Random) -> str:
    while True:
        area = rng.randint(1, 899)
        if area != 666:
            break
    n = f"{area:03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"
    return rng.choice([f"{n[:3]}-{n[3:5]}-{n[5:]}", f"{n[:3]} {n[3:5]} {n[5:]}"])


def nino(rng: random.Random) -> str:
    first = rng.choice("ABCEGHJKLMNOPRSTWXYZ")
    second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
    if first + second in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
        second = "A"
    digits = "".join(rng.choice(string.digits) for _ in range(6))
    suffix = rng.choice("ABCD")
    if rng.random() < 0.5:
        return f"{first}{second} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}"
    return f"{first}{second}{digits}{suffix}"


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32_polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= gen[i]
    return chk


def bitcoin(rng: random.Random) -> str:
    if rng.random() < 0.6:
        raw = bytes([rng.choice([0, 5])]) + bytes(rng.getrandbits(8) for _ in range(20))
        raw += hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]
        n = int.from_bytes(raw, "big")
        out = ""
        while n:
            n, r = divmod(n, 58)
            out = _B58[r] + out
        return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out
    program = [rng.getrandbits(5) for _ in range(32)]  # 20-byte witness program, v0
    data = [0, *program]
    values = [ord(c) >> 5 for c in "bc"] + [0] + [ord(c) & 31 for c in "bc"] + data
    polymod = _bech32_polymod([*values, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return "bc1" + "".join(_BECH32[d] for d in data + checksum)


_PHONE_FORMATS = {
    "US": (1, ["({a}) {b}-{c}", "{a}-{b}-{c}", "+1 {a} {b} {c}", "{a}.{b}.{c}"]),
    "GB": (44, ["+44 {n}", "0{n}"]),
    "DE": (49, ["+49 {n}", "0{n}"]),
    "FR": (33, ["+33 {n}"]),
    "IN": (91, ["+91 {n}"]),
}


def phone(rng: random.Random) -> str:
    region = rng.choice(["US", "US", "US", "GB", "DE", "FR", "IN"])
    while True:
        if region == "US":
            a, b, c = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
            nat = f"{a}{b}{c:04d}"
        elif region == "GB":
            nat = rng.choice(["20", "7"]) + "".join(rng.choice(string.digits) for _ in range(8))
        elif region == "DE":
            nat = rng.choice(["30", "89", "151"]) + "".join(
                rng.choice(string.digits) for _ in range(7)
            )
        elif region == "FR":
            nat = rng.choice("1234567") + "".join(rng.choice(string.digits) for _ in range(8))
        else:
            nat = rng.choice("6789") + "".join(rng.choice(string.digits) for _ in range(9))
        cc, formats = _PHONE_FORMATS[region]
        parsed = phonenumbers.parse(f"+{cc}{nat}", None)
        if phonenumbers.is_valid_number(parsed):
            break
    fmt = rng.choice(formats)
    if region == "US":
        return fmt.format(a=nat[:3], b=nat[3:6], c=nat[6:])
    intl = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    national = intl.split(" ", 1)[1]
    return fmt.format(n=national)


def ipv4(rng: random.Random) -> str:
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


def ipv6(rng: random.Random) -> str:
    groups = [f"{rng.getrandbits(16):x}" for _ in range(8)]
    if rng.random() < 0.5:
        return "2001:db8::" + ":".join(groups[5:])
    return ":".join(groups)


def mac(rng: random.Random) -> str:
    sep = rng.choice(":-")
    return sep.join(f"{rng.getrandbits(8):02X}" for _ in range(6))


def url(rng: random.Random) -> str:
    host = rng.choice(
        ["docs.example.com", "wiki.acme-corp.com", "example.org", "status.example.io"]
    )
    path = rng.choice(["", "/", "/team/onboarding", "/q3-plan?id=" + str(rng.randint(100, 999))])
    return rng.choice([f"https://{host}{path}", f"http://{host}{path}", f"www.{host}{path}"])


_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def dob(rng: random.Random) -> str:
    y, m, d = rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28)
    return rng.choice(
        [
            f"{m:02d}/{d:02d}/{y}",
            f"{y}-{m:02d}-{d:02d}",
            f"{d} {_MONTHS[m - 1]} {y}",
            f"{_MONTHS[m - 1]} {d}, {y}",
        ]
    )


def address(rng: random.Random) -> str:
    return f"{rng.randint(2, 9800)} {rng.choice(STREETS)}"


# ------------------------------------------------------------------------- templates

# A template is text with {SLOT}s. Entity slots produce a ground-truth span; {FIRST} and
# {LAST} are the recipient's names (PERSON), {NAME} another directory member's full name,
# {OTHER} a name not in the directory, {TITLED} "Dr. <last name>" (span on the name).
ENTITY_TEMPLATES: dict[str, list[str]] = {
    "EMAIL_ADDRESS": [
        "You can reach me at {EMAIL_ADDRESS} after six.",
        "Forward it to {EMAIL_ADDRESS} please.",
    ],
    "PHONE_NUMBER": [
        "My cell is {PHONE_NUMBER} if anything breaks.",
        "Call me on {PHONE_NUMBER} tomorrow.",
    ],
    "CREDIT_CARD": [
        "Card on file is {CREDIT_CARD}, expiring 04/27.",
        "Charge it to {CREDIT_CARD} for the offsite.",
    ],
    "IBAN_CODE": [
        "Please wire the deposit to {IBAN_CODE} by Friday.",
        "My account is {IBAN_CODE}.",
    ],
    "IP_ADDRESS": [
        "The box at {IP_ADDRESS} is down again.",
        "Whitelist {IP_ADDRESS} for my home office.",
    ],
    "MAC_ADDRESS": [
        "My laptop's MAC is {MAC_ADDRESS}, please register it.",
        "Device {MAC_ADDRESS} keeps dropping off wifi.",
    ],
    "URL": ["The notes are at {URL} for everyone.", "See {URL} before the sync."],
    "US_SSN": ["My SSN is {US_SSN} for the payroll form.", "HR needs {US_SSN} on the I-9."],
    "UK_NINO": ["My NI number is {UK_NINO} for payroll.", "National insurance: {UK_NINO}."],
    "CRYPTO": ["Send the refund to {CRYPTO} instead.", "My wallet is {CRYPTO}."],
    "LOCATION": [
        "I'm moving to {ADDRESS} next month.",
        "We relocated to {CITY} in the spring.",
        "I'll be in {CITY} all week.",
    ],
    "DATE_OF_BIRTH": [
        "I was born on {DOB}, so the form is wrong.",
        "Date of birth: {DOB}.",
        "My DOB is {DOB}.",
    ],
    "PERSON": [
        "Ask {NAME} about the Q3 numbers.",
        "{TITLED} will join the call at noon.",
        "I met {OTHER} at the conference, great ideas.",
        "Loop in {NAME} on the contract review.",
    ],
}

NEUTRAL = [
    "Can we move the sync to Thursday?",
    "The deploy went out this morning without issues.",
    "I pushed the fix for the flaky test, please review.",
    "Let's keep the retro short this week.",
    "The dashboard numbers look off compared to last sprint.",
    "Lunch order is in, should arrive around 12:30.",
    "I'll share the slides before the all-hands.",
    "Thanks for the quick turnaround on the review.",
    "The client call got pushed to next week.",
    "Please update the ticket when the migration finishes.",
    "We hit 12,500 signups after the launch.",
    "Room 4B is booked for the planning session.",
]

HARD_NEGATIVE_IDS = [
    "Order 48213377 shipped yesterday.",
    "We're on version 3.2.1 now, build 2024.03.15.",
    "PR #4821 fixes the timeout, commit 9f8e7d6.",
    "The meeting is at 10:30, room 12.",
    "Ticket INC0012345 is still open.",
    "Edit setup.py and README.md before tagging.",
    "Call df.info() and check self.name in the model.",
    "The request id was a8eedfd6-9d8a-44e0-b0fc-cc7d517db5dc.",
    "Budget for the offsite is $2,000 total.",
    "The hash is 8f953371d3e85eddb89b05ed6b9e680791055315c73e1025ab5dba7bb2aee189.",
    "Port 8080 on 2023-11-05 was the last deploy date.",
    "Tracking number 1Z999AA10123456784 for the monitors.",
    "Ratio was 1:2:3:4 across the shards, see std::vector docs.",
    "It was done.Then we moved on.",
]

LABEL_TEMPLATES: dict[str, list[str]] = {
    "compensation": [
        "My salary is {AMOUNT} before tax.",
        "They offered me {AMOUNT} base plus a {PCT} bonus.",
        "I make {AMOUNT} a year and that's below market.",
        "The offer letter says {AMOUNT} with 20,000 RSUs over four years.",
        "Got a raise to {AMOUNT}, finally.",
        "My bonus this year was {AMOUNT}.",
    ],
    "health": [
        "I was diagnosed with diabetes last spring.",
        "I'm on sick leave until my surgery heals.",
        "My therapist says the panic attacks are improving.",
        "She's pregnant, so she'll take maternity leave in May.",
        "I've been struggling with depression since the winter.",
        "My chemo starts next Tuesday so I'll be offline.",
    ],
    "sexual_orientation": [
        "I came out as gay to my team last year.",
        "As a lesbian I found the panel really moving.",
        "My same-sex partner is coming to the party.",
        "I'm bisexual and I don't hide it at work.",
    ],
    "religion": [
        "I go to church every Sunday so mornings are out.",
        "I'm fasting for Ramadan, so no lunch meetings please.",
        "As a practicing Muslim I need a prayer room.",
        "I'm Jewish and will be out for Yom Kippur.",
        "My faith matters a lot to me.",
    ],
    "political_opinion": [
        "I voted for the Greens and I'd do it again.",
        "I'm a lifelong Democrat, don't get me started.",
        "I can't stand Trump, honestly.",
        "My political views are pretty far-left these days.",
        "I was canvassing for the Labour candidate all weekend.",
    ],
    "trade_union": [
        "I'm the union rep for our floor now.",
        "We're organizing a union drive in the warehouse.",
        "I joined the union last month.",
        "The nurses are going on strike next week and I'm with them.",
        "Collective bargaining starts in March.",
    ],
    "criminal_history": [
        "I was arrested in 2015 but the charges were dropped.",
        "He has a criminal record from his twenties.",
        "I served two years in prison before this job.",
        "I got a DUI last year and lost my license.",
        "I'm still on parole until June.",
    ],
    "credentials": [
        "The wifi password is Tr0ub4dor&3 if you need it.",
        "password: hunter2024",
        "Use the key AKIA{AWS} for the bucket.",
        "Here's my token ghp_{GH} for the CI.",
    ],
    "employment_dispute": [
        "I got fired yesterday without any warning.",
        "I'm filing a complaint against my manager for harassment.",
        "They put me on a performance improvement plan.",
        "I'm talking to an employment lawyer about wrongful termination.",
        "Half my team was laid off this morning.",
    ],
    "confidential_business": [
        "This is confidential until the announcement, do not share.",
        "We're in acquisition talks with a competitor.",
        "The unreleased product demo is under NDA.",
        "Keep this confidential: the trade secret is the recipe.",
    ],
}

HARD_NEGATIVE_LABELS = [
    "The health of the codebase is getting worse.",
    "We're hiring for a Python developer position.",
    "Compute the union of two sets, then use UNION ALL in the query.",
    "We need to terminate the process before the deploy.",
    "The health check endpoint returns 503.",
    "Fire the webhook when the job finishes.",
    "Let's raise an exception if the token is missing.",
    "Reset your password via the link in the email.",
    "That's a conservative estimate for the release.",
    "Leader election in Raft takes a few ticks.",
    "The European Union data rules apply here.",
    "She's charged with the task of migrating the DB.",
    "Bonus points if the tests pass on the first try.",
    "Run pip install -r requirements.txt first.",
    "The public roadmap is on the website.",
    "I'm confident the numbers add up.",
    "The budget is $40,000 for new laptops.",
    "We killed the job and restarted the pod.",
]

GREETINGS = ["Hi {FIRST}, ", "Hey {FIRST}! ", "Hello {FIRST}, ", "", "", "{FIRST}, "]


def _amount(rng: random.Random) -> str:
    base = rng.randrange(60, 400) * 1000
    return rng.choice([f"${base:,}", f"{base // 1000}k", f"€{base:,}", f"£{base // 1000}k"])


MIXES: dict[str, tuple[tuple[float, float, float, float], int]] = {
    # cumulative thresholds for neutral, identifier, hard-negative identifier, label
    # clauses (the rest: hard-negative label clauses), and the most clauses per message
    "dense": ((0.35, 0.70, 0.80, 0.90), 3),
    "realistic": ((0.70, 0.84, 0.90, 0.95), 4),
}
"""``dense``: about six messages in ten carry an identifier (for precision and recall with
few messages); ``realistic``: closer to workplace chat, where most messages carry none."""


def generate(n: int, *, seed: int = 7, directory_size: int = 200, mix: str = "dense") -> Corpus:
    """``n`` labeled messages and the directory of ``directory_size`` members they use."""
    rng = random.Random(seed)
    members: list[dict[str, str | None]] = []
    used: set[tuple[str, str]] = set()
    while len(members) < directory_size:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        if (first, last) in used:
            continue
        used.add((first, last))
        members.append(
            {
                "member_id": f"mem-{len(members):05d}",
                "name": f"{first} {last}",
                "email": f"{first}.{last}@{rng.choice(DOMAINS)}".lower(),
                "phone": phone(rng),
            }
        )
    values: dict[str, Callable[[random.Random], str]] = {
        "EMAIL_ADDRESS": lambda r: _email(r),
        "PHONE_NUMBER": phone,
        "CREDIT_CARD": card,
        "IBAN_CODE": iban,
        "IP_ADDRESS": lambda r: ipv4(r) if r.random() < 0.7 else ipv6(r),
        "MAC_ADDRESS": mac,
        "URL": url,
        "US_SSN": ssn,
        "UK_NINO": nino,
        "CRYPTO": bitcoin,
        "DOB": dob,
        "ADDRESS": address,
        "CITY": lambda r: r.choice(CITIES),
    }
    thresholds, most = MIXES[mix]
    messages = [_message(rng, members, values, thresholds, most) for _ in range(n)]
    return Corpus(messages, members)


def _email(rng: random.Random) -> str:
    first, last = rng.choice(FIRST).lower(), rng.choice(LAST).lower()
    local = rng.choice(
        [f"{first}.{last}", f"{first[0]}{last}", f"{first}_{last}{rng.randint(1, 99)}"]
    )
    return f"{local}@{rng.choice(DOMAINS)}"


def _message(
    rng: random.Random,
    members: Sequence[dict[str, str | None]],
    values: dict[str, Callable[[random.Random], str]],
    thresholds: tuple[float, float, float, float],
    most: int,
) -> Message:
    sender, recipient = rng.sample(list(members), 2)
    first, last = str(recipient["name"]).split()
    parts: list[str] = [rng.choice(GREETINGS)]
    labels: set[str] = set()
    neutral, entity, negative_id, label_clause = thresholds
    for _ in range(rng.randint(1, most)):
        roll = rng.random()
        if roll < neutral:
            parts.append(rng.choice(NEUTRAL))
        elif roll < entity:
            parts.append(rng.choice(ENTITY_TEMPLATES[rng.choice(sorted(ENTITY_TEMPLATES))]))
        elif roll < negative_id:
            parts.append(rng.choice(HARD_NEGATIVE_IDS))
        elif roll < label_clause:
            label = rng.choice(sorted(LABEL_TEMPLATES))
            parts.append(rng.choice(LABEL_TEMPLATES[label]))
            labels.add(label)
        else:
            parts.append(rng.choice(HARD_NEGATIVE_LABELS))
        parts.append(" ")
    template = "".join(parts).strip()
    text, spans = _fill(template, rng, members, values, first=first, last=last)
    return Message(
        text,
        tuple(spans),
        frozenset(labels),
        (str(sender["member_id"]), str(recipient["member_id"])),
    )


def _fill(
    template: str,
    rng: random.Random,
    members: Sequence[dict[str, str | None]],
    values: dict[str, Callable[[random.Random], str]],
    *,
    first: str,
    last: str,
) -> tuple[str, list[tuple[int, int, str]]]:
    out: list[str] = []
    spans: list[tuple[int, int, str]] = []
    pos = 0
    length = 0
    while True:
        start = template.find("{", pos)
        if start < 0:
            out.append(template[pos:])
            break
        end = template.index("}", start)
        out.append(template[pos:start])
        length += start - pos
        slot = template[start + 1 : end]
        value, entity, offset = _slot(slot, rng, members, values, first, last)
        if entity is not None:
            spans.append((length + offset[0], length + offset[1], entity))
        out.append(value)
        length += len(value)
        pos = end + 1
    return "".join(out), spans


def _slot(
    slot: str,
    rng: random.Random,
    members: Sequence[dict[str, str | None]],
    values: dict[str, Callable[[random.Random], str]],
    first: str,
    last: str,
) -> tuple[str, str | None, tuple[int, int]]:
    if slot == "FIRST":
        return first, "PERSON", (0, len(first))
    if slot == "NAME":
        name = str(rng.choice(list(members))["name"])
        return name, "PERSON", (0, len(name))
    if slot == "OTHER":
        name = rng.choice(OTHER_NAMES)
        return name, "PERSON", (0, len(name))
    if slot == "TITLED":
        surname = rng.choice(LAST)
        title = rng.choice(["Dr. ", "Ms. ", "Mr. ", "Prof. "])
        return title + surname, "PERSON", (len(title), len(title) + len(surname))
    if slot == "AMOUNT":
        return _amount(rng), None, (0, 0)
    if slot == "PCT":
        return f"{rng.randint(5, 25)}%", None, (0, 0)
    if slot == "AWS":
        return (
            "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
            None,
            (0, 0),
        )
    if slot == "GH":
        return (
            "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(36)),
            None,
            (0, 0),
        )
    value = values[slot](rng)
    entity = {"DOB": "DATE_OF_BIRTH", "ADDRESS": "LOCATION", "CITY": "LOCATION"}.get(slot, slot)
    return value, entity, (0, len(value))


# ------------------------------------------------------------------------------ scoring


@dataclass(slots=True)
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def score_entities(
    messages: Sequence[Message], predicted: Iterable[Iterable[tuple[int, int, str]]]
) -> dict[str, Tally]:
    """Per entity: a true span is found when a predicted span of the same entity overlaps
    it; a predicted span is a false positive when it overlaps no true span of its entity."""
    tallies: dict[str, Tally] = {}
    for message, spans in zip(messages, predicted, strict=True):
        spans = list(spans)
        for s, e, entity in message.spans:
            t = tallies.setdefault(entity, Tally())
            if any(ps < e and s < pe and pent == entity for ps, pe, pent in spans):
                t.tp += 1
            else:
                t.fn += 1
        for ps, pe, pent in spans:
            if not any(s < pe and ps < e and entity == pent for s, e, entity in message.spans):
                tallies.setdefault(pent, Tally()).fp += 1
    return tallies


def score_labels(
    messages: Sequence[Message], predicted: Iterable[Iterable[str]]
) -> dict[str, Tally]:
    """Per label, over whole messages."""
    tallies: dict[str, Tally] = {label: Tally() for label in LABEL_TEMPLATES}
    for message, labels in zip(messages, predicted, strict=True):
        got = set(labels)
        for label in set(tallies) | got:
            t = tallies.setdefault(label, Tally())
            if label in message.labels and label in got:
                t.tp += 1
            elif label in got:
                t.fp += 1
            elif label in message.labels:
                t.fn += 1
    return tallies


def entity_counts(messages: Sequence[Message]) -> Counter[str]:
    return Counter(entity for m in messages for _, _, entity in m.spans)
