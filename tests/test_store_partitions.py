"""Migration 0010 (issue 12): on PostgreSQL the consent events are partitioned by member
hash and the audit log by position; on SQLite the migration changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from factories import day, policy_yaml, setting

from consentgate import workspace


def _ledger(engine: sa.Engine, tmp_path: Path, members: int) -> None:
    path = tmp_path / "v1.yaml"
    path.write_text(policy_yaml("v1", settings=[setting(defaults={"*": "off"})]))
    workspace.publish_policy(
        engine, path.read_text(encoding="utf-8"), name=str(path), notice_days=30
    )
    rows = [{"member_id": f"m{i}", "jurisdiction": "US"} for i in range(members)]
    workspace.import_members(
        engine, "".join(json.dumps(r) + "\n" for r in rows), now=lambda: day(0)
    )
    events = [
        {
            "event_id": f"e{i}",
            "member_id": f"m{i}",
            "type": "grant",
            "setting": "ai_posts",
            "policy_version": "v1",
            "effective_at": "2024-03-01T00:00:00Z",
        }
        for i in range(members)
    ]
    workspace.import_events(engine, "".join(json.dumps(e) + "\n" for e in events))


def _partitions(conn: sa.Connection, table: str) -> list[str]:
    return list(
        conn.execute(
            sa.text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent "
                "WHERE p.relname = :t AND p.relnamespace = to_regnamespace(current_schema()) "
                "ORDER BY c.relname"
            ),
            {"t": table},
        ).scalars()
    )


def test_sqlite_tables_are_not_partitioned(engine: sa.Engine, tmp_path: Path) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    _ledger(engine, tmp_path, 3)
    names = set(sa.inspect(engine).get_table_names())
    assert "consent_event_ids" not in names
    assert workspace.consent_status(engine, "m1", "ai_posts", at=day(500)).state == "granted"


def test_postgresql_partitions_events_by_member_and_audit_by_position(
    engine: sa.Engine, tmp_path: Path
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    _ledger(engine, tmp_path, 40)
    with engine.connect() as conn:
        events = _partitions(conn, "consent_events")
        assert len(events) == 16
        audit = _partitions(conn, "audit_log")
        assert "audit_log_default" in audit and "audit_log_p000" in audit
        stored = conn.execute(sa.text("SELECT count(*) FROM consent_events")).scalar_one()
        assert stored == 40
        # the rows are spread over the partitions by member hash
        spread = sum(
            1
            for name in events
            if conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one()
        )
        assert spread > 4
        ids = conn.execute(sa.text("SELECT count(*) FROM consent_event_ids")).scalar_one()
        assert ids == 40
        # a query about one member reads one partition, by its member index
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            conn.execute(
                sa.text(
                    "EXPLAIN SELECT * FROM consent_events WHERE member_id = :m "
                    "ORDER BY effective_at"
                ),
                {"m": "m7"},
            ).scalars()
        )
        assert sum(name in plan for name in events) == 1, plan
        assert "Index" in plan, plan
    assert workspace.consent_status(engine, "m7", "ai_posts", at=day(500)).state == "granted"
    assert workspace.verify_audit(engine).rows > 40


def test_postgresql_event_ids_stay_unique_across_partitions(
    engine: sa.Engine, tmp_path: Path
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    _ledger(engine, tmp_path, 40)
    row = {
        "event_id": "e3",  # m3's event id, given to another member (another partition)
        "member_id": "m30",
        "type": "withdraw",
        "setting": "ai_posts",
        "effective_at": 1,
        "recorded_at": 1,
        "source": "import",
    }
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO consent_events (event_id, member_id, type, setting, "
                "effective_at, recorded_at, source) VALUES (:event_id, :member_id, :type, "
                ":setting, :effective_at, :recorded_at, :source)"
            ),
            row,
        )
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM consent_events")).scalar_one()
    assert count == 40
