"""The dataset manifest: what a build put in a dataset, and the dataset id derived from it.

``manifest.json`` (sorted keys, 2-space indent, trailing newline) sits beside the
``data/`` directory of parts and holds: ``dataset_id``, ``use``, ``recipient``,
``as_of``, ``policy_versions`` (in force up to ``as_of``), ``snapshot_sha256``,
``sources`` ([{path, bytes, sha256}]), ``counts`` ({input, included, excluded: {reason:
n}}), ``files`` ([{path, rows, sha256}], paths relative to the dataset directory, e.g.
``data/part-00000.parquet``), ``records_root``; for a build also ``built_at``,
``build_snapshot`` ({sha256, policy_versions}: consent at the build time), ``columns``
(the column map) and ``owner_columns`` ({treatment, columns, ...}: what was done to the
owner columns) and, when the source lacked them, ``columns_absent`` (e.g.
``["recipient_ids"]`` for posts: written as nulls); with shards ``shards`` ({n, by, members: {shard: members}, assignment:
{path, sha256}}); when a redactor ran ``redaction`` ({profile, profile_sha256}, and, when the redactor
describes itself, how names were found: ``names_found_by`` — ``["directory", "cues",
"ner"]``, or without the ``ner`` extra ``["directory", "cues"]`` — and ``ner``),
``redactions`` ({entity: n}) and ``exclusions`` ({label: n}); once committed to its
members ``members_root`` and ``members_count``.

``dataset_id`` is the SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of
``{"parameters": {use, recipient, as_of, policy_versions, sources: [sha256...],
shards: {n, by} | null}, "snapshot_sha256": ..., "files": [{path, sha256}...]}``, where
``parameters`` also holds, when the manifest has them, ``build_snapshot`` ({sha256,
policy_versions}), ``owner_columns`` (the treatment) and ``redaction_profile_sha256``.
It is a content hash of the included records and of every decision input, never of the
wall clock (``built_at`` is not in it): rebuilding identical inputs gives the same id. It
can be recomputed from the manifest alone (``dataset_id_of``) and does not depend on
where the source files were.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from consentgate.errors import InvalidInput
from consentgate.tlog.merkle import CompactRange, leaf_hash, root_from_leaf_hashes

if TYPE_CHECKING:  # pyarrow only where ids are hashed: reading a manifest does not need it
    import pyarrow as pa

__all__ = [
    "MANIFEST_NAME",
    "SHARDS_NAME",
    "canonical_json",
    "dataset_id_of",
    "part_paths",
    "read_manifest",
    "records_root",
    "root_of_sorted_ids",
    "write_manifest",
]

MANIFEST_NAME = "manifest.json"
SHARDS_NAME = "shards.parquet"


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the bytes that get hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def dataset_id_of(manifest: Mapping[str, Any]) -> str:
    """Recompute a manifest's ``dataset_id`` from its other fields."""
    shards = manifest.get("shards")
    parameters: dict[str, Any] = {
        "use": manifest["use"],
        "recipient": manifest["recipient"],
        "as_of": manifest["as_of"],
        "policy_versions": list(manifest["policy_versions"]),
        "sources": [s["sha256"] for s in manifest["sources"]],
        "shards": {"n": shards["n"], "by": shards["by"]} if shards else None,
    }
    if "build_snapshot" in manifest:
        build = manifest["build_snapshot"]
        parameters["build_snapshot"] = {
            "sha256": build["sha256"],
            "policy_versions": list(build["policy_versions"]),
        }
    if "owner_columns" in manifest:
        parameters["owner_columns"] = manifest["owner_columns"]["treatment"]
    if "redaction" in manifest:
        parameters["redaction_profile_sha256"] = manifest["redaction"].get("profile_sha256")
    body = {
        "parameters": parameters,
        "snapshot_sha256": manifest["snapshot_sha256"],
        "files": [{"path": f["path"], "sha256": f["sha256"]} for f in manifest["files"]],
    }
    return hashlib.sha256(canonical_json(body)).hexdigest()


