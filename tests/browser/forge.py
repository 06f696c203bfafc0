"""Files that whoever holds the log's key (and the witnesses' keys) can sign.

The platform is the party a member's verifier must not trust, and it holds the log key: it
can sign any statement and any checkpoint. Byte flips of an issued file only show that
signatures are checked; to show that the offline verifier also refuses everything else
consentgate refuses (a statement with a field too many, an index that differs, a size with a
leading zero, a membership proof whose neighbours are out of order, a cosignature with an
out-of-range timestamp, ...), these helpers re-sign edited statements and checkpoints, and
the tests compare the page's verdict with consentgate's on each.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from consentgate.tlog.checkpoint import Signer
from consentgate.tlog.merkle import MerkleTree, leaf_hash
from consentgate.tlog.note import open_note
from consentgate.tlog.proof import parse_tlog_proof
from consentgate.tlog.witness import Cosigner

DASH = "\u2014 ".encode()
TIMESTAMP = 1_700_000_000
EMPTY_ROOT_HEX = hashlib.sha256(b"").hexdigest()


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


@dataclass(frozen=True)
class Parts:
    """An issued proof file taken apart: index line value, hashes, checkpoint body and
    signature lines, statement text."""

    index: bytes
    hashes: tuple[bytes, ...]
    body: bytes
    signatures: tuple[bytes, ...]
    statement: bytes


def take_apart(data: bytes, log: Signer) -> Parts:
    proof = parse_tlog_proof(data)
    assert proof.extra is not None
    checkpoint = proof.checkpoint.encode()
    split = checkpoint.rindex(b"\n\n")
    return Parts(
        str(proof.index).encode(),
        proof.hashes,
        checkpoint[: split + 1],
        tuple(checkpoint[split + 2 : -1].split(b"\n")),
        open_note(proof.extra, [log.verifier]).text.encode(),
    )


@dataclass(frozen=True)
class Forger:
    log: Signer
    witnesses: tuple[Cosigner, ...]

    def signature(self, text: bytes) -> bytes:
        """The log's signature line over any bytes (no newline)."""
        return DASH + self.log.name.encode() + b" " + b64(self.log.key_id + self.log.sign(text))

    def note(self, text: bytes) -> bytes:
        """``text`` (newline-terminated) signed by the log: a statement."""
        return text + b"\n" + self.signature(text) + b"\n"

    def cosignature(self, w: Cosigner, text: bytes, timestamp: int = TIMESTAMP) -> bytes:
        """A cosignature/v1 line by ``w`` with any 64-bit ``timestamp``."""
        message = b"cosignature/v1\ntime %d\n" % timestamp + text
        raw = w.key_id + timestamp.to_bytes(8, "big") + w.private_key.sign(message)
        return DASH + w.name.encode() + b" " + b64(raw)

    def checkpoint(self, body: bytes, *, cosigned: bool = True) -> bytes:
        """``body`` signed by the log and, when ``cosigned``, by every witness."""
        lines = [self.signature(body)]
        if cosigned:
            lines += [self.cosignature(w, body) for w in self.witnesses]
        return body + b"\n" + b"\n".join(lines) + b"\n"

    def proof(
        self,
        parts: Parts,
        *,
        statement: bytes | None = None,
        checkpoint: bytes | None = None,
        index: bytes | None = None,
        hashes: Sequence[bytes] | None = None,
    ) -> bytes:
        """A tlog-proof file from ``parts`` with any of them replaced; the statement is
        signed by the log, the checkpoint taken as given (default: the original one)."""
        lines = [
            b"c2sp.org/tlog-proof@v1",
            b"extra " + b64(self.note(parts.statement if statement is None else statement)),
            b"index " + (parts.index if index is None else index),
            *(b64(h) for h in (parts.hashes if hashes is None else hashes)),
        ]
        if checkpoint is None:
            checkpoint = parts.body + b"\n" + b"\n".join(parts.signatures) + b"\n"
        return b"\n".join(lines) + b"\n\n" + checkpoint

    def relog(
        self,
        parts: Parts,
        statement: bytes,
        *,
        cosigned: bool = True,
        edit_body: Callable[[bytes], bytes] | None = None,
    ) -> bytes:
        """A proof of ``statement`` in a log the forger makes up: whatever its ``entry``
        line holds is leaf ``index`` of a tree of ``index + 1`` leaves, under a checkpoint
        for the original origin, signed (and cosigned), so that every check after the
        inclusion proof is reached. ``edit_body`` may change the checkpoint's text."""
        index = int(parts.index)
        lines = statement.split(b"\n")
        entry = next((line[len(b"entry ") :] for line in lines if line.startswith(b"entry ")), b"")
        leaves = [leaf_hash(b"filler %d" % i) for i in range(index)] + [leaf_hash(entry)]
        tree = MerkleTree(leaves)
        origin = parts.body.split(b"\n", 1)[0]
        body = origin + b"\n%d\n" % (index + 1) + b64(tree.root()) + b"\n"
        if edit_body is not None:
            body = edit_body(body)
        return self.proof(
            parts,
            statement=statement,
            checkpoint=self.checkpoint(body, cosigned=cosigned),
            hashes=tree.inclusion_proof(index),
        )


def flips(data: bytes, *, bit_offset: int = 0) -> Iterator[bytes]:
    """``data`` with each byte's bit ``(position + bit_offset) % 8`` flipped, in turn."""
    for i in range(len(data)):
        b = bytearray(data)
        b[i] ^= 1 << ((i + bit_offset) % 8)
        yield bytes(b)


def inserts(data: bytes, chars: bytes) -> Iterator[bytes]:
    """``data`` with each of ``chars`` inserted at every position."""
    for i in range(len(data) + 1):
        for c in chars:
            yield data[:i] + bytes([c]) + data[i:]


def path_length(index: int, size: int) -> int:
    """How many hashes the RFC 9162 audit path of leaf ``index`` in a tree of ``size`` has."""
    fn, sn, n = index, size - 1, 0
    while sn:
        if fn & 1 or fn == sn:
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        fn >>= 1
        sn >>= 1
        n += 1
    return n


def root_from_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """The root that ``path`` proves ``leaf`` at ``index`` under (RFC 9162 §2.1.3.2, run to
    compute instead of compare): any path the forger picks, for any size."""
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return r


def huge_log(forger: Forger, parts: Parts, statement: bytes, index: int, size: int) -> bytes:
    """A proof of ``statement`` as entry ``index`` of a log of ``size`` entries (2^63 and
    more), with a path of made-up hashes and the root they give: the statement's index and
    entry idx are set to ``index``."""
    old = parts.index
    statement = statement.replace(b"\nindex " + old + b"\n", b"\nindex %d\n" % index)
    statement = statement.replace(b'"idx":' + old + b",", b'"idx":%d,' % index)
    entry = next(line[6:] for line in statement.split(b"\n") if line.startswith(b"entry "))
    path = [hashlib.sha256(b"path %d" % i).digest() for i in range(path_length(index, size))]
    root = root_from_path(leaf_hash(entry), index, size, path)
    origin = parts.body.split(b"\n", 1)[0]
    body = origin + b"\n%d\n" % size + b64(root) + b"\n"
    return forger.proof(
        parts,
        statement=statement,
        checkpoint=forger.checkpoint(body),
        index=b"%d" % index,
        hashes=path,
    )
