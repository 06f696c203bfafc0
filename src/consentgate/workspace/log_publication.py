"""Use case: publish the audit log as a c2sp.org/tlog-tiles directory
(``consentgate log publish DIR``), incrementally, once its head is witnessed.

1. Sign the log's head (``audit checkpoint``) with the ledger's key.
2. With a tlog-policy, have it cosigned by the policy's witnesses; without the quorum,
   nothing is published (the cosignatures gathered are kept with the checkpoint).
3. Check the checkpoint already in the directory (if any): signed by one of the log's
   keys, and the log still extends it — otherwise refuse, naming the first audit entry
   that differs from what was published.
4. Write the tiles and entry bundles from the published size on (entries read from the
   ledger 65,536 at a time; full tiles as they complete, partial tiles of the new size
   at the end), check that the directory's tiles give the checkpoint's root, then
   replace ``checkpoint`` last.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from consentgate.errors import AuditChainBroken
from consentgate.store import audit as store_audit
from consentgate.store import transparency as store_tlog
from consentgate.timestamps import Clock, utcnow
from consentgate.tlog import subtree
from consentgate.tlog.checkpoint import Verifier
from consentgate.tlog.note import verify_checkpoint
from consentgate.tlog.policy import TlogPolicy
from consentgate.tlog.published import PublishedDirectory
from consentgate.tlog.receipts import LoggedCheckpoint, log_origin
from consentgate.tlog.tiles import CHECKPOINT, TileReader, build_tiles, first_difference, tile_path
from consentgate.tlog.witness_client import Witnessing
from consentgate.workspace.log import ledger_signer
from consentgate.workspace.witnessing import cosigners, witness_stored, witnessed

logger = logging.getLogger(__name__)
CHUNK = 65_536
"""Entries read from the ledger per step of a publication (a multiple of 256)."""


@dataclass(frozen=True, slots=True)
class Publication:
    """The outcome of ``publish_log``: the checkpoint, whether it was published (False:
    the witnesses did not reach the quorum), the size published before, how many files
    were written, and what the witnesses answered."""

    checkpoint: LoggedCheckpoint
    published: bool
    previous_size: int
    written: int
    witnessing: Witnessing | None
    witnesses: tuple[str, ...] = ()


def publish_log(
    engine: sa.Engine,
    key_file: Path,
    directory: Path,
    *,
    policy: TlogPolicy | None = None,
    full: bool = False,
    timeout: float = 10.0,
    now: Clock = utcnow,
) -> Publication:
    """Publish the log in ``directory`` (see the module docstring). ``full`` recomputes
    every tile from entry 0 (each existing file must still match)."""
    out = PublishedDirectory(directory)
    with engine.begin() as conn:
        store_audit.lock(conn)
        origin = log_origin(store_tlog.ensure_workspace_id(conn))
        signer, chain = ledger_signer(conn, key_file, origin)
        head = store_tlog.sign_head(conn, signer, origin=origin, at=now(), verifiers=chain)
        cp, result = head.checkpoint, None
        if policy is not None:
            cp, result = witness_stored(conn, cp, policy, timeout=timeout)
            if not witnessed(policy, cp.note):
                return Publication(cp, False, 0, 0, result, cosigners(policy, cp.note))
        previous = _published_size(conn, out, chain, origin, cp)
        written = _write_tiles(conn, out, 0 if full else previous, cp.size)
        if not hmac.compare_digest(TileReader(cp.size, out.fetch).root(), cp.root):
            raise AuditChainBroken(
                f"{directory}: the published tiles do not give the checkpoint's root"
            )
        out.write(CHECKPOINT, cp.note.encode("utf-8"))
    logger.info("published %d entries (%d files written)", cp.size, written + 1)
    witnesses = cosigners(policy, cp.note) if policy is not None else ()
    return Publication(cp, True, previous, written + 1, result, witnesses)


def _published_size(
    conn: sa.Connection,
    out: PublishedDirectory,
    keys: list[Verifier],
    origin: str,
    cp: LoggedCheckpoint,
) -> int:
    """The size of the checkpoint already published, after checking that the log
    extends it (``AuditChainBroken`` naming the first differing entry otherwise)."""
    if not out.exists(CHECKPOINT):
        return 0
    note = out.fetch(CHECKPOINT)
    try:
        published, _ = verify_checkpoint(note, keys, origin=origin)
    except AuditChainBroken as exc:
        raise AuditChainBroken(f"{out.root}/checkpoint is not this log's: {exc}") from exc
    p, n = published.size, cp.size
    m = min(p, n)
    ours = store_tlog.subtree_source(conn, n)
    if p <= n and hmac.compare_digest(subtree.range_hash(ours, 0, p), published.root):
        return p
    reader = TileReader(p, out.fetch)
    if not hmac.compare_digest(reader.root(), published.root):
        raise AuditChainBroken(
            f"{out.root}: the log does not extend the published checkpoint (size {p}), and "
            "the published tiles do not match it either; refusing to publish"
        )
    index = first_difference(ours, reader.subtree, m)
    index = m if index is None else index
    raise AuditChainBroken(
        f"the log does not extend the checkpoint published in {out.root} (size {p}): it "
        f"differs from audit entry {index} on (the log was rolled back or rewritten); "
        "refusing to publish",
        index,
    )


def _write_tiles(conn: sa.Connection, out: PublishedDirectory, old: int, new: int) -> int:
    """Write the tiles and bundles from ``old`` to ``new``; return the files written."""
    written = 0
    partials: dict[str, bytes] = {}

    def read_tile(level: int, index: int, width: int) -> bytes:
        path = tile_path(level, index, width)
        return partials[path] if path in partials else out.fetch(path)

    lo = old
    while lo < new:
        hi = min(lo - lo % CHUNK + CHUNK, new)
        entries = store_audit.range_entries(conn, lo - lo % 256, hi)
        resources = build_tiles(lo, hi, entries, read_tile)
        partials = {p: d for p, d in resources.items() if ".p/" in p}
        for path, data in resources.items():
            if path not in partials:
                written += out.write(path, data)
        lo = hi
    for path, data in partials.items():
        written += out.write(path, data)
    return written
