"""The dataset manifest: what a build put in a dataset, and the dataset id derived from it.

``manifest.json`` (sorted keys, 2-space indent, trailing newline) holds, exactly:
``dataset_id``, ``use``, ``recipient``, ``as_of``, ``policy_versions``,
``snapshot_sha256``, ``sources`` ([{path, bytes, sha256}]), ``counts`` ({input, included,
excluded: {reason: n}}), ``files`` ([{path, rows, sha256}]), ``records_root``; with
shards also ``shards`` ({n, by, members: {shard: members}, assignment: {path, sha256}});
when a redactor ran also ``redactions`` ({entity: n}) and ``exclusions`` ({label: n}),
and, when the redactor describes itself, ``redaction`` (how names were found:
``{"names_found_by": ["directory", "cues", "ner"], "ner": {backend, models, language}}``;
without the ``ner`` extra ``["directory", "cues"]``).

``dataset_id`` is the SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of
``{"parameters": {use, recipient, as_of, policy_versions, sources: [sha256...],
shards: {n, by} | null}, "snapshot_sha256": ..., "files": [{path, sha256}...]}`` — so it
can be recomputed from the manifest alone (``dataset_id_of``) and does not depend on where
the source files were.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from consentgate.errors import InvalidInput
from consentgate.merkle import leaf_hash, root_from_leaf_hashes

__all__ = [
    "MANIFEST_NAME",
    "SHARDS_NAME",
    "canonical_json",
    "dataset_id_of",
    "records_root",
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
    body = {
        "parameters": {
            "use": manifest["use"],
            "recipient": manifest["recipient"],
            "as_of": manifest["as_of"],
            "policy_versions": list(manifest["policy_versions"]),
            "sources": [s["sha256"] for s in manifest["sources"]],
            "shards": {"n": shards["n"], "by": shards["by"]} if shards else None,
        },
        "snapshot_sha256": manifest["snapshot_sha256"],
        "files": [{"path": f["path"], "sha256": f["sha256"]} for f in manifest["files"]],
    }
    return hashlib.sha256(canonical_json(body)).hexdigest()


def records_root(ids: pa.Array) -> str:
    """Merkle root (hex) over the record ids sorted by their UTF-8 bytes.

    Refuses duplicate ids: a record id must name one record for proofs to mean anything.
    """
    if len(ids) == 0:
        return root_from_leaf_hashes([]).hex()
    ordered = ids.cast(pa.large_binary()).take(pc.sort_indices(ids.cast(pa.large_binary())))
    if len(ordered) > 1:
        same = pc.equal(ordered.slice(1), ordered.slice(0, len(ordered) - 1))
        duplicates = pc.sum(same).as_py() or 0
        if duplicates:
            raise InvalidInput(f"{duplicates} duplicate record ids among the included records")
    return root_from_leaf_hashes([leaf_hash(raw) for raw in ordered.to_pylist()]).hex()


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
    redaction: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the manifest and its ``dataset_id``; checks the counts add up."""
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
    if redaction is not None:
        manifest["redaction"] = dict(redaction)
    manifest["dataset_id"] = dataset_id_of(manifest)
    return manifest


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    return (json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def write_manifest(directory: Path, manifest: Mapping[str, Any]) -> str:
    """Write ``directory/manifest.json``; return the SHA-256 of its bytes."""
    data = manifest_bytes(manifest)
    (directory / MANIFEST_NAME).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


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
