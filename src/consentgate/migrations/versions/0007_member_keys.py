"""Per-member keys (erasure destroys them) and the rejects files imports wrote.

``member_keys``: the random key under which a member's audit references and row digests
are made (docs/transparency.md "Erasure"). Members imported before this revision have no
row and keep using the workspace secret, so every existing entry still verifies.
``rejects_files``: every rejects file an import wrote, so that an erasure can remove the
member's lines from them. ``ix_consent_events_erased``: a partial index of the erase events,
so that imports find erased members without scanning every event.

Revision ID: 0007
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"

TS = sa.BigInteger  # microseconds since the epoch, UTC (consentgate.store.tables.UTCMicros)


def upgrade() -> None:
    op.create_table(
        "member_keys",
        sa.Column("member_id", sa.String(255), primary_key=True),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "rejects_files",
        sa.Column("path_sha256", sa.String(64), primary_key=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("written_at", TS, nullable=False),
    )
    op.create_index(
        "ix_consent_events_erased",
        "consent_events",
        ["member_id"],
        sqlite_where=sa.text("type = 'erase'"),
        postgresql_where=sa.text("type = 'erase'"),
    )
