"""Signed notes checked against several keys at once, and verifier keys of any type.

A checkpoint carries the log's signature and, once witnessed, witness cosignatures
(c2sp.org/signed-note, c2sp.org/tlog-cosignature). ``open_note`` checks a note against a
set of keys of any signature type: signatures by keys not in the set are ignored, a bad
signature by a key in the set rejects the whole note (as signed-note requires), and the
result says which of the keys signed. Callers then decide what is enough (a log key; a
policy's quorum of witnesses).

Any object with ``name``, ``key_id`` and ``verify(message, signature)`` is a key here:
``consentgate.tlog.checkpoint.Verifier`` (Ed25519 note signatures, type 0x01) and
``consentgate.tlog.witness.CosignatureVerifier`` (``cosignature/v1``, type 0x04).

``parse_vkey`` reads the verifier key encoding of c2sp.org/signed-note
(``<name>+<hex key id>+<base64(type || key)>``) for any type and checks the key id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from consentgate.errors import AuditChainBroken, InvalidInput
from consentgate.tlog.checkpoint import Checkpoint, parse_checkpoint, split_note

__all__ = [
    "NoteVerifier",
    "OpenedNote",
    "VKey",
    "key_id",
    "open_note",
    "parse_vkey",
    "signature_line",
    "verify_checkpoint",
    "with_signatures",
]

SIGNATURE_PREFIX = "\u2014 "


class NoteVerifier(Protocol):
    """A key that checks note signatures (the key id and signature bytes come from the
    signature line)."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def verify(self, message: bytes, signature: bytes) -> bool: ...


@dataclass(frozen=True, slots=True)
class OpenedNote:
    """A note whose signatures by known keys all verified: its text (with the final
    newline), the known keys that signed it (each once, in note order) and their
    signature lines."""

    text: str
    signed_by: tuple[NoteVerifier, ...]
    lines: tuple[str, ...]

    def names(self) -> set[str]:
        return {v.name for v in self.signed_by}


def open_note(note_text: str | bytes, verifiers: Iterable[NoteVerifier]) -> OpenedNote:
    """Check every signature of ``note_text`` by a key in ``verifiers`` (matched by name
    and key id); ignore the others. Raises ``AuditChainBroken`` when the note is malformed
    or a known key's signature fails. The note may be signed by none of the keys: callers
    check ``signed_by``."""
    text, signatures = split_note(note_text)
    known = {(v.name, bytes(v.key_id)): v for v in verifiers}
    message = text.encode("utf-8")
    signed: list[NoteVerifier] = []
    lines: list[str] = []
    for name, raw in signatures:
        v = known.get((name, raw[:4]))
        if v is None:
            continue
        if not v.verify(message, raw[4:]):
            raise AuditChainBroken(f"invalid signature for key {name}+{raw[:4].hex()}")
        if v not in signed:
            signed.append(v)
            lines.append(signature_line(name, raw))
    return OpenedNote(text, tuple(signed), tuple(lines))


def verify_checkpoint(
    note_text: str | bytes, log_keys: Sequence[NoteVerifier], *, origin: str | None = None
) -> tuple[Checkpoint, OpenedNote]:
    """A checkpoint signed by at least one of ``log_keys`` (any of them: a log whose key
    was rotated has several), for ``origin`` when given. Raises ``AuditChainBroken``."""
    opened = open_note(note_text, log_keys)
    if not opened.signed_by:
        _, signatures = split_note(note_text)
        seen = ", ".join(f"{n}+{raw[:4].hex()}" for n, raw in signatures)
        wanted = ", ".join(f"{k.name}+{bytes(k.key_id).hex()}" for k in log_keys)
        raise AuditChainBroken(f"note is not signed by key {wanted} (signed by: {seen})")
    checkpoint = parse_checkpoint(opened.text)
    if origin is not None and checkpoint.origin != origin:
        raise AuditChainBroken(
            f"checkpoint is for origin {checkpoint.origin!r}, expected {origin!r}"
        )
    return checkpoint, opened


def signature_line(name: str, raw: bytes) -> str:
    """``— <name> <base64(key id || signature)>`` (no newline)."""
    return f"{SIGNATURE_PREFIX}{name} {base64.b64encode(raw).decode('ascii')}"


def with_signatures(note_text: str, lines: Iterable[str]) -> str:
    """``note_text`` (a signed note) with the signature ``lines`` appended, skipping lines
    it already has. The result is checked to still be a well-formed note."""
    have = note_text.rstrip("\n").split("\n")
    added = [line for line in dict.fromkeys(lines) if line not in have]
    result = note_text + "".join(line + "\n" for line in added)
    split_note(result)
    return result


# -- verifier keys -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VKey:
    """A decoded verifier key: name, key id, signature type byte and key material."""

    name: str
    key_id: bytes
    alg: int
    key: bytes

    def text(self) -> str:
        encoded = base64.b64encode(bytes([self.alg]) + self.key).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{encoded}"


def key_id(name: str, alg: int, key: bytes) -> bytes:
    """``SHA-256(name || 0x0A || type || key)[:4]`` (c2sp.org/signed-note)."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + key).digest()[:4]


def parse_vkey(text: str) -> VKey:
    """Parse ``<name>+<hex key id>+<base64(type || key)>``, surrounding whitespace allowed;
    the key id must be the one computed from the name, type and key. ``InvalidInput``."""
    what = "not a verifier key (expected <name>+<key id>+<key>)"
    name, _, rest = text.strip().partition("+")
    hash16, _, key64 = rest.partition("+")
    raw = _b64decode(key64)
    if not valid_name(name) or len(hash16) != 8 or not raw:
        raise InvalidInput(what)
    try:
        kid = bytes.fromhex(hash16)
    except ValueError:
        raise InvalidInput(what) from None
    if hash16 != kid.hex() or key_id(name, raw[0], raw[1:]) != kid:
        raise InvalidInput("verifier key id does not match its name and key")
    return VKey(name, kid, raw[0], raw[1:])


def valid_name(name: str) -> bool:
    """A key name: non-empty, no Unicode spaces, no ``+``, no control characters."""
    return bool(name) and "+" not in name and not any(c.isspace() or c < " " for c in name)


def _b64decode(text: str) -> bytes | None:
    """Strict, canonical standard base64, or None."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def b64decode_strict(text: str) -> bytes | None:
    """Canonical standard base64 (RFC 4648 §4, padded), or None: one encoding per value."""
    return _b64decode(text)
