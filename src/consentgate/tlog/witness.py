"""Witnesses: c2sp.org/tlog-witness messages and decisions, and c2sp.org/tlog-cosignature
``cosignature/v1`` (Ed25519) keys and signatures. Pure: the HTTP server and client are
``consentgate.tlog.witness_server`` and ``consentgate.tlog.witness_client``.

**Cosignature/v1** (signature type 0x04). A witness key is an Ed25519 key with a name; its
key id is ``SHA-256(name || 0x0A || 0x04 || public key)[:4]``, its verifier key
``<name>+<key id>+base64(0x04 || public key)`` and its private key file
``PRIVATE+KEY+<name>+<key id>+base64(0x04 || seed)``. A cosignature is a note signature line
whose bytes are ``key id || timestamp (u64, big endian) || Ed25519 signature`` over::

    cosignature/v1
    time <timestamp>
    <the checkpoint's note text, final newline included>

**add-checkpoint.** A log POSTs ``old <size>``, at most 63 base64 consistency-proof lines,
an empty line and the signed checkpoint. ``add_checkpoint`` is the witness's whole decision,
in the order the spec lists the checks: unknown origin 404; no valid signature by a trusted
log key (or a bad one) 403; malformed body or ``old`` above the checkpoint's size 400;
``old`` not the size the witness last cosigned for that log 409 with that size
(``text/x.tlog.size``); a size-0 checkpoint without the empty root, a proof with ``old 0``,
a consistency proof that does not verify, or equal sizes with another root 422; otherwise
200 with the cosignature line and the new state, which the caller persists atomically
with the check (see the server).

Why hand-written: there is no Python implementation of these specs to pin; each is a
page over ``cryptography``'s Ed25519 and ``consentgate.tlog.merkle``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from consentgate.errors import AuditChainBroken, InvalidInput
from consentgate.tlog.checkpoint import parse_checkpoint, split_note
from consentgate.tlog.merkle import EMPTY_ROOT, verify_consistency
from consentgate.tlog.note import (
    NoteVerifier,
    b64decode_strict,
    key_id,
    open_note,
    parse_vkey,
    signature_line,
    valid_name,
)

__all__ = [
    "ALG_COSIGNATURE_V1",
    "MAX_PROOF_LINES",
    "SIZE_CONTENT_TYPE",
    "AddCheckpoint",
    "CosignatureVerifier",
    "Cosigner",
    "Seen",
    "WitnessReply",
    "add_checkpoint",
    "cosignature_lines",
    "cosignature_message",
    "new_cosigner_key",
    "origin_hash",
    "parse_add_checkpoint",
    "parse_cosigner_key",
    "parse_cosigner_verifier_key",
    "parse_size_hint",
]

ALG_COSIGNATURE_V1 = 0x04
MAX_PROOF_LINES = 63
MAX_TIMESTAMP = 2**63 - 1
SIZE_CONTENT_TYPE = "text/x.tlog.size"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
_SIZE_RE = re.compile(rb"0|[1-9][0-9]{0,18}")


def cosignature_message(text: bytes, timestamp: int) -> bytes:
    """The bytes a ``cosignature/v1`` signs: header line, time line, then the note text."""
    return b"cosignature/v1\ntime %d\n" % timestamp + text


@dataclass(frozen=True, slots=True)
class CosignatureVerifier:
    """A witness's public key for ``cosignature/v1`` (type 0x04)."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey = field(repr=False, compare=False)

    @property
    def raw(self) -> bytes:
        return self.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def key(self) -> str:
        """The verifier key ``<name>+<key id>+base64(0x04 || public key)``."""
        encoded = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.raw).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (timestamp || Ed25519 signature) cosigns the note text
        ``message``."""
        if len(signature) != 8 + 64:
            return False
        (timestamp,) = struct.unpack(">Q", signature[:8])
        if timestamp > MAX_TIMESTAMP:
            return False
        try:
            self.public_key.verify(signature[8:], cosignature_message(message, timestamp))
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True, eq=False)
class Cosigner:
    """A witness's private key. Its repr never shows the key."""

    name: str
    key_id: bytes
    private_key: Ed25519PrivateKey = field(repr=False)

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.key_id, self.private_key.public_key())

    def cosign(self, text: str, timestamp: int) -> str:
        """The cosignature line (no newline) over the checkpoint note ``text``."""
        if not 0 < timestamp <= MAX_TIMESTAMP:
            raise InvalidInput(f"cosignature timestamp {timestamp} is out of range")
        message = cosignature_message(text.encode("utf-8"), timestamp)
        raw = self.key_id + struct.pack(">Q", timestamp) + self.private_key.sign(message)
        return signature_line(self.name, raw)


