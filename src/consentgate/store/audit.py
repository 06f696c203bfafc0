"""Audit log storage: append entries in the caller's transaction; verify the whole trail.

The entries are also the leaves of the transparency log (``consentgate.tlog.receipts``):
``verify`` rebuilds the Merkle tree in the same pass as the hash chain.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from consentgate.errors import AuditChainBroken
from consentgate.store import bulk
from consentgate.store import tables as t
from consentgate.tlog import audit
from consentgate.tlog.merkle import MerkleTree, leaf_hash

if TYPE_CHECKING:  # the receipts module (and the signing library) only where a log is checked
    from consentgate.tlog.receipts import LogCheck

SECRET_KEY = "workspace_secret"


def ensure_secret(conn: sa.Connection) -> None:
    if conn.execute(sa.select(t.meta.c.value).where(t.meta.c.key == SECRET_KEY)).first() is None:
        conn.execute(t.meta.insert().values(key=SECRET_KEY, value=secrets.token_hex(32)))


def workspace_secret(conn: sa.Connection) -> bytes:
    value = conn.execute(sa.select(t.meta.c.value).where(t.meta.c.key == SECRET_KEY)).scalar_one()
    return bytes.fromhex(value)


@dataclass(frozen=True, slots=True)
class Audited:
    """How one audited table is keyed and digested (write and verify use the same code)."""

    table: sa.Table
    key: Callable[[bytes, Mapping[str, Any]], str]

    def row(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {c.name: values.get(c.name) for c in self.table.columns}


AUDITED: dict[str, Audited] = {
    "taxonomy_keys": Audited(t.taxonomy_keys, lambda _s, r: f"{r['kind']}:{r['key']}"),
    "policy_versions": Audited(t.policy_versions, lambda _s, r: str(r["version"])),
    "members": Audited(t.members, lambda s, r: audit.member_ref(s, str(r["member_id"]))),
    "member_jurisdictions": Audited(
        t.member_jurisdictions,
        lambda s, r: f"{audit.member_ref(s, str(r['member_id']))}:{r['seq']}",
    ),
    "consent_events": Audited(t.consent_events, lambda _s, r: str(r["event_id"])),
    "snapshots": Audited(t.snapshots, lambda _s, r: str(r["sha256"])),
    "datasets": Audited(t.datasets, lambda _s, r: str(r["dataset_id"])),
    # remediation (issue 5)
    "models": Audited(t.models, lambda _s, r: str(r["model_id"])),
    "model_datasets": Audited(t.model_datasets, lambda _s, r: f"{r['model_id']}:{r['dataset_id']}"),
    "disclosures": Audited(t.disclosures, lambda _s, r: str(r["disclosure_id"])),
    "disclosure_evidence": Audited(t.disclosure_evidence, lambda _s, r: str(r["disclosure_id"])),
    "remediation_orders": Audited(t.remediation_orders, lambda _s, r: str(r["order_id"])),
    "remediation_order_members": Audited(
        t.remediation_order_members,
        lambda s, r: f"{r['order_id']}:{audit.member_ref(s, str(r['member_id']))}",
    ),
    "notices": Audited(t.notices, lambda _s, r: str(r["notice_id"])),
    # the log key's rotations (issue 14)
    "log_key_rotations": Audited(t.log_key_rotations, lambda _s, r: str(r["seq"])),
    # the service's API keys (issue 11): the key names the key id and its role; the digest
    # covers the keyed hash of the secret too (a swapped hash is an edit), never the secret
    "api_keys": Audited(t.api_keys, lambda _s, r: f"{r['key_id']}:{r['role']}"),
}


# The audited tables whose rows belong to one member: their keys and digests are made under
# that member's key (the column names the member).
MEMBER_ROWS: dict[str, str] = {
    "members": "member_id",
    "member_jurisdictions": "member_id",
    "consent_events": "member_id",
    "remediation_order_members": "member_id",
}
_CHUNK = 50_000


def row_member(entity: str, row: Mapping[str, Any]) -> str | None:
    """The member whose key an audited row is keyed with, or None (the workspace secret).

    An erase event is keyed with the workspace secret: it outlives the member's key (it is
    what keeps the member out of every build), so its receipt can still be issued after
    the erasure.
    """
    owner = MEMBER_ROWS.get(entity)
    if owner is None or (entity == "consent_events" and row.get("type") == "erase"):
        return None
    return str(row[owner])


class Keyring:
    """The keys audit entries are made under, for one transaction: the workspace secret,
    and each member's own key (``member_keys``), loaded on demand and cached.

    A member without a key — imported before revision 0007, or erased (erasure deletes the
    key) — uses the workspace secret.
    """

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.workspace = workspace_secret(conn)
        self._members: dict[str, bytes] = {}

    def load(self, member_ids: Iterable[str]) -> None:
        """Fetch the keys of ``member_ids`` not cached yet (one query per 50,000)."""
        wanted = sorted({m for m in member_ids if m not in self._members})
        c = t.member_keys.c
        cache, fromhex = self._members, bytes.fromhex
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            query = sa.select(c.member_id, c.secret).where(
                bulk.one_of(self.conn, c.member_id, chunk)
            )
            for m, secret in self.conn.execute(query):
                cache[m] = fromhex(secret)
            for m in chunk:
                if m not in cache:
                    cache[m] = self.workspace

    def add(self, member_id: str, secret: bytes) -> None:
        """Cache a key just created (``create_member_keys``)."""
        self._members[member_id] = secret

    def forget(self, member_id: str) -> None:
        """Drop a cached key (after erasure deleted it)."""
        self._members.pop(member_id, None)

    def member(self, member_id: str) -> bytes:
        if member_id not in self._members:
            self.load([member_id])
        return self._members[member_id]

    def states(self, member_ids: Iterable[str]) -> dict[str, audit.HmacStates]:
        """``audit.hmac_states`` of each member's key, by member (bulk digests: the pads
        are hashed once per member, not per row)."""
        wanted = set(member_ids)
        self.load(wanted)
        shared = audit.hmac_states(self.workspace)
        keys, workspace, states = self._members, self.workspace, audit.hmac_states
        return {m: shared if keys[m] is workspace else states(keys[m]) for m in wanted}

    def secret_for(self, entity: str, row: Mapping[str, Any]) -> bytes:
        member = row_member(entity, row)
        return self.workspace if member is None else self.member(member)


def create_member_keys(
    conn: sa.Connection, member_ids: Sequence[str], *, at: datetime, keys: Keyring
) -> None:
    """Give each new member a random 256-bit key of their own (``keys`` learns them)."""
    blob = secrets.token_bytes(32 * len(member_ids))  # one system call for every key
    stamp = bulk.micros(at)
    rows = []
    for i, m in enumerate(member_ids):
        secret = blob[32 * i : 32 * i + 32]
        rows.append((m, secret.hex(), stamp))
        keys.add(m, secret)
    bulk.insert_values(conn, t.member_keys, ("member_id", "secret", "created_at"), rows)


def audit_item(
    keys: bytes | Keyring, action: str, entity: str, values: Mapping[str, Any]
) -> tuple[str, str, str, str | None]:
    """The (action, entity, key, digest) of an entry recording ``values`` (a row of
    ``entity``). A member's own rows need the ``Keyring``; other rows take the workspace
    secret or the keyring."""
    spec = AUDITED[entity]
    row = spec.row(values)
    if isinstance(keys, Keyring):
        secret = keys.secret_for(entity, row)
    elif entity in MEMBER_ROWS:
        raise TypeError(f"rows of {entity} are keyed per member: pass a Keyring")
    else:
        secret = keys
    return (action, entity, spec.key(secret, row), audit.row_digest(secret, entity, row))


def keyed_item(
    secret: bytes, action: str, entity: str, values: Mapping[str, Any]
) -> tuple[str, str, str, str | None]:
    """``audit_item`` with the key given (erasure: the member key it is destroying)."""
    spec = AUDITED[entity]
    row = spec.row(values)
    return (action, entity, spec.key(secret, row), audit.row_digest(secret, entity, row))


def head(conn: sa.Connection) -> tuple[int, str]:
    """(next index, hash of the last entry)."""
    last = conn.execute(
        sa.select(t.audit_log.c.idx, t.audit_log.c.entry_hash)
        .order_by(t.audit_log.c.idx.desc())
        .limit(1)
    ).first()
    return (0, audit.GENESIS) if last is None else (int(last.idx) + 1, str(last.entry_hash))


def lock(conn: sa.Connection) -> None:
    """Serialise writers of the log (PostgreSQL; SQLite serialises writes itself)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("LOCK TABLE audit_log IN EXCLUSIVE MODE"))


