"""Operations of the service (issue 11, item 8): ``/metrics`` behind an optional bearer
token, and API keys audited (created and revoked keys in the log, tampered key rows found)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from service_world import settings_for, start

from consentgate import access, workspace
from consentgate.errors import AuditChainBroken, UsageError
from consentgate.service import create_app
from consentgate.store import tables as t
from consentgate.store.engine import make_engine


def test_metrics_need_the_token_when_one_is_set(world: Path, db_url: str, tmp_path: Path) -> None:
    token = tmp_path / "metrics.token"
    token.write_text("s3cret-scrape-token\n")
    for svc in start(settings_for(db_url, tmp_path, service_metrics_token=token)):
        c = svc.client
        assert c.get("/healthz").status_code == 200
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Basic s3cret-scrape-token"},
            svc.auth("admin"),  # an API key is not the scrape token
        ):
            r = c.get("/metrics", headers=headers)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            assert "consentgate_http" not in r.text
        r = c.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
        assert r.status_code == 200 and "consentgate_http_requests_total" in r.text


def test_metrics_are_open_without_a_token(service: Any) -> None:
    assert service.client.get("/metrics").status_code == 200


def test_an_empty_or_missing_token_file_is_refused(db_url: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.token"
    empty.write_text("  \n")
    for path, problem in ((empty, "is empty"), (tmp_path / "absent", "cannot read")):
        with pytest.raises(UsageError, match=problem):
            create_app(settings_for(db_url, tmp_path, service_metrics_token=path))


def _key_entries(engine: sa.Engine) -> list[tuple[str, str, str | None]]:
    c = t.audit_log.c
    with engine.connect() as conn:
        query = sa.select(c.action, c.entity_key, c.digest).where(c.entity == "api_keys")
        return [tuple(r) for r in conn.execute(query.order_by(c.idx))]  # type: ignore[misc]


def test_keys_created_and_revoked_are_audited_without_their_secret(service: Any) -> None:
    c, admin = service.client, service.auth("admin")
    engine = c.app.state.service.engine
    created = c.post("/api/v1/keys", json={"role": "officer", "label": "x"}, headers=admin).json()
    key_id, secret = created["key_id"], created["key"]
    assert c.delete(f"/api/v1/keys/{key_id}", headers=admin).status_code == 200
    entries = _key_entries(engine)
    ours = [(a, k) for a, k, _ in entries if k.startswith(key_id)]
    assert ours == [
        ("api_key.created", f"{key_id}:officer"),
        ("api_key.revoked", f"{key_id}:officer"),
    ]
    assert len(entries) == len(access.list_keys(engine)) + 1  # one per key, one revocation
    with engine.connect() as conn:
        log_text = " ".join(str(v) for r in conn.execute(sa.select(t.audit_log)) for v in r)
    assert secret not in log_text and secret.rsplit("_", 1)[1] not in log_text
    workspace.verify_audit(engine)


@pytest.mark.parametrize(
    "tamper, problem",
    [
        (
            lambda k: t.api_keys.update().where(t.api_keys.c.key_id == k).values(role="admin"),
            "no audit entry",
        ),
        (
            lambda k: t.api_keys.update().where(t.api_keys.c.key_id == k).values(revoked_at=None),
            "differs",
        ),
        (
            lambda k: (
                t.api_keys.update().where(t.api_keys.c.key_id == k).values(secret_hash="0" * 64)
            ),
            "differs",
        ),
        (lambda k: t.api_keys.delete().where(t.api_keys.c.key_id == k), "missing"),
    ],
    ids=["role raised", "revocation undone", "hash swapped", "deleted"],
)
def test_a_key_row_changed_behind_the_log_is_found(
    engine: sa.Engine, tamper: Any, problem: str
) -> None:
    key = access.create_key(engine, role="pipeline", label="ci").key
    access.revoke_key(engine, key.key_id)
    workspace.verify_audit(engine)
    with engine.begin() as conn:
        conn.execute(tamper(key.key_id))
    with pytest.raises(AuditChainBroken, match=problem):
        workspace.verify_audit(engine)


def test_a_key_row_inserted_behind_the_log_is_found(engine: sa.Engine) -> None:
    access.create_key(engine, role="pipeline")
    with engine.begin() as conn:
        conn.execute(
            t.api_keys.insert().values(
                key_id="0" * 16,
                role="admin",
                label="",
                secret_hash="1" * 64,
                created_at=access.list_keys(engine)[0].created_at,
            )
        )
    with pytest.raises(AuditChainBroken, match="a row of api_keys has no audit entry"):
        workspace.verify_audit(engine)


def test_upgrading_gives_keys_made_before_revision_0011_their_entries(db_url: str) -> None:
    from alembic import command

    from consentgate.store import audit as store_audit
    from consentgate.store import engine as store_engine

    eng = make_engine(db_url)
    with eng.begin() as conn:
        command.upgrade(store_engine._alembic_config(conn), "0009")
        store_audit.ensure_secret(conn)
    with eng.begin() as conn:  # two keys as revision 0009 stored them: rows, no entries
        for key_id, revoked in (("a" * 16, None), ("b" * 16, 5)):
            conn.execute(
                sa.text(
                    "INSERT INTO api_keys (key_id, role, label, secret_hash, created_at, "
                    "revoked_at) VALUES (:k, 'officer', '', :h, 1, :r)"
                ),
                {"k": key_id, "h": "2" * 64, "r": revoked},
            )
    assert workspace.init_workspace(eng).revision == store_engine.HEAD_REVISION
    assert [a for a, _, _ in _key_entries(eng)] == ["api_key.created", "api_key.revoked"]
    workspace.verify_audit(eng)
    eng.dispose()


def test_a_write_after_the_writer_closed_is_a_503_and_stores_nothing(service: Any) -> None:
    c, me = service.client, service.auth("member", "e1")
    before = c.get("/api/v1/members/e1/history", headers=me).json()["total"]
    c.app.state.service.writer.close()  # as at shutdown, once requests in flight are done
    body = {"type": "withdraw", "setting": "ai_training_posts"}
    r = c.post("/api/v1/members/e1/consent", json=body, headers=me)
    assert r.status_code == 503 and r.json()["type"] == "WriterClosed"
    assert c.get("/api/v1/members/e1/history", headers=me).json()["total"] == before
