"""PostgreSQL: the consent events partitioned by member hash, the audit log by position
(issue 12, item 5). DDL only; SQLite is left as it is (a no-op there).

``consent_events`` becomes ``PARTITION BY HASH (member_id)`` with ``EVENT_PARTITIONS``
partitions: every query the ledger makes about one member (``consent status``, a
member's events, erasure) names ``member_id``, so the planner prunes to one partition and
searches its ``(member_id, effective_at)`` index — O(log n) in that partition's events.
PostgreSQL requires a partitioned table's unique keys to contain the partition key, so
the primary key becomes ``(seq, member_id)`` and the event id's uniqueness across the
whole table, which one partition cannot check, moves to ``consent_event_ids`` (its
primary key), filled by a statement-level trigger from the inserted rows (one
``INSERT ... SELECT`` per statement or ``COPY``, not one per row). A repeated event id
therefore still fails with a unique violation, as before (the importers look the ids up
first and never reach it).

``audit_log`` becomes ``PARTITION BY RANGE (idx)``: the log only grows at its end, so
partitions of ``AUDIT_PARTITION_ROWS`` consecutive entries are filled one after another
(recent entries, which verification and checkpoints read, stay in the newest partitions;
old ones can be moved to cheaper storage or detached after archiving). The first
``AUDIT_PARTITIONS`` ranges are created here, and a default partition takes any entry
beyond them until an operator adds the next range (docs/scale.md).

Rows are copied into the new tables inside the migration's transaction; the sequence of
``consent_events.seq`` is kept.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"

EVENT_PARTITIONS = 16
AUDIT_PARTITIONS = 8
AUDIT_PARTITION_ROWS = 1 << 26  # 67,108,864 entries a partition


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _is_postgresql():
        return
    run = op.execute
    # --- consent_events, by member hash
    run("ALTER TABLE consent_events RENAME TO consent_events_unpartitioned")
    run("ALTER SEQUENCE consent_events_seq_seq OWNED BY NONE")
    run("ALTER INDEX ix_consent_events_member RENAME TO ix_consent_events_member_old")
    run("ALTER INDEX ix_consent_events_erased RENAME TO ix_consent_events_erased_old")
    run(
        """
        CREATE TABLE consent_events (
            seq BIGINT NOT NULL DEFAULT nextval('consent_events_seq_seq'),
            event_id VARCHAR(128) NOT NULL,
            member_id VARCHAR(255) NOT NULL
                CONSTRAINT consent_events_member_id_fkey REFERENCES members (member_id),
            type VARCHAR(16) NOT NULL,
            setting VARCHAR(128),
            policy_version VARCHAR(64)
                CONSTRAINT consent_events_policy_version_fkey
                REFERENCES policy_versions (version),
            effective_at BIGINT NOT NULL,
            recorded_at BIGINT NOT NULL,
            covers_from BIGINT,
            source VARCHAR(16) NOT NULL,
            evidence JSON,
            CONSTRAINT consent_events_partitioned_pkey PRIMARY KEY (seq, member_id)
        ) PARTITION BY HASH (member_id)
        """
    )
    for i in range(EVENT_PARTITIONS):
        run(
            f"CREATE TABLE consent_events_p{i:02d} PARTITION OF consent_events "
            f"FOR VALUES WITH (MODULUS {EVENT_PARTITIONS}, REMAINDER {i})"
        )
    run("ALTER SEQUENCE consent_events_seq_seq OWNED BY consent_events.seq")
    run("CREATE INDEX ix_consent_events_member ON consent_events (member_id, effective_at)")
    run("CREATE INDEX ix_consent_events_erased ON consent_events (member_id) WHERE type = 'erase'")
    run("CREATE TABLE consent_event_ids (event_id VARCHAR(128) PRIMARY KEY)")
    run(
        """
        CREATE FUNCTION consent_event_ids_add() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO consent_event_ids (event_id) SELECT event_id FROM added;
            RETURN NULL;
        END $$
        """
    )
    run(
        "CREATE TRIGGER consent_event_ids_add AFTER INSERT ON consent_events "
        "REFERENCING NEW TABLE AS added FOR EACH STATEMENT "
        "EXECUTE FUNCTION consent_event_ids_add()"
    )
    run(
        "INSERT INTO consent_events SELECT seq, event_id, member_id, type, setting, "
        "policy_version, effective_at, recorded_at, covers_from, source, evidence "
        "FROM consent_events_unpartitioned"
    )
    run("DROP TABLE consent_events_unpartitioned")
    run(
        "ALTER TABLE consent_events "
        "RENAME CONSTRAINT consent_events_partitioned_pkey TO consent_events_pkey"
    )
    # --- audit_log, by position
    run("ALTER TABLE audit_log RENAME TO audit_log_unpartitioned")
    run("ALTER INDEX ix_audit_entity_key RENAME TO ix_audit_entity_key_old")
    run(
        """
        CREATE TABLE audit_log (
            idx BIGINT NOT NULL,
            action VARCHAR(64) NOT NULL,
            entity VARCHAR(64) NOT NULL,
            entity_key VARCHAR(255) NOT NULL,
            digest VARCHAR(64),
            recorded_at BIGINT NOT NULL,
            prev_hash VARCHAR(64) NOT NULL,
            entry_hash VARCHAR(64) NOT NULL,
            CONSTRAINT audit_log_partitioned_pkey PRIMARY KEY (idx)
        ) PARTITION BY RANGE (idx)
        """
    )
    for i in range(AUDIT_PARTITIONS):
        low, high = i * AUDIT_PARTITION_ROWS, (i + 1) * AUDIT_PARTITION_ROWS
        run(
            f"CREATE TABLE audit_log_p{i:03d} PARTITION OF audit_log "
            f"FOR VALUES FROM ({low}) TO ({high})"
        )
    run("CREATE TABLE audit_log_default PARTITION OF audit_log DEFAULT")
    run("CREATE INDEX ix_audit_entity_key ON audit_log (entity, entity_key)")
    run("INSERT INTO audit_log SELECT * FROM audit_log_unpartitioned")
    run("DROP TABLE audit_log_unpartitioned")
    run("ALTER TABLE audit_log RENAME CONSTRAINT audit_log_partitioned_pkey TO audit_log_pkey")


def downgrade() -> None:
    if not _is_postgresql():
        return
    run = op.execute
    run("ALTER TABLE audit_log RENAME TO audit_log_partitioned")
    run("ALTER INDEX ix_audit_entity_key RENAME TO ix_audit_entity_key_partitioned")
    op.create_table(
        "audit_log",
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("entity_key", sa.String(255), nullable=False),
        sa.Column("digest", sa.String(64)),
        sa.Column("recorded_at", sa.BigInteger, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_entity_key", "audit_log", ["entity", "entity_key"])
    run("INSERT INTO audit_log SELECT * FROM audit_log_partitioned")
    run("DROP TABLE audit_log_partitioned")

    run("ALTER TABLE consent_events RENAME TO consent_events_partitioned")
    run("ALTER SEQUENCE consent_events_seq_seq OWNED BY NONE")
    run("ALTER INDEX ix_consent_events_member RENAME TO ix_consent_events_member_p")
    run("ALTER INDEX ix_consent_events_erased RENAME TO ix_consent_events_erased_p")
    run(
        """
        CREATE TABLE consent_events (
            seq BIGINT NOT NULL DEFAULT nextval('consent_events_seq_seq') PRIMARY KEY,
            event_id VARCHAR(128) NOT NULL UNIQUE,
            member_id VARCHAR(255) NOT NULL REFERENCES members (member_id),
            type VARCHAR(16) NOT NULL,
            setting VARCHAR(128),
            policy_version VARCHAR(64) REFERENCES policy_versions (version),
            effective_at BIGINT NOT NULL,
            recorded_at BIGINT NOT NULL,
            covers_from BIGINT,
            source VARCHAR(16) NOT NULL,
            evidence JSON
        )
        """
    )
    run("ALTER SEQUENCE consent_events_seq_seq OWNED BY consent_events.seq")
    run("CREATE INDEX ix_consent_events_member ON consent_events (member_id, effective_at)")
    run("CREATE INDEX ix_consent_events_erased ON consent_events (member_id) WHERE type = 'erase'")
    run("INSERT INTO consent_events SELECT * FROM consent_events_partitioned")
    run("DROP TABLE consent_events_partitioned")
    run("DROP TABLE consent_event_ids")
    run("DROP FUNCTION consent_event_ids_add()")
