"""API keys of the HTTP service's clients (issue 11): role, label, a keyed hash of the
secret (never the secret), creation and revocation times.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"

TS = sa.BigInteger  # microseconds since the epoch, UTC (consentgate.store.tables.UTCMicros)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
