"""A Hugging Face-style dataset card (``README.md``) generated from the manifest.

YAML front matter (``pretty_name``, ``tags``, ``configs`` pointing ``datasets`` at
``data/*.parquet`` so ``load_dataset(DIR)`` reads the parts alone), then a summary, the
structure, a "Privacy considerations" section and the provenance roots. Every statement
comes from the manifest; the licence is left for a human to state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import yaml

from consentgate.ecosystem.croissant import consent_basis, personal_information

__all__ = ["CARD_NAME", "dataset_card"]

CARD_NAME = "README.md"


def _front_matter(manifest: Mapping[str, Any], name: str) -> str:
    front = {
        "pretty_name": name,
        "tags": ["consentgate", "consented-data", f"use:{manifest['use']}"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": "train", "path": "data/*.parquet"}],
            }
        ],
    }
    return yaml.safe_dump(front, sort_keys=False, allow_unicode=True)


def dataset_card(manifest: Mapping[str, Any], schema: pa.Schema, *, name: str | None = None) -> str:
    """The README.md of a dataset directory."""
    dataset_id = str(manifest["dataset_id"])
    title = name or f"consentgate-{dataset_id[:12]}"
    counts = manifest["counts"]
    columns = "\n".join(f"| `{f.name}` | `{f.type}` |" for f in schema)
    privacy = "\n".join(f"- {line}" for line in personal_information(manifest))
    excluded = "\n".join(
        f"| {reason} | {n} |" for reason, n in sorted(counts["excluded"].items()) if n
    )
    shards = manifest.get("shards")
    lines = [
        "---",
        _front_matter(manifest, title).rstrip("\n"),
        "---",
        "",
        f"# {title}",
        "",
        "## Dataset summary",
        "",
        f"Dataset `{dataset_id}`, built through consentgate for the use "
        f"`{manifest['use']}` and recipient `{manifest['recipient']}` as of "
        f"{manifest['as_of']}: {counts['included']} of {counts['input']} source records.",
        "",
        "Load it with `datasets.load_dataset(DIR)`, `pandas.read_parquet(DIR + '/data')` "
        "or any Parquet reader pointed at `data/`.",
        "",
        "## Dataset structure",
        "",
        "| column | type |",
        "| --- | --- |",
        columns,
        "",
    ]
    if shards:
        lines += [
            f"Split into {shards['n']} shards by {shards['by']} (column `shard`) for "
            "SISA unlearning.",
            "",
        ]
    lines += [
        "## Privacy considerations",
        "",
        consent_basis(manifest),
        "",
        privacy,
        "",
        "| excluded because | records |",
        "| --- | --- |",
        excluded or "| (none) | 0 |",
        "",
        "A member who withdraws consent later is removed by remediation (a new version of "
        "this dataset); the registry records which datasets hold each member's records.",
        "",
        "## Provenance",
        "",
        f"- dataset id: `{dataset_id}` (content hash of the records and decision inputs)",
        f"- records_root: `{manifest['records_root']}`",
        f"- members_root: `{manifest.get('members_root', 'not committed')}`",
        f"- policy versions: {', '.join(manifest['policy_versions'])}",
        f"- consent snapshot sha256: `{manifest['snapshot_sha256']}`",
        "",
        "## Licence",
        "",
        "Not stated by consentgate: the data owner must state the licence.",
        "",
    ]
    return "\n".join(lines)
