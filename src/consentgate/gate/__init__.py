"""The gate: consent-checked, reproducible training-dataset builds (DESIGN.md "The gate").

``lookup`` builds the member/category index from a consent snapshot; ``batch`` is the
pure Arrow batch function; ``run`` writes a dataset and its manifest, gating with
``local`` (this process or worker processes) or ``spark`` (the same function on
PySpark), through ``sink`` (shards, member counts) and ``parts`` (the Parquet parts);
``exposure`` re-checks an existing dataset. Importing this package never imports pyspark.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from consentgate.gate.batch import REASONS, GateOutput, Redactor, evaluate, gate_batch
    from consentgate.gate.columns import Columns
    from consentgate.gate.exposure import ExposureReport, audit_dataset
    from consentgate.gate.lookup import GateIndex, prepare
    from consentgate.gate.run import BuildResult, Counts, build_dataset

_WHERE = {
    "REASONS": "batch",
    "GateOutput": "batch",
    "Redactor": "batch",
    "evaluate": "batch",
    "gate_batch": "batch",
    "Columns": "columns",
    "ExposureReport": "exposure",
    "audit_dataset": "exposure",
    "GateIndex": "lookup",
    "prepare": "lookup",
    "BuildResult": "run",
    "Counts": "run",
    "build_dataset": "run",
}


def __getattr__(name: str) -> Any:
    """Import the submodule of ``name`` on first use (``consentgate.gate.manifest`` alone
    must not pull pandas in through ``batch``)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "REASONS",
    "BuildResult",
    "Columns",
    "Counts",
    "ExposureReport",
    "GateIndex",
    "GateOutput",
    "Redactor",
    "audit_dataset",
    "build_dataset",
    "evaluate",
    "gate_batch",
    "prepare",
]
