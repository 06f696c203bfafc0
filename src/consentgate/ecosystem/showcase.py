"""The demo's ending (issue 13): the ecosystem reads what the gate built.

Loads the first-party dataset with Hugging Face ``datasets`` (when installed), writes the
OpenLineage events of the demo's builds to ``lineage.jsonl`` (file transport) and the
training-content summary of its model, and prints where each of them is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from consentgate.ecosystem.croissant import CROISSANT_NAME
from consentgate.ecosystem.lineage import emit_dataset_run, local_dataset
from consentgate.ecosystem.summary import render_markdown
from consentgate.ecosystem.training import summary_for_model
from consentgate.errors import NotFound
from consentgate.gate.manifest import MANIFEST_NAME
from consentgate.timestamps import utcnow

__all__ = ["ecosystem_section"]


def _load_with_datasets(dataset: Path, cache: Path) -> str:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    try:
        import datasets
    except ImportError:
        return "Hugging Face datasets is not installed (pip install datasets==5.2.0)"
    datasets.disable_progress_bars()
    loaded = datasets.load_dataset(str(dataset), cache_dir=str(cache))
    train = loaded["train"]
    return f"datasets.load_dataset({str(dataset)!r}) -> {train.num_rows} rows, columns {train.column_names}"


def ecosystem_section(
    engine: Any, directory: Path, echo: Callable[[str], None], *, model: str
) -> dict[str, Path]:
    """Print and return the paths of the lineage events, Croissant file and summary."""
    echo("\n11. The ecosystem reads it (issue 13)")
    posts = directory / "dataset-posts"
    echo(f"   {_load_with_datasets(posts, directory / '.hf-cache')}")
    lineage = directory / "lineage.jsonl"
    config = {"transport": {"type": "file", "log_file_path": str(lineage), "append": True}}
    for name in ("dataset-posts", "dataset-acme"):
        built = directory / name
        if (built / MANIFEST_NAME).is_file():
            manifest = json.loads((built / MANIFEST_NAME).read_text(encoding="utf-8"))
            sources = [Path(str(s["path"])) for s in manifest["sources"]]
            emit_dataset_run(
                config, "build", built, inputs=[local_dataset(s) for s in sources], now=utcnow()
            )
    paths = {
        "lineage events": lineage,
        "Croissant": posts / CROISSANT_NAME,
        "dataset card": posts / "README.md",
    }
    try:
        doc = summary_for_model(engine, model)
    except NotFound:
        echo(f"   (no model {model!r} registered: no training summary)")
    else:
        paths["training summary"] = directory / "training-summary.md"
        paths["training summary (JSON)"] = directory / "training-summary.json"
        paths["training summary"].write_text(render_markdown(doc), encoding="utf-8")
        paths["training summary (JSON)"].write_text(
            json.dumps(doc, indent=2) + "\n", encoding="utf-8"
        )
    for label, path in paths.items():
        echo(f"   {label + ':':26s} {path}")
    return paths
