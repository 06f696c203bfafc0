"""Remediation: models, disclosures, remediation orders and their members, deletion notices.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

TS = sa.BigInteger  # microseconds since the epoch, UTC (consentgate.store.tables.UTCMicros)


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("model_id", sa.String(255), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("unlearning", sa.String(16), nullable=False),
        sa.Column("trained_shards", sa.JSON),
        sa.Column("deployed_to", sa.JSON, nullable=False),
        sa.Column("artifact", sa.Text),
        sa.Column("artifact_sha256", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("supersedes", sa.String(255)),
        sa.Column("evidence", sa.JSON),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_models_name_version"),
    )
    op.create_table(
        "model_datasets",
        sa.Column("model_id", sa.String(255), sa.ForeignKey("models.model_id"), primary_key=True),
        sa.Column(
            "dataset_id", sa.String(64), sa.ForeignKey("datasets.dataset_id"), primary_key=True
        ),
    )
    op.create_index("ix_model_datasets_dataset", "model_datasets", ["dataset_id"])
    op.create_table(
        "disclosures",
        sa.Column("disclosure_id", sa.String(32), primary_key=True),
        sa.Column(
            "dataset_id", sa.String(64), sa.ForeignKey("datasets.dataset_id"), nullable=False
        ),
        sa.Column("recipient", sa.String(255), nullable=False),
        sa.Column("disclosed_at", TS, nullable=False),
        sa.Column("records", sa.BigInteger, nullable=False),
        sa.Column("members", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_disclosures_dataset", "disclosures", ["dataset_id"])
    op.create_table(
        "remediation_orders",
        sa.Column("order_id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("shard", sa.Integer),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("open_key", sa.String(300), unique=True),
        sa.Column("triggers", sa.JSON, nullable=False),
        sa.Column("legal_basis", sa.JSON, nullable=False),
        sa.Column("datasets", sa.JSON, nullable=False),
        sa.Column("members", sa.BigInteger, nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("deadline", TS, nullable=False),
        sa.Column("closed_at", TS),
        sa.Column("notice_id", sa.String(32)),
        sa.Column("evidence", sa.JSON),
    )
    op.create_index("ix_remediation_orders_target", "remediation_orders", ["kind", "target"])
    op.create_index("ix_remediation_orders_status", "remediation_orders", ["status", "deadline"])
    op.create_table(
        "remediation_order_members",
        sa.Column(
            "order_id",
            sa.String(32),
            sa.ForeignKey("remediation_orders.order_id"),
            primary_key=True,
        ),
        sa.Column("member_id", sa.String(255), primary_key=True),
        sa.Column("event_id", sa.String(128)),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("legal_basis", sa.Text, nullable=False),
        sa.Column("deadline", TS, nullable=False),
        sa.Column("added_at", TS, nullable=False),
    )
    op.create_index(
        "ix_remediation_order_members_member", "remediation_order_members", ["member_id"]
    )
    op.create_table(
        "notices",
        sa.Column("notice_id", sa.String(32), primary_key=True),
        sa.Column("recipient", sa.String(255), nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("deadline", TS, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("records", sa.BigInteger, nullable=False),
        sa.Column("datasets", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("acknowledged_at", TS),
        sa.Column("ack_note", sa.Text),
    )
