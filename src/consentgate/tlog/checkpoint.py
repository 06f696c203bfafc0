"""Signed checkpoints: the log's tree head as a C2SP checkpoint in an Ed25519 signed note.

A checkpoint (https://c2sp.org/tlog-checkpoint) is a short text: the log's origin line,
the tree size in decimal, the base64 root hash, each ending in a newline, then optional
extension lines. It is signed as a signed note (https://c2sp.org/signed-note): the text,
a blank line, and one line per signature, ``— <key name> <base64(key id || signature)>``
(an em dash, U+2014). The key id is the first four bytes of
``SHA-256(name || 0x0A || 0x01 || public key)``; ``0x01`` names Ed25519.

Keys use the string encodings of golang.org/x/mod/sumdb/note, so other tools read them:

* signing key (a file, mode 0600): ``PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>``
* verifier key (what ``consentgate audit public-key`` prints):
  ``<name>+<key id hex>+<base64(0x01 || public key)>``

Why it is hand-written: the format is a page of text over ``cryptography``'s Ed25519,
and the Python copies we know of are private to sigstore-python and verify-only. It is
checked against the note test vectors of golang.org/x/mod and real sum.golang.org
checkpoints (``tests/test_checkpoint.py``).

Verification is strict on purpose: canonical base64 only, no control characters, the
size without leading zeros, so that changing any byte of a signed checkpoint makes it
fail. Every failure raises ``AuditChainBroken`` with a message saying what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from consentgate.errors import AuditChainBroken, Conflict, InvalidInput, NotFound

__all__ = [
    "Checkpoint",
    "Signer",
    "Verifier",
    "generate_signing_key",
    "load_signer",
    "open_note",
    "parse_checkpoint",
    "parse_signer_key",
    "parse_verifier_key",
    "read_key_file",
    "sign_checkpoint",
    "sign_note",
    "split_note",
    "verify_checkpoint",
    "write_key_file",
]

ALG_ED25519 = 0x01
"""Signature type byte of Ed25519 in signed notes."""

MAX_SIGNATURES = 100
"""Notes with more signature lines than this are refused (the spec asks for >= 16)."""

ROOT_SIZE = 32
_SIG_PREFIX = "\u2014 "
_SIZE_RE = re.compile(r"0|[1-9][0-9]{0,19}")
_HEX8_RE = re.compile(r"[0-9a-f]{8}")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: which log (``origin``), how many leaves, and their Merkle root."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        """The checkpoint body, newline-terminated lines, as it is signed."""
        _check_body_line(self.origin, "origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise InvalidInput(f"checkpoint size must be an integer >= 0, got {self.size!r}")
        if len(self.root) != ROOT_SIZE:
            raise InvalidInput(f"checkpoint root must be {ROOT_SIZE} bytes, got {len(self.root)}")
        for ext in self.extensions:
            _check_body_line(ext, "extension line")
        lines = [self.origin, str(self.size), _b64(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)


@dataclass(frozen=True, slots=True)
class Verifier:
    """A public key that checks note signatures, known by ``name`` and ``key_id``."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey = field(repr=False, compare=False)

    @property
    def key(self) -> str:
        """The verifier key string ``<name>+<key id hex>+<base64(0x01 || public key)>``."""
        return f"{self.name}+{self.key_id.hex()}+{_b64(_encoded_public(self.public_key))}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (without the key id) signs ``message`` with this key."""
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True, eq=False)
class Signer:
    """A private signing key with its note key name. Its repr never shows the key."""

    name: str
    key_id: bytes
    private_key: Ed25519PrivateKey = field(repr=False)

    @property
    def verifier(self) -> Verifier:
        """The matching public key."""
        return Verifier(self.name, self.key_id, self.private_key.public_key())

    @property
    def verifier_key(self) -> str:
        """The verifier key string to publish (``consentgate audit public-key``)."""
        return self.verifier.key

    def sign(self, message: bytes) -> bytes:
        """The raw Ed25519 signature of ``message`` (64 bytes)."""
        return self.private_key.sign(message)


# -- keys ----------------------------------------------------------------------------


def generate_signing_key(path: Path, *, name: str) -> None:
    """Create a new Ed25519 signing key named ``name`` and write it to ``path``.

    The file holds one line, ``PRIVATE+KEY+<name>+<key id>+<base64(0x01 || seed)>``,
    and is created with mode 0600 (missing parent directories with 0700). An existing
    file is never overwritten: losing the key that signed earlier checkpoints would
    leave them unverifiable, so this raises ``Conflict`` instead.
    """
    _check_key_name(name)
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    key_id = _key_id(name, _encoded_public(private.public_key()))
    line = f"PRIVATE+KEY+{name}+{key_id.hex()}+{_b64(bytes([ALG_ED25519]) + seed)}\n"
    write_key_file(path, line)


