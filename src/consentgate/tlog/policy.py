"""c2sp.org/tlog-policy files: which logs and witnesses a verifier trusts, and the quorum.

::

    log consentgate/c0b653d18f1ba4fe+8dccd1c0+AePw...      [url]
    witness w1 witness.example/w1+0badcafe+BAbc...          [submission prefix URL]
    witness w2 ...
    witness w3 ...
    group two-of-three 2 w1 w2 w3
    quorum two-of-three

A checkpoint is valid under a policy when it is signed by one of its logs (whose key name
is the checkpoint's origin) and its witnesses' valid cosignatures satisfy the quorum: a
witness is satisfied when it cosigned; a group ``<k> m1 … mn`` (``any`` = 1, ``all`` = n)
when at least k of its members are; ``quorum none`` needs no cosignature.

Parsing follows the spec to the octet: lines end in newline; items are separated by
spaces and tabs only; empty and ``#`` comment lines are ignored; the only control
characters allowed are tab and newline; non-ASCII octets are opaque (names are compared
as octets); a group or the quorum may only name witnesses and groups defined on earlier
lines; names share one namespace, and ``none`` is reserved; two logs or two witnesses
with the same public key are refused; there is exactly one quorum line.

Choices where the spec leaves one (docs/transparency.md repeats them):

* Each name may be listed as a group member at most once in the whole file, so that a
  witness contributes to the quorum in one way only.
* A numeric threshold is plain ASCII decimal digits with ``1 <= k <= n``.
* Log keys must be Ed25519 note keys (type 0x01) and witness keys Ed25519
  ``cosignature/v1`` keys (type 0x04); other types (ML-DSA-44) are refused as unsupported.
* Cosignature timestamps are not compared with the clock (the spec allows, but does not
  require, refusing future timestamps).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from consentgate.errors import AuditChainBroken, InvalidInput
from consentgate.tlog.checkpoint import Checkpoint, Verifier, parse_verifier_key
from consentgate.tlog.note import open_note, verify_checkpoint
from consentgate.tlog.witness import CosignatureVerifier, parse_cosigner_verifier_key

__all__ = ["PolicyLog", "PolicyWitness", "TlogPolicy", "WitnessedCheckpoint", "parse_policy"]

NONE = "none"
MAX_ITEMS = 1000
_ALLOWED = re.compile(rb"[\x09\x0a\x20-\x7e\x80-\xff]*")
_WS = re.compile(rb"[ \t]+")
_DIGITS = re.compile(rb"[0-9]+")


@dataclass(frozen=True, slots=True)
class PolicyLog:
    verifier: Verifier
    url: str | None


@dataclass(frozen=True, slots=True)
class PolicyWitness:
    name: str
    verifier: CosignatureVerifier
    url: str | None


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WitnessedCheckpoint:
    """A checkpoint valid under a policy: what it states, the log key that signed it, and
    the witnesses (policy names) whose cosignatures verified."""

    checkpoint: Checkpoint
    log_key: str
    witnesses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TlogPolicy:
    logs: tuple[PolicyLog, ...]
    witnesses: Mapping[str, PolicyWitness]
    groups: Mapping[str, Group]
    quorum: str

    def log_keys(self, origin: str | None = None) -> list[Verifier]:
        """The log keys, or those named ``origin`` (a log key's name is its origin)."""
        return [g.verifier for g in self.logs if origin is None or g.verifier.name == origin]

    def satisfied(self, cosigned: Iterable[str]) -> bool:
        """Whether witnesses ``cosigned`` (policy names) satisfy the quorum."""
        done = set(cosigned)
        return self._witnessed(self.quorum, done)

    def _witnessed(self, name: str, done: set[str]) -> bool:
        if name == NONE:
            return True
        if name in self.witnesses:
            return name in done
        group = self.groups[name]
        count = sum(self._witnessed(m, done) for m in group.members)
        return count >= group.threshold

    def cosigners(self, note_text: str | bytes) -> tuple[str, ...]:
        """The policy names of the witnesses with a valid cosignature on the note
        (``AuditChainBroken`` when a known witness's signature fails)."""
        by_key = {(w.verifier.name, w.verifier.key_id): n for n, w in self.witnesses.items()}
        opened = open_note(note_text, [w.verifier for w in self.witnesses.values()])
        return tuple(by_key[(v.name, bytes(v.key_id))] for v in opened.signed_by)

    def verify(self, note_text: str | bytes, *, origin: str | None = None) -> WitnessedCheckpoint:
        """Check a checkpoint against the policy: signed by one of its logs for its own
        origin (and ``origin`` when given), cosigned by the quorum. ``AuditChainBroken``
        says what is missing."""
        text_origin = _origin_of(note_text)
        keys = self.log_keys(text_origin)
        if not keys:
            raise AuditChainBroken(f"the policy has no log with origin {text_origin!r}")
        checkpoint, opened = verify_checkpoint(note_text, keys, origin=origin)
        witnesses = self.cosigners(note_text)
        if not self.satisfied(witnesses):
            got = ", ".join(witnesses) or "none"
            raise AuditChainBroken(
                f"checkpoint of size {checkpoint.size} is not cosigned by the policy's "
                f"quorum {self.quorum!r} (valid cosignatures from: {got})"
            )
        signer = opened.signed_by[0]
        return WitnessedCheckpoint(
            checkpoint, f"{signer.name}+{bytes(signer.key_id).hex()}", witnesses
        )


def _origin_of(note_text: str | bytes) -> str:
    raw = note_text.encode("utf-8") if isinstance(note_text, str) else note_text
    return raw.split(b"\n", 1)[0].decode("utf-8", errors="replace")


def parse_policy(data: bytes, *, name: str = "policy") -> TlogPolicy:
    """Parse a policy file; ``InvalidInput`` naming ``name``, the line and the problem."""
    if not _ALLOWED.fullmatch(data):
        bad = next(i for i, b in enumerate(data) if not _ALLOWED.fullmatch(bytes([b])))
        line = data.count(b"\n", 0, bad) + 1
        raise InvalidInput(f"{name}:{line}: control character 0x{data[bad]:02x} is not allowed")
    p = _Parser(name)
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        items = [i for i in _WS.split(raw) if i]
        if not items or items[0].startswith(b"#"):
            continue
        p.line(number, items)
    return p.finish()


class _Parser:
    def __init__(self, name: str) -> None:
        self.name = name
        self.logs: list[PolicyLog] = []
        self.witnesses: dict[str, PolicyWitness] = {}
        self.groups: dict[str, Group] = {}
        self.quorum: str | None = None
        self.used: set[str] = set()  # names already listed as a group member
        self.keys: set[bytes] = set()

    def fail(self, number: int, message: str) -> InvalidInput:
        return InvalidInput(f"{self.name}:{number}: {message}")

    def line(self, number: int, items: list[bytes]) -> None:
        if len(self.logs) + len(self.witnesses) + len(self.groups) >= MAX_ITEMS:
            raise self.fail(number, f"more than {MAX_ITEMS} logs, witnesses and groups")
        keyword, args = items[0], items[1:]
        if keyword == b"log":
            self._log(number, args)
        elif keyword == b"witness":
            self._witness(number, args)
        elif keyword == b"group":
            self._group(number, args)
        elif keyword == b"quorum":
            self._quorum(number, args)
        else:
            word = keyword.decode("utf-8", errors="replace")
            raise self.fail(number, f"unknown keyword {word!r} (log, witness, group, quorum)")

    def _text(self, number: int, value: bytes, what: str) -> str:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(number, f"{what} is not valid UTF-8") from None

    def _name(self, number: int, value: bytes) -> str:
        name = value.decode("utf-8", errors="surrogateescape")
        if name == NONE:
            raise self.fail(number, "the name 'none' is reserved")
        if name in self.witnesses or name in self.groups:
            raise self.fail(number, f"the name {name!r} is already defined")
        return name

    def _unique_key(self, number: int, raw: bytes) -> None:
        if raw in self.keys:
            raise self.fail(number, "this public key is already listed")
        self.keys.add(raw)

    def _log(self, number: int, args: list[bytes]) -> None:
        if not 1 <= len(args) <= 2:
            raise self.fail(number, "expected: log <vkey> [<url>]")
        try:
            verifier = parse_verifier_key(self._text(number, args[0], "the log key"))
        except InvalidInput as exc:
            raise self.fail(number, f"log key: {exc}") from None
        self._unique_key(number, b"log:" + verifier.key.rsplit("+", 1)[1].encode())
        url = self._text(number, args[1], "the URL") if len(args) == 2 else None
        self.logs.append(PolicyLog(verifier, url))

    def _witness(self, number: int, args: list[bytes]) -> None:
        if not 2 <= len(args) <= 3:
            raise self.fail(number, "expected: witness <name> <vkey> [<url>]")
        name = self._name(number, args[0])
        try:
            verifier = parse_cosigner_verifier_key(self._text(number, args[1], "the witness key"))
        except InvalidInput as exc:
            raise self.fail(number, f"witness key: {exc}") from None
        self._unique_key(number, b"witness:" + verifier.raw)
        url = self._text(number, args[2], "the URL") if len(args) == 3 else None
        self.witnesses[name] = PolicyWitness(name, verifier, url)

    def _group(self, number: int, args: list[bytes]) -> None:
        if len(args) < 3:
            raise self.fail(number, "expected: group <name> all|any|<k> <name>...")
        name = self._name(number, args[0])
        members = [m.decode("utf-8", errors="surrogateescape") for m in args[2:]]
        for m in members:
            if m == NONE:
                raise self.fail(number, "'none' cannot be a group member")
            if m not in self.witnesses and m not in self.groups:
                raise self.fail(number, f"group member {m!r} is not defined on an earlier line")
            if m in self.used:
                raise self.fail(number, f"{m!r} is already a member of a group")
        if len(set(members)) != len(members):
            raise self.fail(number, "a group lists a member twice")
        n = len(members)
        spec = args[1]
        if spec == b"all":
            k = n
        elif spec == b"any":
            k = 1
        elif _DIGITS.fullmatch(spec) and len(spec) <= 6 and 1 <= int(spec) <= n:
            k = int(spec)
        else:
            raise self.fail(number, f"threshold must be all, any or a number from 1 to {n}")
        self.used.update(members)
        self.groups[name] = Group(name, k, tuple(members))

    def _quorum(self, number: int, args: list[bytes]) -> None:
        if self.quorum is not None:
            raise self.fail(number, "a policy has exactly one quorum line")
        if len(args) != 1:
            raise self.fail(number, "expected: quorum <name>")
        name = args[0].decode("utf-8", errors="surrogateescape")
        if name != NONE and name not in self.witnesses and name not in self.groups:
            raise self.fail(number, f"quorum {name!r} is not defined on an earlier line")
        self.quorum = name

    def finish(self) -> TlogPolicy:
        if self.quorum is None:
            raise InvalidInput(f"{self.name}: the policy has no quorum line")
        return TlogPolicy(tuple(self.logs), dict(self.witnesses), dict(self.groups), self.quorum)
