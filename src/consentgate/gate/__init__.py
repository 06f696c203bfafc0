"""The gate: consent-checked, reproducible training-dataset builds (DESIGN.md "The gate").

``batch`` is the pure Arrow batch function; ``run`` the local runner writing a dataset
and its manifest; ``spark`` the same function on PySpark; ``exposure`` the re-check of
an existing dataset. Importing this package never imports pyspark.
"""

from consentgate.gate.batch import (
    REASONS,
    Columns,
    GateIndex,
    GateOutput,
    Redactor,
    evaluate,
    gate_batch,
    prepare,
)
from consentgate.gate.exposure import ExposureReport, audit_dataset
from consentgate.gate.run import BuildResult, Counts, build_dataset

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