def write_key_file(path: Path, line: str) -> None:
    """Create the private key file ``path`` holding ``line``: mode 0600 (missing parent
    directories 0700), written and synced. An existing file is never overwritten
    (``Conflict``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise Conflict(f"{path}: a signing key already exists; refusing to replace it") from exc
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)


def load_signer(path: Path) -> Signer:
    """Read a signing key file written by ``generate_signing_key``.

    Refuses (``InvalidInput``) a file that others may read or write (on POSIX), or
    whose content is not a valid signing key; ``NotFound`` if there is no file.
    """
    path = Path(path)
    text = read_key_file(path)
    try:
        return parse_signer_key(text)
    except InvalidInput as exc:
        raise InvalidInput(f"{path}: {exc}") from exc


def read_key_file(path: Path) -> str:
    """The text of a private key file; ``InvalidInput`` when others may read or write it
    (on POSIX) or it cannot be read, ``NotFound`` when it does not exist."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotFound("signing key file", str(path)) from exc
    except (UnicodeDecodeError, OSError) as exc:
        raise InvalidInput(
            f"{path}: cannot read the signing key ({exc.__class__.__name__})"
        ) from exc
    if os.name == "posix" and mode & 0o077:
        raise InvalidInput(
            f"{path}: signing key is accessible to other users (mode {mode & 0o777:o}); "
            f"run: chmod 600 {path}"
        )
    return text


def parse_signer_key(text: str) -> Signer:
    """Parse ``PRIVATE+KEY+<name>+<key id>+<base64(0x01 || seed)>`` (surrounding
    whitespace allowed). The message of a refusal never contains the key."""
    what = "not a signing key (expected PRIVATE+KEY+<name>+<key id>+<key>)"
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise InvalidInput(what)
    _, _, name, hash16, key64 = parts
    raw = _b64decode(key64)
    if not _valid_name(name) or not _HEX8_RE.fullmatch(hash16) or raw is None:
        raise InvalidInput(what)
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise InvalidInput("signing key is not an Ed25519 key")
    private = Ed25519PrivateKey.from_private_bytes(raw[1:])
    key_id = _key_id(name, _encoded_public(private.public_key()))
    if key_id.hex() != hash16:
        raise InvalidInput("signing key id does not match its name and key")
    return Signer(name, key_id, private)


def parse_verifier_key(text: str) -> Verifier:
    """Parse a verifier key ``<name>+<key id hex>+<base64(0x01 || public key)>``
    (surrounding whitespace allowed, e.g. a file's final newline)."""
    what = "not a verifier key (expected <name>+<key id>+<key>)"
    name, _, rest = text.strip().partition("+")
    hash16, _, key64 = rest.partition("+")
    raw = _b64decode(key64)
    if not _valid_name(name) or not _HEX8_RE.fullmatch(hash16) or not raw:
        raise InvalidInput(what)
    if _key_id(name, raw).hex() != hash16:
        raise InvalidInput("verifier key id does not match its name and key")
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise InvalidInput("verifier key is not an Ed25519 key")
    try:
        public = Ed25519PublicKey.from_public_bytes(raw[1:])
    except ValueError as exc:
        raise InvalidInput("verifier key is not a valid Ed25519 public key") from exc
    return Verifier(name, bytes.fromhex(hash16), public)


# -- notes ---------------------------------------------------------------------------


def sign_note(signer: Signer, text: str) -> str:
    """Sign ``text`` (newline-terminated) as a signed note with one signature."""
    if not text.endswith("\n"):
        raise InvalidInput("note text must end with a newline")
    problem = _text_problem(text)
    if problem:
        raise InvalidInput(f"note text {problem}")
    _check_key_name(signer.name)
    sig = signer.sign(text.encode("utf-8"))
    return f"{text}\n{_SIG_PREFIX}{signer.name} {_b64(signer.key_id + sig)}\n"


def open_note(note_text: str | bytes, verifier: Verifier) -> str:
    """Check a signed note and return its text (with the final newline).

    Signatures by other keys are ignored, as the spec requires; a note with no valid
    signature by ``verifier``, with a bad one, or that is malformed raises
    ``AuditChainBroken``.
    """
    text, signatures = _split_note(note_text)
    verified = False
    others: list[str] = []
    for name, raw in signatures:
        if name != verifier.name or raw[:4] != verifier.key_id:
            others.append(f"{name}+{raw[:4].hex()}")
            continue
        if not verifier.verify(text.encode("utf-8"), raw[4:]):
            raise AuditChainBroken(f"invalid signature for key {name}+{raw[:4].hex()}")
        verified = True
    if not verified:
        seen = ", ".join(others)
        raise AuditChainBroken(
            f"note is not signed by key {verifier.name}+{verifier.key_id.hex()} (signed by: {seen})"
        )
    return text