def new_cosigner_key(name: str) -> str:
    """A fresh witness private key as its file line (newline-terminated)."""
    if not valid_name(name):
        raise InvalidInput(f"key name {name!r} is not valid: non-empty, no spaces or '+'")
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    kid = key_id(name, ALG_COSIGNATURE_V1, public)
    encoded = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + seed).decode("ascii")
    return f"PRIVATE+KEY+{name}+{kid.hex()}+{encoded}\n"


def parse_cosigner_key(text: str) -> Cosigner:
    """Parse ``PRIVATE+KEY+<name>+<key id>+base64(0x04 || seed)``; the message of a refusal
    never contains the key."""
    what = "not a witness key (expected PRIVATE+KEY+<name>+<key id>+<key>)"
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise InvalidInput(what)
    name, hash16, key64 = parts[2:]
    raw = b64decode_strict(key64)
    if not valid_name(name) or raw is None or len(raw) != 33:
        raise InvalidInput(what)
    if raw[0] != ALG_COSIGNATURE_V1:
        raise InvalidInput("witness key is not a cosignature/v1 (0x04) key")
    private = Ed25519PrivateKey.from_private_bytes(raw[1:])
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    kid = key_id(name, ALG_COSIGNATURE_V1, public)
    if kid.hex() != hash16:
        raise InvalidInput("witness key id does not match its name and key")
    return Cosigner(name, kid, private)


def parse_cosigner_verifier_key(text: str) -> CosignatureVerifier:
    """Parse a witness verifier key ``<name>+<key id>+base64(0x04 || public key)``."""
    vkey = parse_vkey(text)
    if vkey.alg != ALG_COSIGNATURE_V1:
        raise InvalidInput(
            f"witness key {vkey.name}+{vkey.key_id.hex()} has signature type "
            f"0x{vkey.alg:02x}; a witness key must be cosignature/v1 (0x04)"
        )
    if len(vkey.key) != 32:
        raise InvalidInput("witness key is not a 32-byte Ed25519 public key")
    try:
        public = Ed25519PublicKey.from_public_bytes(vkey.key)
    except ValueError as exc:
        raise InvalidInput("witness key is not a valid Ed25519 public key") from exc
    return CosignatureVerifier(vkey.name, vkey.key_id, public)


# -- add-checkpoint ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    """An add-checkpoint request: the old size, the consistency proof and the note."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: str

    def body(self) -> bytes:
        lines = [f"old {self.old_size}"]
        lines += [base64.b64encode(h).decode("ascii") for h in self.proof]
        return ("".join(line + "\n" for line in lines) + "\n" + self.checkpoint).encode("utf-8")


