"""The schema, as SQLAlchemy Core tables (portable types only; migrations mirror it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH = _EPOCH  # what a stored timestamp of 0 means (UTCMicros)


class UTCMicros(sa.TypeDecorator[datetime]):
    """An aware UTC datetime stored as integer microseconds since the epoch.

    Portable across SQLite and PostgreSQL, exact, cheap to compare, and zero-copy into Arrow
    (bulk readers select the raw integer with ``sa.type_coerce(col, sa.BigInteger)``).
    """

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> int | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return (value - _EPOCH) // timedelta(microseconds=1)

    def process_result_value(self, value: int | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else _EPOCH + timedelta(microseconds=value)


metadata = sa.MetaData()
TS = UTCMicros()

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

taxonomy_keys = sa.Table(
    "taxonomy_keys",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),  # data_category | data_use
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("added_at", TS, nullable=False),
)

policy_versions = sa.Table(
    "policy_versions",
    metadata,
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("published_at", TS, nullable=False),
    sa.Column("effective_from", TS, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("recorded_at", TS, nullable=False),
)

members = sa.Table(
    "members",
    metadata,
    sa.Column("member_id", sa.String(255), primary_key=True),
    sa.Column("jurisdiction", sa.String(32), nullable=False),
    sa.Column("name", sa.Text),
    sa.Column("email", sa.Text),
    sa.Column("phone", sa.Text),
    sa.Column("created_at", TS, nullable=False),
)

member_keys = sa.Table(  # a member's own audit key; erasure deletes it (revision 0007)
    "member_keys",
    metadata,
    sa.Column("member_id", sa.String(255), primary_key=True),
    sa.Column("secret", sa.String(64), nullable=False),
    sa.Column("created_at", TS, nullable=False),
)

rejects_files = sa.Table(  # rejects files imports wrote; erasure scrubs them (revision 0007)
    "rejects_files",
    metadata,
    sa.Column("path_sha256", sa.String(64), primary_key=True),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("written_at", TS, nullable=False),
)

# A member's jurisdiction changes, append-only (never overwritten): each move (kind "move")
# with when it takes effect and when it was recorded. A member's first jurisdiction is
# members.jurisdiction, from the beginning, recorded at members.created_at (it is never
# updated); a member imported with jurisdiction_effective_at gets a "first" row instead,
# which dates it (no jurisdiction before). Decisions read both, never one alone.
member_jurisdictions = sa.Table(
    "member_jurisdictions",
    metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("member_id", sa.String(255), sa.ForeignKey("members.member_id"), nullable=False),
    sa.Column("jurisdiction", sa.String(32), nullable=False),
    sa.Column("effective_at", TS, nullable=False),
    sa.Column("recorded_at", TS, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # move | first
    sa.Column("source", sa.String(16), nullable=False),  # import | cli
    sa.Index("ix_member_jurisdictions_member", "member_id", "seq"),
)

consent_events = sa.Table(
    "consent_events",
    metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("event_id", sa.String(128), nullable=False, unique=True),
    sa.Column("member_id", sa.String(255), sa.ForeignKey("members.member_id"), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("setting", sa.String(128)),
    sa.Column("policy_version", sa.String(64), sa.ForeignKey("policy_versions.version")),
    sa.Column("effective_at", TS, nullable=False),
    sa.Column("recorded_at", TS, nullable=False),
    sa.Column("covers_from", TS),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("evidence", sa.JSON),
    sa.Index("ix_consent_events_member", "member_id", "effective_at"),
    sa.Index(  # who is erased: a handful of rows, read by every import (revision 0007)
        "ix_consent_events_erased",
        "member_id",
        sqlite_where=sa.text("type = 'erase'"),
        postgresql_where=sa.text("type = 'erase'"),
    ),
)

snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("use", sa.String(255), nullable=False),
    sa.Column("recipient", sa.String(255), nullable=False),
    sa.Column("as_of", TS, nullable=False),
    sa.Column("known_at", TS, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("policy_versions", sa.JSON, nullable=False),
    sa.Column("created_at", TS, nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column(
        "idx",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("entity", sa.String(64), nullable=False),
    sa.Column("entity_key", sa.String(255), nullable=False),
    sa.Column("digest", sa.String(64)),
    sa.Column("recorded_at", TS, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("entry_hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_entity_key", "entity", "entity_key"),
)

log_checkpoints = sa.Table(
    "log_checkpoints",
    metadata,
    sa.Column(
        "number",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("tree_size", sa.BigInteger, nullable=False),
    sa.Column("root_hash", sa.String(64), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("created_at", TS, nullable=False),
)

log_key_rotations = sa.Table(
    "log_key_rotations",
    metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("old_key", sa.Text, nullable=False),
    sa.Column("new_key", sa.Text, nullable=False),
    sa.Column("statement", sa.Text, nullable=False),  # signed by the old and the new key
    sa.Column("rotated_at", TS, nullable=False),
)

# --------------------------------------------------------------------------- dataset registry

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("dataset_id", sa.String(64), primary_key=True),
    sa.Column("use", sa.String(255), nullable=False),
    sa.Column("recipient", sa.String(255), nullable=False),
    sa.Column("as_of", TS, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("manifest_sha256", sa.String(64), nullable=False),
    sa.Column("snapshot_sha256", sa.String(64), nullable=False),
    sa.Column("input_records", sa.BigInteger, nullable=False),
    sa.Column("records", sa.BigInteger, nullable=False),
    sa.Column("members", sa.BigInteger, nullable=False),
    sa.Column("members_sha256", sa.String(64), nullable=False),
    sa.Column("shards", sa.Integer),
    sa.Column("shard_by", sa.String(16)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("supersedes", sa.String(64)),
    sa.Column("created_at", TS, nullable=False),
)

dataset_members = sa.Table(
    "dataset_members",
    metadata,
    sa.Column("dataset_id", sa.String(64), sa.ForeignKey("datasets.dataset_id"), primary_key=True),
    sa.Column("member_id", sa.String(255), primary_key=True),
    sa.Column("as_author", sa.BigInteger, nullable=False),
    sa.Column("as_participant", sa.BigInteger, nullable=False),
    sa.Column("shards", sa.JSON),
    sa.Index("ix_dataset_members_member", "member_id"),
)

dataset_staging = sa.Table(  # not audited: a transient journal (migration 0006)
    "dataset_staging",
    metadata,
    sa.Column("dataset_id", sa.String(64), sa.ForeignKey("datasets.dataset_id"), primary_key=True),
    sa.Column("staging_path", sa.Text, nullable=False),
    sa.Column("created_at", TS, nullable=False),
)

# --------------------------------------------------------------------------- remediation
# (issue 5: models, disclosures, remediation orders, deletion notices)

models = sa.Table(
    "models",
    metadata,
    sa.Column("model_id", sa.String(255), primary_key=True),  # <name>@v<version>
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("unlearning", sa.String(16), nullable=False),  # sisa | retrain | retire
    sa.Column("trained_shards", sa.JSON),  # null: every shard
    sa.Column("deployed_to", sa.JSON, nullable=False),
    sa.Column("artifact", sa.Text),
    sa.Column("artifact_sha256", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False),  # active | superseded | retired
    sa.Column("supersedes", sa.String(255)),
    sa.Column("evidence", sa.JSON),
    sa.Column("created_at", TS, nullable=False),
    sa.UniqueConstraint("name", "version", name="uq_models_name_version"),
)

model_datasets = sa.Table(
    "model_datasets",
    metadata,
    sa.Column("model_id", sa.String(255), sa.ForeignKey("models.model_id"), primary_key=True),
    sa.Column("dataset_id", sa.String(64), sa.ForeignKey("datasets.dataset_id"), primary_key=True),
    sa.Index("ix_model_datasets_dataset", "dataset_id"),
)

disclosures = sa.Table(
    "disclosures",
    metadata,
    sa.Column("disclosure_id", sa.String(32), primary_key=True),
    sa.Column("dataset_id", sa.String(64), sa.ForeignKey("datasets.dataset_id"), nullable=False),
    sa.Column("recipient", sa.String(255), nullable=False),
    sa.Column("disclosed_at", TS, nullable=False),
    sa.Column("records", sa.BigInteger, nullable=False),
    sa.Column("members", sa.BigInteger, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),  # build | cli
    sa.Column("created_at", TS, nullable=False),
    sa.Index("ix_disclosures_dataset", "dataset_id"),
)

disclosure_evidence = sa.Table(  # migration 0006
    "disclosure_evidence",
    metadata,
    sa.Column(
        "disclosure_id",
        sa.String(32),
        sa.ForeignKey("disclosures.disclosure_id"),
        primary_key=True,
    ),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Column("created_at", TS, nullable=False),
)

remediation_orders = sa.Table(
    "remediation_orders",
    metadata,
    sa.Column("order_id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # dataset | model | notice
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("target", sa.String(255), nullable=False),  # dataset id | model id | recipient
    sa.Column("shard", sa.Integer),
    sa.Column("status", sa.String(16), nullable=False),  # open | sent | done
    sa.Column("open_key", sa.String(300), unique=True),  # kind:target:shard while open, else null
    sa.Column("triggers", sa.JSON, nullable=False),
    sa.Column("legal_basis", sa.JSON, nullable=False),
    sa.Column("datasets", sa.JSON, nullable=False),
    sa.Column("members", sa.BigInteger, nullable=False),
    sa.Column("opened_at", TS, nullable=False),
    sa.Column("deadline", TS, nullable=False),
    sa.Column("closed_at", TS),
    sa.Column("notice_id", sa.String(32)),
    sa.Column("evidence", sa.JSON),
    sa.Index("ix_remediation_orders_target", "kind", "target"),
    sa.Index("ix_remediation_orders_status", "status", "deadline"),
)

remediation_order_members = sa.Table(
    "remediation_order_members",
    metadata,
    sa.Column(
        "order_id", sa.String(32), sa.ForeignKey("remediation_orders.order_id"), primary_key=True
    ),
    sa.Column("member_id", sa.String(255), primary_key=True),
    sa.Column("event_id", sa.String(128)),
    sa.Column("trigger", sa.String(16), nullable=False),
    sa.Column("legal_basis", sa.Text, nullable=False),
    sa.Column("deadline", TS, nullable=False),
    sa.Column("added_at", TS, nullable=False),
    sa.Index("ix_remediation_order_members_member", "member_id"),
)

notices = sa.Table(
    "notices",
    metadata,
    sa.Column("notice_id", sa.String(32), primary_key=True),
    sa.Column("recipient", sa.String(255), nullable=False),
    sa.Column("issued_at", TS, nullable=False),
    sa.Column("deadline", TS, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("records", sa.BigInteger, nullable=False),
    sa.Column("datasets", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # sent | acknowledged
    sa.Column("acknowledged_at", TS),
    sa.Column("ack_note", sa.Text),
)

log_blocks = sa.Table(
    "log_blocks",
    metadata,
    sa.Column(
        "block",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("hash", sa.String(64), nullable=False),
)

# API keys of service clients (docs/service.md): only a keyed hash of each key's secret is
# kept; ``key_id`` is the public part of the key, shown in lists and logs.
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),  # pipeline | officer | admin
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("revoked_at", TS),
)
