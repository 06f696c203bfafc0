"""The gate: consent-checked, reproducible training-dataset builds (DESIGN.md "The gate").

``lookup`` builds the member/category index from a consent snapshot; ``batch`` is the
pure Arrow batch function; ``run`` writes a dataset and its manifest, gating with
``local`` (this process or worker processes) or ``spark`` (the same function on
PySpark), through ``sink`` (shards, member counts) and ``parts`` (the Parquet parts);
``exposure`` re-checks an existing dataset. Importing this package never imports pyspark.
"""

from consentgate.gate.batch import REASONS, GateOutput, Redactor, evaluate, gate_batch
from consentgate.gate.columns import Columns
from consentgate.gate.exposure import ExposureReport, audit_dataset
from consentgate.gate.lookup import GateIndex, prepare
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
