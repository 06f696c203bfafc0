"""Use case: have a stored checkpoint cosigned by a c2sp.org/tlog-policy's witnesses, and
keep the cosignatures with it in the ledger (``log_checkpoints.note``).

The size each witness last cosigned is taken from the stored checkpoints carrying its
cosignature (the newest 100 are looked at; a witness found in none starts from 0, and a
409 answer corrects it). Consistency proofs come from the ledger's block cache and a few
blocks of entries, computed before the concurrent requests go out.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from consentgate.errors import AuditChainBroken
from consentgate.store import transparency as store_tlog
from consentgate.tlog.policy import TlogPolicy
from consentgate.tlog.receipts import LoggedCheckpoint
from consentgate.tlog.witness_client import Witnessing, witness_checkpoint

RECENT = 100


def cosigners(policy: TlogPolicy, note: str) -> tuple[str, ...]:
    """The policy's witnesses with a valid cosignature on ``note`` (none when a known
    witness's signature is bad)."""
    try:
        return policy.cosigners(note)
    except AuditChainBroken:
        return ()


def witnessed(policy: TlogPolicy, note: str) -> bool:
    """Whether ``note`` already carries the policy's quorum of cosignatures."""
    return policy.satisfied(cosigners(policy, note))


def _old_sizes(conn: sa.Connection, policy: TlogPolicy) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for cp in reversed(store_tlog.checkpoints(conn)[-RECENT:]):
        for name in cosigners(policy, cp.note):
            sizes.setdefault(name, cp.size)
        if len(sizes) == len(policy.witnesses):
            break
    return sizes


def witness_stored(
    conn: sa.Connection, cp: LoggedCheckpoint, policy: TlogPolicy, *, timeout: float = 10.0
) -> tuple[LoggedCheckpoint, Witnessing | None]:
    """Submit the stored checkpoint ``cp`` to the policy's witnesses unless it already
    has the quorum; store the valid cosignatures gathered. Returns the checkpoint as now
    stored and what the witnesses answered (None when nothing was asked)."""
    if witnessed(policy, cp.note):
        return cp, None
    old_sizes = _old_sizes(conn, policy)
    proofs = {
        old: store_tlog.consistency_proof(conn, old, cp.size)
        for old in {*old_sizes.values(), 0}
        if old <= cp.size
    }

    def proof(old: int) -> list[bytes]:
        if old not in proofs:  # a size a witness reported in a 409 answer
            proofs[old] = store_tlog.consistency_proof(conn, old, cp.size)
        return proofs[old]

    result = witness_checkpoint(
        cp.note, cp.size, policy, old_sizes=old_sizes, proof=proof, timeout=timeout
    )
    if result.note != cp.note:
        store_tlog.update_checkpoint_note(conn, cp.number, result.note)
        cp = dataclasses.replace(cp, note=result.note)
    return cp, result