_LOG_COLUMNS = (
    "idx",
    "action",
    "entity",
    "entity_key",
    "digest",
    "recorded_at",
    "prev_hash",
    "entry_hash",
)


def append(
    conn: sa.Connection,
    items: Sequence[tuple[str, str, str, str | None]],
    *,
    at: datetime,
) -> int:
    """Append entries for (action, entity, key, digest) items; returns the first index."""
    lock(conn)
    start, prev = head(conn)
    stamp = bulk.micros(at)
    rows = (  # streamed: on PostgreSQL the COPY runs while the chain is hashed
        (idx, action, entity, key, digest, stamp, prev_hash, entry_hash)
        for idx, action, entity, key, digest, prev_hash, entry_hash in audit.link(
            start, prev, items, at=at
        )
    )
    bulk.insert_values(conn, t.audit_log, _LOG_COLUMNS, rows)
    return start


def iter_entries(
    conn: sa.Connection, *, start: int = 0, stop: int | None = None, batch: int = 50_000
) -> Iterator[tuple[audit.AuditEntry, str]]:
    """Entries with their stored hashes, in index order (``start`` <= idx < ``stop``),
    streamed as tuples, not row objects: this loop is most of a full verification."""
    c = t.audit_log.c
    columns = (c.idx, c.action, c.entity, c.entity_key, c.digest, c.recorded_at, c.prev_hash)
    query = sa.select(*columns, c.entry_hash).order_by(c.idx)
    if start:
        query = query.where(c.idx >= start)
    if stop is not None:
        query = query.where(c.idx < stop)
    entry = audit.AuditEntry
    for idx, action, entity, key, digest, at, prev, stored in conn.execute(
        query.execution_options(yield_per=batch)
    ):
        yield entry(int(idx), action, entity, key, digest, at, prev), stored


