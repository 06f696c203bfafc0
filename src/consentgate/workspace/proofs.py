"""Dataset member commitments and proofs (DESIGN.md "The gate": ``members_root``).

Each dataset's manifest commits to the sorted Merkle tree of per-member keys
``member_key(member_secret(workspace_key, m), m, dataset_id)`` of every member whose data
it holds (as author or participant). A member's proof — presence, or absence via the two
adjacent leaves — reveals nothing about other members, and the platform cannot produce a
false one (``consentgate.tlog.membership``). A member checks it offline with
``consentgate verify-proof FILE --root <members_root> --secret <their secret> --member <id>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from consentgate.errors import AuditChainBroken, NotFound
from consentgate.store import audit as store_audit
from consentgate.store import ledger, registry
from consentgate.store import transparency as store_tlog
from consentgate.timestamps import Clock, utcnow
from consentgate.tlog import membership
from consentgate.tlog.membership import (
    MembershipProof,
    MemberTree,
    member_key,
    member_secret,
    members_root,
)
from consentgate.tlog.policy import TlogPolicy
from consentgate.tlog.receipts import LoggedCheckpoint, log_origin
from consentgate.tlog.statements import build_membership_proof
from consentgate.workspace.log import (
    check_entry,
    covering_checkpoint,
    ledger_signer,
    require_quorum,
)
from consentgate.workspace.witnessing import cosigners, witnessed


def member_keys(workspace_key: bytes, member_ids: Iterable[str], dataset_id: str) -> list[bytes]:
    return membership.member_keys(workspace_key, member_ids, dataset_id)


def member_commitment(
    workspace_key: bytes, member_ids: Iterable[str], dataset_id: str
) -> dict[str, Any]:
    """The manifest keys committing a dataset to its members: ``members_root`` (hex) and
    ``members_count``. ``dataset_id`` does not depend on them; they are written into the
    manifest before the dataset is published, never after."""
    distinct = sorted(set(member_keys(workspace_key, member_ids, dataset_id)))
    return {"members_root": members_root(distinct).hex(), "members_count": len(distinct)}


@dataclass(frozen=True, slots=True)
class IssuedProof:
    proof: MembershipProof
    present: bool
    members_root: str
    member_secret_hex: str


def prove_member(engine: sa.Engine, member_id: str, dataset_id: str) -> IssuedProof:
    """A membership or non-membership proof for ``member_id`` in a registered dataset."""
    with engine.connect() as conn:
        if ledger.get_member(conn, member_id) is None:
            raise NotFound("member", member_id)
        if registry.get_dataset(conn, dataset_id) is None:
            raise NotFound("dataset", dataset_id)
        ids = registry.dataset_member_ids(conn, dataset_id)
        key = store_audit.workspace_secret(conn)
    tree = MemberTree(member_keys(key, ids, dataset_id))
    secret = member_secret(key, member_id)
    mine = member_key(secret, member_id, dataset_id)
    return IssuedProof(
        proof=tree.prove(mine, dataset_id=dataset_id),
        present=mine in tree,
        members_root=tree.root.hex(),
        member_secret_hex=secret.hex(),
    )


@dataclass(frozen=True, slots=True)
class IssuedTlogProof:
    """A dataset (non-)membership proof as a c2sp.org/tlog-proof file (its membership
    data in the statement), and what it proves."""

    text: str
    present: bool
    members_root: str
    member_secret_hex: str
    leaf_index: int
    checkpoint: LoggedCheckpoint
    witnesses: tuple[str, ...] = ()


def prove_member_tlog(
    engine: sa.Engine,
    key_file: Path,
    member_id: str,
    dataset_id: str,
    *,
    policy: TlogPolicy | None = None,
    timeout: float = 10.0,
    now: Clock = utcnow,
) -> IssuedTlogProof:
    """``consentgate proof``: a proof that ``member_id``'s data is, or is not, in a
    registered dataset, as a tlog-proof file: the dataset's registry entry proven in the
    log (against a checkpoint cosigned by the ``policy``'s quorum when one is given), and
    the log key's statement of its ``members_root`` with the membership proof."""
    with engine.begin() as conn:
        store_audit.lock(conn)
        if ledger.get_member(conn, member_id) is None:
            raise NotFound("member", member_id)
        row = registry.get_dataset(conn, dataset_id)
        if row is None:
            raise NotFound("dataset", dataset_id)
        origin = log_origin(store_tlog.ensure_workspace_id(conn))
        signer, chain = ledger_signer(conn, key_file, origin)
        entry = store_tlog.latest_entry(conn, "datasets", dataset_id)
        stored = store_tlog.dataset_row(conn, dataset_id)
        check_entry(conn, "datasets", stored, entry, "the dataset's registry row")
        assert entry is not None
        key = store_audit.workspace_secret(conn)
        tree = MemberTree(
            member_keys(key, registry.dataset_member_ids(conn, dataset_id), dataset_id)
        )
        secret = member_secret(key, member_id)
        mine = member_key(secret, member_id, dataset_id)
        cp, result = covering_checkpoint(
            conn,
            signer,
            chain,
            origin=origin,
            index=entry.idx,
            at=now(),
            policy=policy,
            timeout=timeout,
        )
        text = None
        if policy is None or witnessed(policy, cp.note):
            text = build_membership_proof(
                signer,
                origin=origin,
                dataset={
                    "dataset_id": dataset_id,
                    "manifest_sha256": row["manifest_sha256"],
                    "members_root": tree.root.hex(),
                    "members_count": tree.size,
                },
                entry=entry,
                inclusion_proof=store_tlog.inclusion_proof(conn, entry.idx, cp.size),
                checkpoint=cp.note,
                member_proof=tree.prove(mine, dataset_id=dataset_id),
                log_keys=chain,
            )
    require_quorum(policy, cp, result)
    if text is None:  # pragma: no cover - require_quorum raised
        raise AuditChainBroken("the checkpoint is not witnessed")
    return IssuedTlogProof(
        text,
        mine in tree,
        tree.root.hex(),
        secret.hex(),
        entry.idx,
        cp,
        cosigners(policy, cp.note) if policy else (),
    )
