"""Signed checkpoints of the audit log, and a cache of its complete 1024-entry subtrees
(issue 6).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

TS = sa.BigInteger  # microseconds since the epoch, UTC (consentgate.store.tables.UTCMicros)
ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "log_checkpoints",
        sa.Column("number", ID, primary_key=True, autoincrement=False),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("root_hash", sa.String(64), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "log_blocks",
        sa.Column("block", ID, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
