"""Members' jurisdiction history: member_jurisdictions.

A jurisdiction change is recorded like a consent event (effective and recorded times,
append-only, one audit entry per row) instead of overwriting ``members.jurisdiction``, which
stays the member's first jurisdiction (from the beginning, recorded at ``created_at``).
Existing workspaces need no data change: every member's history so far is that one row.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

TS = sa.BigInteger  # microseconds since the epoch, UTC (consentgate.store.tables.UTCMicros)
ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "member_jurisdictions",
        sa.Column("seq", ID, primary_key=True, autoincrement=True),
        sa.Column("member_id", sa.String(255), sa.ForeignKey("members.member_id"), nullable=False),
        sa.Column("jurisdiction", sa.String(32), nullable=False),
        sa.Column("effective_at", TS, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
    )
    op.create_index("ix_member_jurisdictions_member", "member_jurisdictions", ["member_id", "seq"])
