"""What a dataset does with its owner columns (author, recipients) before it is written.

A first-party dataset keeps member ids (``kept``). A dataset for a third party carries
no member id (DESIGN.md "The gate"): its owner columns are either replaced by
per-recipient keyed pseudonyms (``pseudonymized``) or removed (``dropped``), as the
build's redaction profile says (``owner_columns``).

Pseudonyms: with the workspace secret W (the ledger's 32-byte key) and the recipient id
r, the recipient key is ``K_r = HMAC-SHA256(W, "consentgate.owner-pseudonym.v1" || 0x00 ||
UTF-8(r))`` and member m's pseudonym is the first 32 lowercase hex digits (128 bits) of
``HMAC-SHA256(K_r, UTF-8(m))``. The same member has the same pseudonym in every dataset
for r (so a recipient can honour a deletion notice) and unrelated pseudonyms for two
recipients (so recipients cannot join their datasets); nobody without W can compute or
invert one. The ledger recomputes them to find a member's records in a dataset
(remediation, deletion notices).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from consentgate.gate.columns import Columns

__all__ = [
    "DROPPED",
    "KEPT",
    "PSEUDONYMIZED",
    "OwnerColumns",
    "pseudonym",
    "recipient_key",
]

KEPT: Final = "kept"
PSEUDONYMIZED: Final = "pseudonymized"
DROPPED: Final = "dropped"
_DOMAIN: Final = b"consentgate.owner-pseudonym.v1\x00"
PSEUDONYM_HEX: Final = 32


def recipient_key(workspace_key: bytes, recipient: str) -> bytes:
    """``K_r``: the key of one recipient's pseudonyms."""
    return hmac.new(workspace_key, _DOMAIN + recipient.encode("utf-8"), "sha256").digest()


def pseudonym(key: bytes, member_id: str) -> str:
    """Member ``member_id``'s pseudonym under the recipient key ``key``."""
    return hmac.new(key, member_id.encode("utf-8"), "sha256").hexdigest()[:PSEUDONYM_HEX]


@dataclass(frozen=True, slots=True)
class OwnerColumns:
    """The treatment of a dataset's owner columns; ``key`` is ``K_r`` when pseudonymized."""

    treatment: str = KEPT
    key: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.treatment not in (KEPT, PSEUDONYMIZED, DROPPED):
            raise ValueError(f"unknown owner column treatment {self.treatment!r}")
        if (self.treatment == PSEUDONYMIZED) != (self.key is not None):
            raise ValueError("a key is needed exactly when owner columns are pseudonymized")

    @classmethod
    def for_recipient(cls, workspace_key: bytes, recipient: str, *, drop: bool) -> OwnerColumns:
        if drop:
            return cls(DROPPED)
        return cls(PSEUDONYMIZED, recipient_key(workspace_key, recipient))

    def describe(self, columns: Columns) -> dict[str, Any]:
        """The manifest's ``owner_columns``."""
        names = [columns.author_id, columns.recipient_ids]
        out: dict[str, Any] = {"treatment": self.treatment, "columns": names}
        if self.treatment == PSEUDONYMIZED:
            out["method"] = (
                "hmac-sha256 under a per-recipient key derived from the workspace secret, "
                f"first {PSEUDONYM_HEX} hex digits (docs/gate.md)"
            )
        return out

    def schema(self, schema: pa.Schema, columns: Columns) -> pa.Schema:
        """The written schema: owner columns as strings, or without them."""
        if self.treatment == KEPT:
            return schema
        names = (columns.author_id, columns.recipient_ids)
        if self.treatment == DROPPED:
            return pa.schema([f for f in schema if f.name not in names], metadata=schema.metadata)
        fields = []
        for f in schema:
            if f.name == columns.author_id:
                f = pa.field(f.name, pa.string(), f.nullable)
            elif f.name == columns.recipient_ids and not pa.types.is_null(f.type):
                item = f.type.value_field.with_type(pa.string())  # keeps the child's name
                f = pa.field(f.name, pa.list_(item), f.nullable)
            fields.append(f)
        return pa.schema(fields, metadata=schema.metadata)

    def pseudonyms(self, member_ids: Iterable[str]) -> list[str]:
        assert self.key is not None
        key = self.key
        return [pseudonym(key, m) for m in member_ids]


class Pseudonymizer:
    """Rewrites the owner columns of included rows, computing each member's pseudonym once.

    ``member_ids`` are the gate index's members; rows come with their owners' member
    numbers (every owner of an included row is a known member).
    """

    def __init__(self, owners: OwnerColumns, columns: Columns, member_ids: pa.Array) -> None:
        self.owners = owners
        self.columns = columns
        self.member_ids = member_ids
        self.names: npt.NDArray[np.object_] = np.empty(len(member_ids), object)
        self.done = np.zeros(len(member_ids), bool)

    def _names(self, members: npt.NDArray[np.int64]) -> pa.Array:
        todo = np.unique(members[~self.done[members]])
        if len(todo):
            ids = self.member_ids.take(pa.array(todo)).to_pylist()
            self.names[todo] = self.owners.pseudonyms(ids)
            self.done[todo] = True
        return pa.array(self.names[members], pa.string())

    def apply(
        self,
        batch: pa.RecordBatch,
        schema: pa.Schema,
        author: npt.NDArray[np.int64],
        recipient: npt.NDArray[np.int64],
    ) -> pa.RecordBatch:
        """``batch`` as written: owner columns pseudonymized or dropped (``schema``)."""
        if self.owners.treatment == KEPT:
            return batch
        if self.owners.treatment == DROPPED:
            return batch.select(schema.names)
        arrays = []
        for name in schema.names:
            values = batch.column(name)
            if name == self.columns.author_id:
                values = self._names(author)
            elif name == self.columns.recipient_ids and not pa.types.is_null(values.type):
                lengths = np.asarray(
                    pc.list_value_length(values).fill_null(0).to_numpy(zero_copy_only=False),
                    np.int32,
                )
                offsets = np.zeros(len(lengths) + 1, np.int32)
                np.cumsum(lengths, out=offsets[1:])
                values = pa.ListArray.from_arrays(
                    pa.array(offsets),
                    self._names(recipient),
                    type=schema.field(name).type,
                    mask=values.is_null() if values.null_count else None,
                )
            arrays.append(values)
        return pa.RecordBatch.from_arrays(arrays, schema=schema)
