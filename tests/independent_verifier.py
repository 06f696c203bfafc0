"""A consent receipt verifier written from the specs alone: c2sp.org/tlog-proof,
tlog-checkpoint, signed-note, tlog-cosignature and RFC 9162, plus the leaf and statement
bytes documented in docs/transparency.md §6. It imports nothing from consentgate — only
the standard library and ``cryptography`` (for Ed25519) — so a test that checks a receipt
with it shows the format can be verified without this project.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Invalid(Exception):
    """The receipt does not verify."""


@dataclass(frozen=True)
class Key:
    name: str
    key_id: bytes
    alg: int
    public: bytes


def parse_vkey(text: str) -> Key:
    """``<name>+<hex key id>+<base64(type || key)>`` (c2sp.org/signed-note)."""
    name, hex_id, b64 = text.strip().split("+", 2)
    raw = base64.b64decode(b64, validate=True)
    key_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if key_id.hex() != hex_id:
        raise Invalid("key id mismatch")
    return Key(name, key_id, raw[0], raw[1:])


def _b64(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise Invalid("bad base64") from exc
    if base64.b64encode(raw).decode() != text:
        raise Invalid("non-canonical base64")
    return raw


def open_note(note: bytes, keys: list[Key]) -> tuple[bytes, list[Key]]:
    """The text of a signed note and the known keys whose signatures verify (a bad
    signature by a known key rejects the note)."""
    split = note.rfind(b"\n\n")
    if split < 0 or not note.endswith(b"\n"):
        raise Invalid("not a signed note")
    text, sigs = note[: split + 1], note[split + 2 : -1].decode().split("\n")
    signed = []
    for line in sigs:
        if not line.startswith("\u2014 "):
            raise Invalid("bad signature line")
        name, b64 = line[2:].split(" ")
        raw = _b64(b64)
        for k in keys:
            if k.name != name or k.key_id != raw[:4]:
                continue
            public = Ed25519PublicKey.from_public_bytes(k.public)
            try:
                if k.alg == 0x01:  # Ed25519 note signature over the text
                    public.verify(raw[4:], text)
                elif k.alg == 0x04:  # cosignature/v1: timestamp || Ed25519 signature
                    ts = int.from_bytes(raw[4:12], "big")
                    public.verify(raw[12:], b"cosignature/v1\ntime %d\n" % ts + text)
                else:
                    continue
            except InvalidSignature as exc:
                raise Invalid(f"bad signature by {name}") from exc
            signed.append(k)
    return text, signed


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def inclusion_ok(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


@dataclass(frozen=True)
class Verified:
    event: dict[str, object]
    index: int
    size: int
    witnesses: list[str]


def verify_receipt(data: bytes, log_key: str, witness_keys: list[str], quorum: int) -> Verified:
    """Verify a consentgate receipt (a tlog-proof file) with the log's verifier key and
    at least ``quorum`` valid cosignatures from ``witness_keys``."""
    log = parse_vkey(log_key)
    witnesses = [parse_vkey(k) for k in witness_keys]
    head, _, checkpoint = data.partition(b"\n\n")
    lines = head.decode().split("\n")
    if lines[0] != "c2sp.org/tlog-proof@v1" or not lines[1].startswith("extra "):
        raise Invalid("not a tlog-proof with extra data")
    extra = _b64(lines[1][6:])
    if not lines[2].startswith("index "):
        raise Invalid("no index line")
    index = int(lines[2][6:])
    proof = [_b64(line) for line in lines[3:]]
    # The checkpoint: signed by the log, cosigned by the quorum.
    text, signed = open_note(checkpoint, [log, *witnesses])
    if log not in signed:
        raise Invalid("checkpoint not signed by the log")
    cosigners = [k.name for k in signed if k in witnesses]
    if len(cosigners) < quorum:
        raise Invalid("quorum not met")
    origin, size, root64 = text.decode().split("\n")[:3]
    size_n, root = int(size), _b64(root64)
    # The statement (the extra data): signed by the log; fields split on "\n" only.
    stext, ssigned = open_note(extra, [log])
    if log not in ssigned:
        raise Invalid("statement not signed by the log")
    slines = stext.decode().split("\n")[:-1]
    if slines[0] != "consentgate.consent-receipt/v2":
        raise Invalid("not a consent receipt")
    fields = dict(line.split(" ", 1) for line in slines[1:])
    if fields["origin"] != origin or fields["index"] != str(index):
        raise Invalid("statement for another log or index")
    entry_bytes = fields["entry"].encode()
    entry, event = json.loads(entry_bytes), json.loads(fields["event"])
    if entry["entity"] != "consent_events" or entry["key"] != event["event_id"]:
        raise Invalid("entry does not record this event")
    leaf = hashlib.sha256(b"\x00" + entry_bytes).digest()
    if not inclusion_ok(leaf, index, size_n, proof, root):
        raise Invalid("inclusion proof fails")
    return Verified(event, index, size_n, cosigners)
