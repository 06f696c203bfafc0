"""Machine unlearning for models trained on gated datasets (SISA, exact).

A gated dataset built with shards can train one scikit-learn model per shard
(``train_shards``); the ensemble votes. When members withdraw, the dataset is remediated
and ``retrain`` retrains only the shards whose record ids changed, with evidence of what
it did. ``shard_of``, ``conversation_key`` and ``shards_touched`` decide and measure how
rows are sharded. See ``docs/unlearning.md``.

scikit-learn is an optional extra (``consentgate[unlearn]``), imported only when a model
is trained, featurised or saved; importing this package does not need it.
"""

from consentgate.sharding import (
    ShardBy,
    assign_shards,
    conversation_key,
    member_mask,
    shard_of,
    shards_touched,
)
from consentgate.unlearn.artifact import load_model, save_model
from consentgate.unlearn.features import ColumnFeatures, Features, TextFeatures, featurize
from consentgate.unlearn.sisa import (
    Label,
    RetrainResult,
    Shard,
    ShardChange,
    ShardedModel,
    read_rows,
    retrain,
    shard_fingerprint,
    train_shards,
)

__all__ = [
    "ColumnFeatures",
    "Features",
    "Label",
    "RetrainResult",
    "Shard",
    "ShardBy",
    "ShardChange",
    "ShardedModel",
    "TextFeatures",
    "assign_shards",
    "conversation_key",
    "featurize",
    "load_model",
    "member_mask",
    "read_rows",
    "retrain",
    "save_model",
    "shard_fingerprint",
    "shard_of",
    "shards_touched",
    "train_shards",
]
