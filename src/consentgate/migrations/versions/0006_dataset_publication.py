"""Dataset publication journal and evidence of historical disclosures.

``dataset_staging``: a registered dataset whose directory is still under its staging name
(the rename that follows registration has not happened yet); any later command finishes
the rename and deletes the row. ``disclosure_evidence``: the evidence given for a
disclosure recorded at a time before the dataset was registered (``disclose
--historical``).

Revision ID: 0006
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

TS = sa.BigInteger  # microseconds since the epoch, UTC (consentgate.store.tables.UTCMicros)


def upgrade() -> None:
    op.create_table(
        "dataset_staging",
        sa.Column(
            "dataset_id", sa.String(64), sa.ForeignKey("datasets.dataset_id"), primary_key=True
        ),
        sa.Column("staging_path", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "disclosure_evidence",
        sa.Column(
            "disclosure_id",
            sa.String(32),
            sa.ForeignKey("disclosures.disclosure_id"),
            primary_key=True,
        ),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("disclosure_evidence")
    op.drop_table("dataset_staging")
