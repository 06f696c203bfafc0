"""A dataset's records with their owners as member ids, whatever its owner columns hold.

A first-party dataset keeps member ids in its owner columns. A dataset for a third party
holds per-recipient pseudonyms there, or nothing (``owner_columns`` in its manifest; see
``consentgate.gate.owners``). Remediation and deletion notices must still find each
member's records, so ``DatasetOwners`` turns a batch read from the parts back into one
whose owner columns hold member ids:

* ``kept``: nothing to do;
* ``pseudonymized``: the pseudonyms of the dataset's registered members are recomputed
  with the recipient key and mapped back (a pseudonym of nobody registered reads as an
  unknown member, which fails every check);
* ``dropped``: the owners are read again from the sources the dataset was built from,
  joined on the record id; every source must still match the fingerprint the manifest
  recorded, else the dataset is refused with the file named.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from consentgate.errors import InvalidInput
from consentgate.gate.columns import Columns
from consentgate.gate.owners import DROPPED, KEPT, PSEUDONYMIZED, OwnerColumns, recipient_key
from consentgate.gate.source import fingerprint, open_source

__all__ = ["DatasetOwners"]


class DatasetOwners:
    """Owner columns of a dataset's parts, resolved to member ids (see the module notes)."""

    def __init__(
        self,
        manifest: Mapping[str, Any],
        columns: Columns,
        *,
        workspace_key: bytes,
        member_ids: Sequence[str],
    ) -> None:
        self.columns = columns
        self.manifest = manifest
        described = manifest.get("owner_columns") or {"treatment": KEPT}
        self.treatment = str(described["treatment"])
        self._lookup: tuple[pa.Array, pa.Array] | None = None
        self._source: pa.Table | None = None
        if self.treatment == PSEUDONYMIZED:
            if len(workspace_key) < 16:
                raise InvalidInput(
                    f"dataset {manifest.get('dataset_id')}: its owner columns hold pseudonyms; "
                    "resolving them needs the workspace secret"
                )
            owners = OwnerColumns(
                PSEUDONYMIZED, recipient_key(workspace_key, str(manifest["recipient"]))
            )
            self.owners = owners
            ids = list(member_ids)
            self._lookup = (
                pa.array(owners.pseudonyms(ids), pa.string()),
                pa.array(ids, pa.string()),
            )
        elif self.treatment == DROPPED:
            self.owners = OwnerColumns(DROPPED)
        else:
            self.owners = OwnerColumns()

    @property
    def in_parts(self) -> bool:
        """Whether the parts hold owner columns (pseudonyms or member ids)."""
        return self.treatment != DROPPED

    def member_values(self, member_ids: Sequence[str]) -> pa.Array:
        """What the parts' owner columns hold for these members."""
        if self.treatment == PSEUDONYMIZED:
            return pa.array(self.owners.pseudonyms(member_ids), pa.string())
        return pa.array(list(member_ids), pa.string())

    def resolve(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """``batch`` (read from the parts) with owner columns holding member ids."""
        c = self.columns
        if self.treatment == KEPT:
            return batch
        if self.treatment == PSEUDONYMIZED:
            assert self._lookup is not None
            pseudonyms, ids = self._lookup
            author = _translate(batch.column(c.author_id), pseudonyms, ids)
            lists = batch.column(c.recipient_ids)
            if not pa.types.is_null(lists.type):
                flat = _translate(pc.list_flatten(lists), pseudonyms, ids)
                lists = pa.ListArray.from_arrays(
                    _offsets(lists), flat, mask=lists.is_null() if lists.null_count else None
                )
            return _with(batch, {c.author_id: author, c.recipient_ids: lists})
        source = self._source_owners()
        rows = pc.index_in(batch.column(c.id).cast(pa.large_string()), value_set=source.column(0))
        if rows.null_count:
            raise InvalidInput(
                "the dataset holds records that are not in the sources it was built from"
            )
        taken = source.take(rows)
        return _with(batch, {c.author_id: taken.column(1), c.recipient_ids: taken.column(2)})

    def _source_owners(self) -> pa.Table:
        """(id, author, recipients) of every source record, read once."""
        if self._source is not None:
            return self._source
        problems = []
        paths = []
        for s in self.manifest["sources"]:
            path = Path(str(s["path"]))
            if not path.is_file():
                problems.append(f"{path}: missing")
            elif fingerprint(path).sha256 != s["sha256"]:
                problems.append(f"{path}: differs from the file the dataset was built from")
            paths.append(path)
        if problems:
            raise InvalidInput(
                f"dataset {self.manifest['dataset_id']}: its owner columns were dropped, so "
                "its records' owners are read from its sources, which are not available",
                problems,
            )
        c = self.columns
        pieces = []
        for path in paths:
            opened = open_source(path, column_map=c.as_dict())
            for batch in opened.batches():
                lists = batch.column(c.recipient_ids)
                if pa.types.is_null(lists.type):
                    lists = pa.nulls(batch.num_rows, pa.list_(pa.string()))
                pieces.append(
                    pa.table(
                        {
                            "id": batch.column(c.id).cast(pa.large_string()),
                            "author": batch.column(c.author_id).cast(pa.string()),
                            "recipients": lists.cast(pa.list_(pa.string())),
                        }
                    )
                )
        self._source = pa.concat_tables(pieces).combine_chunks() if pieces else _EMPTY
        return self._source


_EMPTY = pa.table(
    {
        "id": pa.array([], pa.large_string()),
        "author": pa.array([], pa.string()),
        "recipients": pa.array([], pa.list_(pa.string())),
    }
)


def _translate(values: pa.Array, keys: pa.Array, ids: pa.Array) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return ids.take(pc.index_in(values.cast(pa.string()), value_set=keys))


def _offsets(lists: pa.Array) -> pa.Array:
    lengths = np.asarray(
        pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False), np.int32
    )
    offsets = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.array(offsets)


def _with(batch: pa.RecordBatch, columns: Mapping[str, pa.Array]) -> pa.RecordBatch:
    """``batch`` with ``columns`` replaced or added (as strings / lists of strings)."""
    arrays = {name: batch.column(name) for name in batch.schema.names}
    arrays.update(columns)
    return pa.RecordBatch.from_pydict(
        {
            name: a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a
            for name, a in arrays.items()
        }
    )
