"""Initial schema: taxonomy, policy versions, members, consent events, snapshots, audit log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

TS = sa.BigInteger  # microseconds since the epoch, UTC (consentgate.store.tables.UTCMicros)
ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "taxonomy_keys",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("added_at", TS, nullable=False),
    )
    op.create_table(
        "policy_versions",
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("published_at", TS, nullable=False),
        sa.Column("effective_from", TS, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
    )
    op.create_table(
        "members",
        sa.Column("member_id", sa.String(255), primary_key=True),
        sa.Column("jurisdiction", sa.String(32), nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("email", sa.Text),
        sa.Column("phone", sa.Text),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "consent_events",
        sa.Column("seq", ID, primary_key=True, autoincrement=True),
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
    )
    op.create_index("ix_consent_events_member", "consent_events", ["member_id", "effective_at"])
    op.create_table(
        "snapshots",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("use", sa.String(255), nullable=False),
        sa.Column("recipient", sa.String(255), nullable=False),
        sa.Column("as_of", TS, nullable=False),
        sa.Column("known_at", TS, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("policy_versions", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("idx", ID, primary_key=True, autoincrement=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("entity_key", sa.String(255), nullable=False),
        sa.Column("digest", sa.String(64)),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_entity_key", "audit_log", ["entity", "entity_key"])
