"""Rotations of the audit log's signing key (issue 14). The ledger records its log key in
``meta`` (``log_key``); each rotation is a row here, audited, carrying the statement
signed by the old and the new key.

Revision ID: 0008
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"

TS = sa.BigInteger  # microseconds since the epoch, UTC (consentgate.store.tables.UTCMicros)
ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "log_key_rotations",
        sa.Column("seq", ID, primary_key=True, autoincrement=False),
        sa.Column("old_key", sa.Text, nullable=False),
        sa.Column("new_key", sa.Text, nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("rotated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("log_key_rotations")