def records_root(ids: pa.Array) -> str:
    """Merkle root (hex) over the record ids sorted by their UTF-8 bytes.

    Refuses duplicate ids: a record id must name one record for proofs to mean anything.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(ids) == 0:
        return root_from_leaf_hashes([]).hex()
    ordered = ids.cast(pa.large_binary()).take(pc.sort_indices(ids.cast(pa.large_binary())))
    if len(ordered) > 1:
        same = pc.equal(ordered.slice(1), ordered.slice(0, len(ordered) - 1))
        duplicates = pc.sum(same).as_py() or 0
        if duplicates:
            raise InvalidInput(f"{duplicates} duplicate record ids among the included records")
    return root_from_leaf_hashes([leaf_hash(raw) for raw in ordered.to_pylist()]).hex()


def root_of_sorted_ids(ids: Iterable[bytes]) -> tuple[str, int]:
    """``records_root`` (and the count) of ids (UTF-8 bytes) that arrive already sorted:
    memory bounded by what the iterable holds (a ``CompactRange`` keeps O(log n) hashes).
    Refuses duplicates and ids out of order."""
    tree = CompactRange()
    previous: bytes | None = None
    duplicates = 0
    for raw in ids:
        if previous is not None and raw <= previous:
            if raw == previous:
                duplicates += 1
                continue
            raise AssertionError("record ids are not sorted")
        tree.append(leaf_hash(raw))
        previous = raw
    if duplicates:
        raise InvalidInput(f"{duplicates} duplicate record ids among the included records")
    return tree.root().hex(), tree.size


def build_manifest(
    *,
    use: str,
    recipient: str,
    as_of: str,
    policy_versions: Sequence[str],
    snapshot_sha256: str,
    sources: Sequence[Mapping[str, Any]],
    counts: Mapping[str, Any],
    files: Sequence[Mapping[str, Any]],
    records_root: str,
    shards: Mapping[str, Any] | None = None,
    redactions: Mapping[str, int] | None = None,
    exclusions: Mapping[str, int] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the manifest and its ``dataset_id``; checks the counts add up.

    ``extra``: further keys (``built_at``, ``build_snapshot``, ``columns``,
    ``owner_columns``, ``redaction``), added before the id is computed.
    """
    excluded = counts["excluded"]
    if counts["input"] != counts["included"] + sum(excluded.values()):
        raise AssertionError("manifest counts do not add up: input != included + excluded")
    if counts["included"] != sum(int(f["rows"]) for f in files):
        raise AssertionError("manifest counts do not match the rows written")
    manifest: dict[str, Any] = {
        "use": use,
        "recipient": recipient,
        "as_of": as_of,
        "policy_versions": list(policy_versions),
        "snapshot_sha256": snapshot_sha256,
        "sources": [dict(s) for s in sources],
        "counts": {
            "input": counts["input"],
            "included": counts["included"],
            "excluded": dict(sorted(excluded.items())),
        },
        "files": [dict(f) for f in files],
        "records_root": records_root,
    }
    if shards is not None:
        manifest["shards"] = dict(shards)
    if redactions is not None:
        manifest["redactions"] = dict(sorted(redactions.items()))
    if exclusions is not None:
        manifest["exclusions"] = dict(sorted(exclusions.items()))
    manifest.update(extra or {})
    manifest["dataset_id"] = dataset_id_of(manifest)
    return manifest


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    return (json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def write_manifest(directory: Path, manifest: Mapping[str, Any]) -> str:
    """Write ``directory/manifest.json``; return the SHA-256 of its bytes."""
    data = manifest_bytes(manifest)
    (directory / MANIFEST_NAME).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def part_paths(directory: Path, manifest: Mapping[str, Any] | None = None) -> list[Path]:
    """The Parquet parts of the dataset at ``directory``, in manifest order."""
    manifest = manifest if manifest is not None else read_manifest(directory)
    return [directory / str(f["path"]) for f in manifest["files"]]


def read_manifest(directory: Path) -> dict[str, Any]:
    """Load ``directory/manifest.json`` and check its ``dataset_id``."""
    path = directory / MANIFEST_NAME
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read manifest ({exc})") from exc
    if manifest.get("dataset_id") != dataset_id_of(manifest):
        raise InvalidInput(f"{path}: dataset_id does not match the manifest's contents")
    return manifest
