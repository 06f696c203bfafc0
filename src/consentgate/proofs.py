"""Dataset member commitments and proofs (DESIGN.md "The gate": ``members_root``).

Each dataset's manifest commits to the sorted Merkle tree of per-member keys
``member_key(member_secret(workspace_key, m), m, dataset_id)`` of every member whose data
it holds (as author or participant). A member's proof — presence, or absence via the two
adjacent leaves — reveals nothing about other members, and the platform cannot produce a
false one (``consentgate.membership``). A member checks it offline with
``consentgate verify-proof FILE --root <members_root> --secret <their secret> --member <id>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from consentgate.errors import NotFound
from consentgate.membership import MembershipProof, MemberTree, member_key, member_secret
from consentgate.store import audit as store_audit
from consentgate.store import ledger, registry


def member_keys(workspace_key: bytes, member_ids: Iterable[str], dataset_id: str) -> list[bytes]:
    return [member_key(member_secret(workspace_key, m), m, dataset_id) for m in member_ids]


def member_commitment(
    workspace_key: bytes, member_ids: Iterable[str], dataset_id: str
) -> dict[str, Any]:
    """The manifest keys committing a dataset to its members: ``members_root`` (hex) and
    ``members_count``. ``dataset_id`` does not depend on them; they are written into the
    manifest before the dataset is published, never after."""
    tree = MemberTree(member_keys(workspace_key, member_ids, dataset_id))
    return {"members_root": tree.root.hex(), "members_count": tree.size}


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