def sign_checkpoint(
    signer: Signer, *, origin: str, size: int, root: bytes, extensions: Sequence[str] = ()
) -> str:
    """The signed note of the checkpoint (``origin``, ``size``, ``root``): the whole
    text to store or publish."""
    body = Checkpoint(origin, size, bytes(root), tuple(extensions)).text()
    return sign_note(signer, body)


def verify_checkpoint(
    note_text: str | bytes, verifier: Verifier, *, origin: str | None = None
) -> Checkpoint:
    """Check a signed checkpoint and return what it states.

    Raises ``AuditChainBroken`` when the note is malformed, is not signed by
    ``verifier``, carries a bad signature, its body is not a checkpoint, or (when
    ``origin`` is given) it is for another log.
    """
    body = open_note(note_text, verifier)
    checkpoint = _parse_checkpoint(body)
    if origin is not None and checkpoint.origin != origin:
        raise AuditChainBroken(
            f"checkpoint is for origin {checkpoint.origin!r}, expected {origin!r}"
        )
    return checkpoint


def split_note(note_text: str | bytes) -> tuple[str, list[tuple[str, bytes]]]:
    """Split a signed note into its text (with the final newline) and its signatures, as
    (key name, key id || signature) pairs, in order. Raises ``AuditChainBroken`` when the
    note is malformed (the checks of ``open_note``); verifies nothing."""
    return _split_note(note_text)


def parse_checkpoint(body: str) -> Checkpoint:
    """Parse a checkpoint body (note text, newline-terminated). Raises ``AuditChainBroken``
    when it is not one; verifies nothing."""
    return _parse_checkpoint(body)


# -- internals -------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str) -> bytes | None:
    """Strict, canonical standard base64, or None: one encoding per byte string."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if _b64(raw) == text else None


def _encoded_public(public: Ed25519PublicKey) -> bytes:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return bytes([ALG_ED25519]) + raw


def _key_id(name: str, encoded_public: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + encoded_public).digest()[:4]


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() or c < " " for c in name)


def _check_key_name(name: str) -> None:
    if not _valid_name(name):
        raise InvalidInput(
            f"key name {name!r} is not valid: it must be non-empty, without spaces or '+'"
        )


def _text_problem(text: str) -> str | None:
    for c in text:
        if c < " " and c != "\n":
            return f"contains the control character U+{ord(c):04X}"
    return None


def _check_body_line(line: str, what: str) -> None:
    if not line:
        raise InvalidInput(f"checkpoint {what} must not be empty")
    if "\n" in line:
        raise InvalidInput(f"checkpoint {what} must be a single line")
    problem = _text_problem(line)
    if problem:
        raise InvalidInput(f"checkpoint {what} {problem}")


def _split_note(note_text: str | bytes) -> tuple[str, list[tuple[str, bytes]]]:
    """Split a signed note into its text and (key name, key id || signature) pairs."""
    if isinstance(note_text, bytes):
        try:
            note_text = note_text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AuditChainBroken("malformed note: not valid UTF-8") from exc
    problem = _text_problem(note_text)
    if problem:
        raise AuditChainBroken(f"malformed note: {problem}")
    split = note_text.rfind("\n\n")
    if split < 0:
        raise AuditChainBroken("malformed note: no blank line before the signatures")
    text, block = note_text[: split + 1], note_text[split + 2 :]
    if not block or not block.endswith("\n"):
        raise AuditChainBroken("malformed note: the signature lines must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise AuditChainBroken(f"malformed note: more than {MAX_SIGNATURES} signatures")
    signatures = []
    for number, line in enumerate(lines, start=1):
        if not line.startswith(_SIG_PREFIX):
            raise AuditChainBroken(
                f"malformed note: signature line {number} does not start with an em dash"
            )
        name, _, encoded = line[len(_SIG_PREFIX) :].partition(" ")
        raw = _b64decode(encoded)
        if not _valid_name(name):
            raise AuditChainBroken(f"malformed note: signature line {number} has a bad key name")
        if raw is None or len(raw) < 5:
            raise AuditChainBroken(
                f"malformed note: signature line {number} is not base64(key id || signature)"
            )
        signatures.append((name, raw))
    return text, signatures


def _parse_checkpoint(body: str) -> Checkpoint:
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise AuditChainBroken(
            "malformed checkpoint: expected an origin, a tree size and a root hash line"
        )
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise AuditChainBroken("malformed checkpoint: empty origin line")
    if not _SIZE_RE.fullmatch(size_text):
        raise AuditChainBroken(
            f"malformed checkpoint: tree size {size_text!r} is not a decimal number "
            "without leading zeros"
        )
    root = _b64decode(root_text)
    if root is None or len(root) != ROOT_SIZE:
        raise AuditChainBroken(
            f"malformed checkpoint: root hash is not the base64 of {ROOT_SIZE} bytes"
        )
    if any(not ext for ext in extensions):
        raise AuditChainBroken("malformed checkpoint: empty extension line")
    return Checkpoint(origin, int(size_text), root, tuple(extensions))
