"""The audit trail: hash-chained entries that commit to every audited row. Pure.

Each state change appends one entry per row it writes, in the same transaction:

    {"idx": 7, "action": "consent.recorded", "entity": "consent_events", "key": "<event id>",
     "digest": "<HMAC-SHA256 of the row>", "at": "2024-09-18T00:00:00Z", "prev": "<hash of 6>"}

* ``entry_bytes`` is the canonical JSON (sorted keys, no spaces, UTF-8) of those fields; the
  entry's hash is SHA-256 of those bytes and the next entry's ``prev``. The same bytes are
  the leaf of the Merkle log (RFC 9162 leaf hash ``H(0x00 || entry_bytes)``).
* ``key`` names the row without revealing personal data: an event id, a policy version, or a
  pseudonymous member reference ``member_ref`` (HMAC of the member id under the member's key).
* ``digest`` commits to the row's content with an HMAC, so a leaf reveals nothing guessable
  (an email's hash could be brute-forced; its HMAC cannot). A member's own rows (the member,
  their consent events, their place in remediation orders) are keyed with the member's key,
  every other row with the workspace key; erasure destroys the member's key, after which
  their earlier entries can neither be linked to them nor checked against a guess.
* A row's current content must equal the digest of the *latest* entry for its key; an entry
  whose latest action deletes the row has ``digest`` null.

``verify_chain`` finds the first broken entry; ``verify_rows`` compares rows with entries.
Editing, deleting, inserting or reordering any audit entry or any audited row is detected.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from consentgate.errors import AuditChainBroken
from consentgate.timestamps import format_timestamp

GENESIS = "0" * 64

# Dotted action names (one constant per state change).
POLICY_PUBLISHED = "policy.published"
TAXONOMY_EXTENDED = "taxonomy.extended"
MEMBER_IMPORTED = "member.imported"
MEMBER_JURISDICTION_RECORDED = "member.jurisdiction_recorded"  # a member's first jurisdiction
MEMBER_MOVED = "member.moved"  # a later jurisdiction change
CONSENT_RECORDED = "consent.recorded"
SNAPSHOT_CREATED = "snapshot.created"
API_KEY_CREATED = "api_key.created"  # the service's API keys (issue 11): key id and role
API_KEY_REVOKED = "api_key.revoked"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    idx: int
    action: str
    entity: str
    key: str
    digest: str | None
    recorded_at: datetime
    prev_hash: str

    def entry_bytes(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces, UTF-8) of the entry's fields.

        Built by hand for speed; ``test_entry_bytes_are_canonical_json`` pins it to
        ``canonical_json`` of the same fields.
        """
        return _entry_json(
            self.action,
            _fmt(self.recorded_at),
            self.digest,
            self.entity,
            self.idx,
            self.key,
            self.prev_hash,
        ).encode()

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "at": format_timestamp(self.recorded_at),
            "digest": self.digest,
            "entity": self.entity,
            "idx": self.idx,
            "key": self.key,
            "prev": self.prev_hash,
        }

    @property
    def entry_hash(self) -> str:
        return hashlib.sha256(self.entry_bytes()).hexdigest()


_js = json.encoder.encode_basestring  # == json.dumps(s, ensure_ascii=False) for str, faster


def _entry_json(
    action: str, at: str, digest: str | None, entity: str, idx: int, key: str, prev: str
) -> str:
    """The one definition of an entry's canonical JSON (``at`` already formatted)."""
    dig = "null" if digest is None else _js(digest)
    return (
        f'{{"action":{_js(action)},"at":"{at}","digest":{dig},"entity":{_js(entity)},'
        f'"idx":{idx},"key":{_js(key)},"prev":{_js(prev)}}}'
    )


def format_entry_time(value: datetime) -> str:
    """``recorded_at`` as it appears in an entry's canonical JSON."""
    return _fmt(value)


@functools.lru_cache(maxsize=4096)
def _fmt(value: datetime) -> str:
    if type(value) is datetime and value.tzinfo is UTC:
        # format_timestamp's result, without its conversions: isoformat() of a UTC datetime
        # shows microseconds exactly when there are some and ends with "+00:00".
        return value.isoformat()[:-6] + "Z"
    return format_timestamp(value)


# An entry's canonical JSON from its fields (``at`` from ``format_entry_time``), for readers
# that do not build ``AuditEntry`` objects (``store.audit`` checking entries to sign a head).
entry_json = _entry_json


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
    ).encode("utf-8")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def row_digest(secret: bytes, entity: str, row: Mapping[str, Any]) -> str:
    """HMAC-SHA256 over an audited row's values (commit, don't reveal).

    The message is the entity name then each column as ``name=value`` joined by 0x1F, in the
    row's column order: datetimes as RFC 3339, None as an empty marker, objects as canonical
    JSON. Cheap enough for bulk imports; the same function serves writes and verification.
    """
    parts = [entity]
    for name, value in row.items():
        if value is None:
            parts.append(f"{name}\x00")
        elif isinstance(value, datetime):
            parts.append(f"{name}={_fmt(value)}")
        elif isinstance(value, dict | list):
            parts.append(f"{name}=" + canonical_json(value).decode("utf-8"))
        else:
            parts.append(f"{name}={value}")
    return hmac.new(secret, "\x1f".join(parts).encode("utf-8"), hashlib.sha256).hexdigest()


_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))
HmacStates = tuple["hashlib._Hash", "hashlib._Hash"]


def hmac_states(secret: bytes) -> HmacStates:
    """The two keyed SHA-256 states of HMAC-SHA256 under ``secret`` (RFC 2104:
    ``H(K^opad || H(K^ipad || m))``), for ``row_digests``: computed once per key, each
    message then resumes copies of them instead of re-keying as ``hmac.new`` does."""
    block = 64  # SHA-256 block size
    key = hashlib.sha256(secret).digest() if len(secret) > block else secret
    key = key.ljust(block, b"\x00")
    return hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD))


