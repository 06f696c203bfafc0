"""Dataset registry: datasets and which members' records each holds.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("dataset_id", sa.String(64), primary_key=True),
        sa.Column("use", sa.String(255), nullable=False),
        sa.Column("recipient", sa.String(255), nullable=False),
        sa.Column("as_of", sa.BigInteger, nullable=False),
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
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "dataset_members",
        sa.Column(
            "dataset_id", sa.String(64), sa.ForeignKey("datasets.dataset_id"), primary_key=True
        ),
        sa.Column("member_id", sa.String(255), primary_key=True),
        sa.Column("as_author", sa.BigInteger, nullable=False),
        sa.Column("as_participant", sa.BigInteger, nullable=False),
        sa.Column("shards", sa.JSON),
    )
    op.create_index("ix_dataset_members_member", "dataset_members", ["member_id"])
