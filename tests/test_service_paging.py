"""Lists that grow (a member's history, API keys, datasets) are cut into pages in SQL, with
the total counted by the database: walking the pages gives the whole list once, in order."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from consentgate import access, workspace
from consentgate.errors import InvalidInput

E1 = "/api/v1/members/e1"


def _walk(c: Any, path: str, headers: dict[str, str], limit: int) -> tuple[list[Any], list[Any]]:
    """Every item of a paged list, and the pages' (total, next_offset)."""
    items: list[Any] = []
    seen: list[Any] = []
    offset: int | None = 0
    for _ in range(100):  # bounded
        assert offset is not None
        page = c.get(path, params={"limit": limit, "offset": offset}, headers=headers).json()
        assert len(page["items"]) <= limit and page["limit"] == limit
        items.extend(page["items"])
        seen.append((page["total"], page["next_offset"]))
        offset = page["next_offset"]
        if offset is None:
            break
    return items, seen


def test_history_pages_are_cut_in_sql(service: Any) -> None:
    c, me = service.client, service.auth("member", "e1")
    for kind in ("withdraw", "grant", "withdraw", "grant", "withdraw"):
        body = {"type": kind, "setting": "ai_training_posts"}
        if kind == "grant":
            body["policy_version"] = "v2"
        assert c.post(f"{E1}/consent", json=body, headers=me).status_code == 201
    whole = c.get(f"{E1}/history", params={"limit": 1000}, headers=me).json()
    assert whole["total"] == 7 and len(whole["items"]) == 7

    statements: list[str] = []
    engine = c.app.state.service.engine

    def seen(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        items, pages = _walk(c, f"{E1}/history", me, 3)
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert items == whole["items"]  # the same events, once each, oldest first
    assert [i["seq"] for i in items] == sorted(i["seq"] for i in items)
    assert pages == [(7, 3), (7, 6), (7, None)]
    events_queries = [s for s in statements if "FROM consent_events" in s]
    assert events_queries and all(
        "count(" in s.lower() or "LIMIT" in s.upper() for s in events_queries
    )
    beyond = c.get(f"{E1}/history", params={"offset": 50}, headers=me).json()
    assert beyond["items"] == [] and beyond["total"] == 7 and beyond["next_offset"] is None


def test_key_pages(service: Any) -> None:
    c, admin = service.client, service.auth("admin")
    engine = c.app.state.service.engine
    for i in range(4):
        access.create_key(engine, role="pipeline", label=f"extra {i}")
    every = [k.key_id for k in access.list_keys(engine)]
    items, pages = _walk(c, "/api/v1/keys", admin, 2)
    assert [k["key_id"] for k in items] == every and len(every) == 7
    assert all(total == 7 for total, _ in pages) and pages[-1][1] is None
    assert all("key" not in k for k in items)  # never the secret


def test_dataset_pages_and_windows(service: Any) -> None:
    c, officer = service.client, service.auth("officer")
    page = c.get("/api/v1/datasets", params={"limit": 5}, headers=officer).json()
    engine = c.app.state.service.engine
    assert page["total"] == len(workspace.list_datasets(engine))
    with pytest.raises(InvalidInput, match="`limit`"):
        workspace.list_datasets_page(engine, limit=0)
    with pytest.raises(InvalidInput, match="`offset`"):
        workspace.member_history_page(engine, "e1", limit=1, offset=-1)