def row_digests(entity: str, columns: Sequence[str]) -> Callable[[HmacStates, Sequence[Any]], str]:
    """``row_digest`` for many rows of one table, each given as its values in ``columns``
    order and the ``hmac_states`` of its key (rows of different members have different
    keys): the same hex digests (audit verification recomputes them with ``row_digest``).

    Faster for bulk writes: the column prefixes are built once, and the HMAC's key pads are
    hashed once per key, not per row.
    """
    named = tuple((f"{c}=", f"{c}\x00") for c in columns)

    def digest(states: HmacStates, values: Sequence[Any]) -> str:
        message = "\x1f".join(
            [
                entity,
                *[
                    null
                    if value is None
                    else prefix + (value if type(value) is str else _digest_text(value))
                    for (prefix, null), value in zip(named, values, strict=True)
                ],
            ]
        )
        h = states[0].copy()
        h.update(message.encode("utf-8"))
        o = states[1].copy()
        o.update(h.digest())
        return o.hexdigest()

    return digest


def row_digester(
    secret: bytes, entity: str, columns: Sequence[str]
) -> Callable[[Sequence[Any]], str]:
    """``row_digests`` for rows that all have the key ``secret``."""
    states = hmac_states(secret)
    digest = row_digests(entity, columns)
    return lambda values: digest(states, values)


def _digest_text(value: Any) -> str:
    """How ``row_digest`` writes a value other than None or a str."""
    if isinstance(value, datetime):
        return _fmt(value)
    if isinstance(value, dict | list):
        return canonical_json(value).decode("utf-8")
    return f"{value}"


def member_ref(secret: bytes, member_id: str) -> str:
    """A pseudonymous, stable reference to a member: HMAC-SHA256(secret, "member:" + id),
    where ``secret`` is the member's own key (``store.audit.Keyring``): once an erasure
    destroys it, nobody can tell which earlier entries were the member's."""
    return hmac.new(secret, b"member:" + member_id.encode("utf-8"), hashlib.sha256).hexdigest()


def chain(
    start_idx: int,
    prev_hash: str,
    items: Iterable[tuple[str, str, str, str | None]],
    *,
    at: datetime,
) -> Iterator[tuple[AuditEntry, str]]:
    """Yield (entry, entry_hash) for (action, entity, key, digest) items after ``prev_hash``."""
    for idx, action, entity, key, digest, prev, entry_hash in link(
        start_idx, prev_hash, items, at=at
    ):
        yield AuditEntry(idx, action, entity, key, digest, at, prev), entry_hash


Linked = tuple[int, str, str, str, str | None, str, str]


def link(
    start_idx: int,
    prev_hash: str,
    items: Iterable[tuple[str, str, str, str | None]],
    *,
    at: datetime,
) -> Iterator[Linked]:
    """The entries ``chain`` yields, as plain (idx, action, entity, key, digest, prev_hash,
    entry_hash) tuples: bulk appends hash a whole import in one tight loop."""
    at_text = _fmt(at)
    sha256 = hashlib.sha256
    idx, prev = start_idx, prev_hash
    for action, entity, key, digest in items:
        entry_hash = sha256(
            _entry_json(action, at_text, digest, entity, idx, key, prev).encode()
        ).hexdigest()
        yield idx, action, entity, key, digest, prev, entry_hash
        prev = entry_hash
        idx += 1


def verify_chain(entries: Iterable[tuple[AuditEntry, str]]) -> tuple[int, str]:
    """Check (entry, stored_hash) pairs in idx order; return (count, head hash).

    Raises AuditChainBroken naming the first entry that is missing, out of order, altered or
    does not link to its predecessor.
    """
    expected_idx, prev = 0, GENESIS
    for entry, stored in entries:
        if entry.idx != expected_idx:
            raise AuditChainBroken(
                f"audit entry {expected_idx} is missing or out of order (found {entry.idx})",
                expected_idx,
            )
        if entry.prev_hash != prev:
            raise AuditChainBroken(
                f"audit entry {entry.idx} does not link to entry {entry.idx - 1}", entry.idx
            )
        if entry.entry_hash != stored:
            raise AuditChainBroken(f"audit entry {entry.idx} was altered", entry.idx)
        prev = stored
        expected_idx += 1
    return expected_idx, prev


def verify_rows(
    latest: Mapping[tuple[str, str], tuple[int, str | None]],
    rows: Iterable[tuple[str, str, str]],
) -> None:
    """Compare audited rows (entity, key, digest) with the latest entry for each key.

    ``latest`` maps (entity, key) to (idx, digest) of the last entry for that key. Raises
    AuditChainBroken for a row with no entry (inserted behind the log's back), a row whose
    digest differs (edited), or an entry whose row is gone (deleted).
    """
    seen: set[tuple[str, str]] = set()
    for entity, key, digest in rows:
        found = latest.get((entity, key))
        if found is None:
            raise AuditChainBroken(
                f"a row of {entity} has no audit entry (inserted outside consentgate)"
            )
        idx, expected = found
        if expected != digest:
            raise AuditChainBroken(
                f"a row of {entity} differs from audit entry {idx} (edited)", idx
            )
        seen.add((entity, key))
    for (entity, key), (idx, expected) in sorted(latest.items(), key=lambda kv: kv[1][0]):
        if expected is not None and (entity, key) not in seen:
            raise AuditChainBroken(
                f"the row of {entity} recorded by audit entry {idx} is missing (deleted)", idx
            )
