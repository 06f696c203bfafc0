"""c2sp.org/tlog-proof@v1 files: an offline proof that an entry is in a log.

::

    c2sp.org/tlog-proof@v1
    extra <base64 of the extra data>          (optional)
    index <leaf index>
    <base64 hash>                             (the inclusion proof, leaf's sibling first)
    ...
                                              (an empty line)
    <the checkpoint, verbatim: a signed note with the log's signature and cosignatures>

Reading is strict, so that a file has one meaning and every altered byte outside the
checkpoint's signature lines changes it: the header must be exact, base64 canonical, the
index decimal without leading zeros, at most 63 proof hashes of 32 bytes, and the
checkpoint must follow the empty line. What the extra data means, and how the leaf is
computed from it, is the application's (``consentgate.tlog.statements``).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from consentgate.errors import InvalidInput
from consentgate.tlog.note import b64decode_strict

__all__ = ["HEADER", "TlogProof", "is_tlog_proof", "parse_tlog_proof"]

HEADER = "c2sp.org/tlog-proof@v1"
MAX_HASHES = 63
_INDEX_RE = re.compile(r"index (0|[1-9][0-9]{0,18})")


@dataclass(frozen=True, slots=True)
class TlogProof:
    """The parts of a tlog-proof file."""

    index: int
    hashes: tuple[bytes, ...]
    checkpoint: str
    extra: bytes | None = None

    def text(self) -> str:
        """The file's content."""
        lines = [HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode("ascii"))
        lines.append(f"index {self.index}")
        lines += [base64.b64encode(h).decode("ascii") for h in self.hashes]
        return "".join(line + "\n" for line in lines) + "\n" + self.checkpoint


def is_tlog_proof(data: str | bytes) -> bool:
    """Whether ``data`` starts like a tlog-proof file (as opposed to a JSON form)."""
    head = HEADER + "\n"
    if isinstance(data, bytes):
        return data.startswith(head.encode("ascii"))
    return data.startswith(head)


def parse_tlog_proof(data: str | bytes) -> TlogProof:
    """Read a tlog-proof file; ``InvalidInput`` naming the line that is wrong."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("tlog-proof: not valid UTF-8") from None
    head, sep, checkpoint = data.partition("\n\n")
    if not sep or not checkpoint:
        raise InvalidInput("tlog-proof: no empty line followed by a checkpoint")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise InvalidInput(f"tlog-proof: line 1 must be {HEADER!r}")
    number, extra = 2, None
    if len(lines) > 1 and lines[1].startswith("extra "):
        extra = b64decode_strict(lines[1][len("extra ") :])
        if not extra:
            raise InvalidInput("tlog-proof: line 2: extra data must be non-empty base64")
        number = 3
    if len(lines) < number or not _INDEX_RE.fullmatch(lines[number - 1]):
        raise InvalidInput(f"tlog-proof: line {number} must be `index <decimal>`")
    index = int(lines[number - 1][len("index ") :])
    hashes = []
    for offset, line in enumerate(lines[number:], start=number + 1):
        raw = b64decode_strict(line)
        if raw is None or len(raw) != 32:
            raise InvalidInput(f"tlog-proof: line {offset} is not a base64 SHA-256 hash")
        hashes.append(raw)
    if len(hashes) > MAX_HASHES:
        raise InvalidInput(f"tlog-proof: more than {MAX_HASHES} inclusion proof hashes")
    return TlogProof(index, tuple(hashes), checkpoint, extra)