Latest = dict[tuple[str, str], tuple[int, str | None]]


def _checked(
    conn: sa.Connection, start: int, stop: int | None, prev: str, latest: Latest | None
) -> Iterator[tuple[bytes, str]]:
    """(entry bytes, stored hash) of entries ``start`` .. ``stop - 1`` (or to the end),
    checking on the way that each is intact and links to ``prev`` / the one before it.

    The checks and messages are those of ``audit.verify_chain``, done here so that each
    entry is encoded once for both hashes (a third of a full verification's time). The
    rows are read as plain tuples with the timestamp as its stored integer (formatted once
    per distinct value: the entries of one command share it), not as ``AuditEntry``
    objects: this loop is the whole cost of signing a checkpoint.
    """
    c = t.audit_log.c
    at_us = sa.type_coerce(c.recorded_at, sa.BigInteger)
    query = sa.select(
        c.idx, c.action, c.entity, c.entity_key, c.digest, at_us, c.prev_hash, c.entry_hash
    ).order_by(c.idx)
    if start:
        query = query.where(c.idx >= start)
    if stop is not None:
        query = query.where(c.idx < stop)
    formatted: dict[int, str] = {}
    encode, sha256 = audit.entry_json, hashlib.sha256
    expected = start
    for idx, action, entity, key, digest, micros, prev_hash, stored in conn.execute(
        query.execution_options(yield_per=50_000)
    ):
        if idx != expected:
            raise AuditChainBroken(
                f"audit entry {expected} is missing or out of order (found {idx})", expected
            )
        if prev_hash != prev:
            raise AuditChainBroken(f"audit entry {idx} does not link to entry {idx - 1}", idx)
        when = formatted.get(micros)
        if when is None:
            when = formatted[micros] = audit.format_entry_time(
                t.EPOCH + timedelta(microseconds=micros)
            )
        data = encode(action, when, digest, entity, idx, key, prev_hash).encode()
        if sha256(data).hexdigest() != stored:
            raise AuditChainBroken(f"audit entry {idx} was altered", idx)
        if latest is not None:
            latest[(entity, key)] = (idx, digest)
        yield data, stored
        prev, expected = stored, expected + 1
    if stop is not None and expected != stop:
        raise AuditChainBroken(f"audit entry {expected} is missing", expected)