class WitnessRefusal(Exception):
    """A request the witness refuses with an HTTP status."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse an add-checkpoint body strictly; ``WitnessRefusal(400)`` when malformed."""
    head, sep, note = body.partition(b"\n\n")
    if not sep:
        raise WitnessRefusal(400, "no empty line between the proof and the checkpoint")
    lines = head.split(b"\n")
    first = lines[0]
    if not first.startswith(b"old ") or not _SIZE_RE.fullmatch(first[4:]):
        raise WitnessRefusal(400, "the first line must be `old <size>`")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise WitnessRefusal(400, f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for line in lines[1:]:
        raw = b64decode_strict(line.decode("ascii", errors="replace"))
        if raw is None or len(raw) != 32:
            raise WitnessRefusal(400, "a consistency proof line is not a base64 SHA-256 hash")
        proof.append(raw)
    try:
        text = note.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessRefusal(400, "the checkpoint is not valid UTF-8") from None
    return AddCheckpoint(int(first[4:]), tuple(proof), text)


@dataclass(frozen=True, slots=True)
class Seen:
    """What a witness keeps per log: the latest size and root it cosigned, and that
    checkpoint with the log's signatures it verified and its own cosignature."""

    size: int
    root: bytes
    checkpoint: str


@dataclass(frozen=True, slots=True)
class WitnessReply:
    """The HTTP answer to an add-checkpoint request, and (on 200) the state to persist
    for ``origin`` before answering."""

    status: int
    body: bytes
    content_type: str = TEXT_CONTENT_TYPE
    origin: str | None = None
    seen: Seen | None = None


def _refused(status: int, reason: str, origin: str | None = None) -> WitnessReply:
    return WitnessReply(status, (reason + "\n").encode("utf-8"), TEXT_CONTENT_TYPE, origin)


def add_checkpoint(
    body: bytes,
    *,
    logs: Mapping[str, Sequence[NoteVerifier]],
    seen: Callable[[str], Seen | None],
    cosigner: Cosigner,
    now: int,
) -> WitnessReply:
    """The witness's answer to one add-checkpoint request (see the module docstring).

    ``logs`` maps each trusted origin to its log keys; ``seen(origin)`` is the state kept
    for it; ``now`` the POSIX time of the cosignature. Pure: the caller persists
    ``reply.seen`` atomically with reading ``seen`` before it answers.
    """
    try:
        request = parse_add_checkpoint(body)
        text, _ = split_note(request.checkpoint)
    except WitnessRefusal as exc:
        return _refused(exc.status, exc.reason)
    except AuditChainBroken as exc:
        return _refused(400, f"malformed checkpoint note: {exc}")
    origin = text.split("\n", 1)[0]
    keys = logs.get(origin)
    if not keys:
        return _refused(404, "unknown log origin")
    try:
        opened = open_note(request.checkpoint, keys)
    except AuditChainBroken as exc:
        return _refused(403, str(exc), origin)
    if not opened.signed_by:
        return _refused(403, "the checkpoint carries no signature by a trusted log key", origin)
    try:
        cp = parse_checkpoint(opened.text)
    except AuditChainBroken as exc:
        return _refused(400, str(exc), origin)
    old = request.old_size
    if old > cp.size:
        return _refused(400, f"old size {old} is larger than the checkpoint size {cp.size}", origin)
    latest = seen(origin)
    latest_size = latest.size if latest else 0
    if old != latest_size:
        return WitnessReply(409, f"{latest_size}\n".encode("ascii"), SIZE_CONTENT_TYPE, origin)
    if cp.size == 0 and cp.root != EMPTY_ROOT:
        return _refused(422, "a checkpoint of size 0 must have the empty tree's root", origin)
    if old == 0:
        if request.proof:
            return _refused(422, "a consistency proof from size 0 must be empty", origin)
    elif latest is not None and not verify_consistency(
        old, cp.size, latest.root, cp.root, request.proof
    ):
        if old == cp.size:
            return _refused(422, "same size as the cosigned checkpoint, another root", origin)
        return _refused(422, "the consistency proof does not verify", origin)
    line = cosigner.cosign(opened.text, now)
    stored = opened.text + "\n" + "".join(s + "\n" for s in (*opened.lines, line))
    return WitnessReply(
        200,
        (line + "\n").encode("utf-8"),
        TEXT_CONTENT_TYPE,
        origin,
        Seen(cp.size, cp.root, stored),
    )


def origin_hash(origin: str) -> str:
    """The monitoring path element of a log: lower-case hex SHA-256 of its origin."""
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()


# -- client side ---------------------------------------------------------------------------


def parse_size_hint(body: bytes) -> int:
    """The size in a 409 answer (``<decimal>\\n``); ``InvalidInput`` otherwise."""
    if not body.endswith(b"\n") or not _SIZE_RE.fullmatch(body[:-1]):
        raise InvalidInput("the witness's 409 answer is not a tree size line")
    return int(body[:-1])


def cosignature_lines(body: bytes) -> list[str]:
    """The signature lines of a 200 answer (each ``— <name> <base64>``, newline-terminated
    in the body); ``InvalidInput`` when the body is not one or more such lines."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the witness's answer is not UTF-8") from None
    if not text.endswith("\n") or text == "\n":
        raise InvalidInput("the witness's answer is not newline-terminated signature lines")
    lines = text[:-1].split("\n")
    # A note with these lines parses only if every line is a well-formed signature line.
    try:
        split_note("x\n\n" + text)
    except AuditChainBroken as exc:
        raise InvalidInput(f"the witness's answer is malformed: {exc}") from None
    return lines