def range_leaves(conn: sa.Connection, start: int, stop: int) -> list[bytes]:
    """Merkle leaf hashes of entries ``start`` .. ``stop - 1``, checking that each is
    intact and links to the one before it (the first to the stored hash of ``start - 1``)."""
    return [leaf_hash(data) for data in range_entries(conn, start, stop)]


def range_entries(conn: sa.Connection, start: int, stop: int) -> list[bytes]:
    """The bytes of entries ``start`` .. ``stop - 1`` (the leaves' data), chain-checked as
    ``range_leaves`` does."""
    if start >= stop:
        return []
    prev = audit.GENESIS
    if start > 0:
        found = conn.execute(
            sa.select(t.audit_log.c.entry_hash).where(t.audit_log.c.idx == start - 1)
        ).scalar_one_or_none()
        if found is None:
            raise AuditChainBroken(f"audit entry {start - 1} is missing", start - 1)
        prev = str(found)
    return [data for data, _ in _checked(conn, start, stop, prev, None)]


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What ``verify`` checked: entries and rows, the chain head, the Merkle root over every
    entry (hex) and, when asked for, the check against the signed checkpoints."""

    entries: int
    head: str
    rows: int
    root: str = ""
    log: LogCheck | None = None


_TREE_BATCH = 65_536


def _walk(conn: sa.Connection, latest: Latest | None = None) -> tuple[int, str, MerkleTree]:
    """Stream the log once: check the hash chain, build the Merkle tree of the entries
    (leaf = ``H(0x00 || entry_bytes)``), and note the latest entry per key if asked.
    Returns (entries, head hash, tree)."""
    tree = MerkleTree()
    pending: list[bytes] = []
    head = audit.GENESIS
    for data, stored in _checked(conn, 0, None, audit.GENESIS, latest):
        pending.append(leaf_hash(data))
        head = stored
        if len(pending) >= _TREE_BATCH:
            tree.extend(pending)
            pending.clear()
    tree.extend(pending)
    return len(tree), head, tree


def log_tree(conn: sa.Connection) -> MerkleTree:
    """The Merkle tree over every entry, after checking the hash chain (``AuditChainBroken``
    names the first broken entry): every root and proof of the log, at the cost of
    reading all of it (``store.transparency`` reads only what it needs)."""
    return _walk(conn)[2]


def verify(
    conn: sa.Connection, *, check_tree: Callable[[MerkleTree], LogCheck] | None = None
) -> VerifyReport:
    """Verify the chain, the Merkle tree (``check_tree``, e.g. against the signed
    checkpoints), then every audited row against its latest entry."""
    latest: Latest = {}
    count, head_hash, tree = _walk(conn, latest)
    log = check_tree(tree) if check_tree is not None else None
    secret = workspace_secret(conn)
    n_rows = 0
    k = t.member_keys.c

    def rows() -> Iterator[tuple[str, str, str]]:
        nonlocal n_rows
        for entity, spec in AUDITED.items():
            owner = MEMBER_ROWS.get(entity)
            query = sa.select(spec.table)
            if owner is not None:  # each row with its member's key (none: the workspace's)
                query = sa.select(spec.table, k.secret.label("_member_key")).outerjoin(
                    t.member_keys, k.member_id == spec.table.c[owner]
                )
            for r in conn.execute(query.execution_options(yield_per=50_000)):
                mapping = dict(r._mapping)
                values = spec.row(mapping)
                key = secret
                if mapping.get("_member_key") is not None and row_member(entity, values):
                    key = bytes.fromhex(mapping["_member_key"])
                n_rows += 1
                yield entity, spec.key(key, values), audit.row_digest(key, entity, values)

    audit.verify_rows(latest, rows())
    return VerifyReport(entries=count, head=head_hash, rows=n_rows, root=tree.root().hex(), log=log)
