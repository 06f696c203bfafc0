"""The officer's API over a world with a third-party dataset (tests/remediation_world.py):
reports (CSV and JSON, the same bytes as the CLI), exposure by jurisdiction and statute,
datasets' members and disclosures, remediation, the audit log, erasure, policy publication
and builds started over HTTP."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from remediation_world import CA, EU, US, World, make_world
from service_world import Service, settings_for, start

from consentgate import workspace
from consentgate.store.engine import make_engine

Cli = Any


@pytest.fixture
def world(cli: Cli, examples: Path, tmp_path: Path) -> World:
    return make_world(cli, examples, tmp_path)


@pytest.fixture
def officer(world: World, db_url: str, tmp_path: Path) -> Iterator[Service]:
    yield from start(settings_for(db_url, tmp_path, service_build_root=tmp_path))


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _acme_members(db_url: str, dataset_id: str) -> list[str]:
    engine = make_engine(db_url)
    try:
        return workspace.dataset_member_ids(engine, dataset_id)
    finally:
        engine.dispose()


def _expected_amount(member: str) -> Decimal:
    if member in CA:
        return Decimal(6000)  # the federal statute and California's
    if member in US:
        return Decimal(1000)
    assert member in EU
    return Decimal(0)  # no statute with an amount per person is configured for the EU


def test_disclosures_report_answers_the_officers_question(
    officer: Service, world: World, db_url: str, cli: Cli
) -> None:
    h = officer.auth("officer")
    r = officer.client.get("/api/v1/reports/disclosures?recipient=acme-ai", headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = _csv(r.text)
    members = _acme_members(db_url, world.acme)
    assert members  # the world's third-party dataset holds somebody
    assert sorted(row["member_id"] for row in rows) == sorted(members)
    for row in rows:
        assert row["recipient"] == "acme-ai"
        assert row["dataset_id"] == world.acme
        assert row["policy_versions"]  # the versions the dataset's snapshot was taken under
        assert Decimal(row["exposure"]) == _expected_amount(row["member_id"]), row
        assert int(row["records"]) >= 1
    # the same bytes as the command line
    out = cli("report", "disclosures", "--recipient", "acme-ai")
    assert out.exit_code == 0, out.stderr
    assert out.stdout == r.text
    # JSON: the same rows
    j = officer.client.get("/api/v1/reports/disclosures?format=json", headers=h).json()
    assert j["report"] == "disclosures"
    assert [x["member_id"] for x in j["rows"]] == [x["member_id"] for x in rows]


def test_exposure_by_jurisdiction_and_statute(officer: Service, world: World, db_url: str) -> None:
    members = _acme_members(db_url, world.acme)
    r = officer.client.get("/api/v1/reports/exposure", headers=officer.auth("officer"))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["members"] == len(members)
    cells = {(x["jurisdiction"], x["statute"]): x for x in doc["by_statute"]}
    n_us = sum(m in US for m in members)
    n_ca = sum(m in CA for m in members)
    n_eu = sum(m in EU for m in members)
    if n_us:
        assert cells[("US", "us_sca")]["members"] == n_us
    if n_ca:
        assert cells[("US-CA", "us_sca")]["members"] == n_ca
        assert cells[("US-CA", "us_ca_cipa")]["amount"] == str(n_ca * 5000)
    if n_eu:
        assert cells[("EU", "none")]["amount"] == "0"
    assert Decimal(doc["totals"].get("USD", "0")) == sum(_expected_amount(m) for m in members)
    csv_rows = _csv(
        officer.client.get(
            "/api/v1/reports/exposure?format=csv", headers=officer.auth("officer")
        ).text
    )
    assert len(csv_rows) == len(doc["by_statute"])


def test_exposure_amounts_come_from_the_configured_schedule(
    world: World, db_url: str, tmp_path: Path
) -> None:
    schedule = tmp_path / "statutes.yaml"
    schedule.write_text(
        "statutes:\n"
        "  - id: eu_estimate\n    name: Our estimate under GDPR Art. 82\n"
        "    jurisdictions: [EU]\n    per_member: 250.50\n    currency: EUR\n"
    )
    members = _acme_members(db_url, world.acme)
    for svc in start(settings_for(db_url, tmp_path, exposure_statutes=schedule)):
        doc = svc.client.get("/api/v1/reports/exposure", headers=svc.auth("officer")).json()
    n_eu = sum(m in EU for m in members)
    totals = {k: Decimal(v) for k, v in doc["totals"].items()}
    assert totals == ({"EUR": Decimal("250.50") * n_eu} if n_eu else {})
    assert doc["schedule"]["source"] == str(schedule)


def test_a_bad_schedule_is_refused_naming_file_line_and_field(cli: Cli, tmp_path: Path) -> None:
    from consentgate.errors import InvalidInput
    from consentgate.gate.statutes import parse_schedule

    text = "statutes:\n  - id: ok\n    name: A\n    jurisdictions: [US]\n    per_member: 1\n    currency: USD\n  - id: bad\n    name: B\n    jurisdictions: [us]\n    per_member: -3\n    currency: USD\n"
    with pytest.raises(InvalidInput) as caught:
        parse_schedule(text, name="s.yaml")
    assert "s.yaml:7: statutes[1].jurisdictions" in str(caught.value)
    assert "s.yaml:7: statutes[1].per_member" in str(caught.value)


def test_members_and_disclosures_of_a_dataset(officer: Service, world: World, db_url: str) -> None:
    h = officer.auth("officer")
    members = _acme_members(db_url, world.acme)
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        r = officer.client.get(
            f"/api/v1/datasets/{world.acme}/members?limit=4&offset={offset}", headers=h
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == len(members)
        seen += [m["member_id"] for m in body["items"]]
        offset = body["next_offset"]
    assert seen == sorted(members)
    d = officer.client.get(f"/api/v1/datasets/{world.acme}/disclosures", headers=h).json()
    assert [x["recipient"] for x in d["items"]] == ["acme-ai"]
    assert (
        officer.client.get(f"/api/v1/datasets/{world.posts}/disclosures", headers=h).json()["total"]
        == 0
    )
    missing = "0" * 64
    assert (
        officer.client.get(f"/api/v1/datasets/{missing}/disclosures", headers=h).status_code == 404
    )
    recipients = officer.client.get("/api/v1/recipients", headers=h).json()["items"]
    assert [(x["recipient"], x["members"]) for x in recipients] == [("acme-ai", len(members))]
    # the whole list as a download, the same as the CLI's
    rows = _csv(
        officer.client.get(f"/api/v1/reports/dataset-members?dataset={world.acme}", headers=h).text
    )
    assert [r["member_id"] for r in rows] == sorted(members)


def test_consent_events_export(officer: Service, world: World, cli: Cli) -> None:
    h = officer.auth("officer")
    rows = _csv(officer.client.get("/api/v1/reports/consent-events", headers=h).text)
    assert len(rows) == len(EU + CA) * 2  # the world's grants
    assert {r["type"] for r in rows} == {"grant"}
    only = _csv(
        officer.client.get(
            "/api/v1/reports/consent-events?setting=ai_training_posts", headers=h
        ).text
    )
    assert len(only) == len(EU + CA)
    late = officer.client.get(
        "/api/v1/reports/consent-events?since=2999-01-01T00:00:00Z&format=json", headers=h
    )
    assert late.json()["rows"] == []
    bad = officer.client.get("/api/v1/reports/consent-events?since=yesterday", headers=h)
    assert bad.status_code == 422 and "since" in bad.text and "yesterday" not in bad.text
    out = cli("report", "events", "--format", "json")
    assert (
        json.loads(out.stdout)["rows"]
        == json.loads(
            officer.client.get("/api/v1/reports/consent-events?format=json", headers=h).text
        )["rows"]
    )


def test_remediation_after_an_erasure(officer: Service, world: World, db_url: str) -> None:
    h = officer.auth("officer")
    members = _acme_members(db_url, world.acme)
    target = members[0]
    assert officer.client.get("/api/v1/remediation/orders", headers=h).json()["total"] == 0
    wrong = officer.client.post(
        f"/api/v1/members/{target}/erasure", json={"confirm": "someone-else"}, headers=h
    )
    assert wrong.status_code == 422 and "body.confirm" in wrong.text
    r = officer.client.post(
        f"/api/v1/members/{target}/erasure",
        json={"confirm": target, "event_id": "ev-erase-1"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    again = officer.client.post(
        f"/api/v1/members/{target}/erasure",
        json={"confirm": target, "event_id": "ev-erase-1"},
        headers=h,
    )
    assert again.status_code == 200 and again.json()["event_id"] == "ev-erase-1"
    status = officer.client.get(
        f"/api/v1/members/{target}/status?setting=ai_training_posts", headers=h
    ).json()
    assert status["state"] == "erased"
    orders = officer.client.get("/api/v1/remediation/orders", headers=h).json()["items"]
    assert {o["target"] for o in orders} >= {world.acme}
    assert all(not o["overdue"] for o in orders)
    notices = officer.client.get("/api/v1/remediation/notices", headers=h)
    assert notices.status_code == 200 and notices.json()["total"] == 0  # none sent yet


def test_audit_verify_and_checkpoints(officer: Service) -> None:
    h = officer.auth("officer")
    status = officer.client.get("/api/v1/audit/verify", headers=h).json()
    assert status["ok"] is True and status["problem"] is None
    assert status["entries"] > 0
    made = officer.client.post("/api/v1/audit/checkpoints", headers=h)
    assert made.status_code in (200, 201), made.text
    same = officer.client.post("/api/v1/audit/checkpoints", headers=h)
    assert same.status_code == 200 and same.json()["created"] is False
    latest = officer.client.get(
        "/api/v1/audit/checkpoints/latest", headers=officer.auth("member", "e1")
    )
    assert latest.status_code == 200
    assert latest.json()["number"] == same.json()["number"]
    assert latest.json()["size"] == status["entries"] or latest.json()["size"] >= status["entries"]


def test_a_broken_log_is_reported_not_raised(officer: Service, db_url: str) -> None:
    import sqlalchemy as sa

    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET action = :a WHERE idx = 3"), {"a": "x"})
    engine.dispose()
    status = officer.client.get("/api/v1/audit/verify", headers=officer.auth("admin")).json()
    assert status["ok"] is False and status["problem"]


def test_policy_publish(officer: Service, examples: Path) -> None:
    h = officer.auth("admin")
    text = (examples / "policy-v2.yaml").read_text()
    again = officer.client.post("/api/v1/policies", json={"text": text}, headers=h)
    assert again.status_code == 200 and again.json() == {
        "version": "v2",
        "created": False,
        "changes": again.json()["changes"],
    }
    bad = officer.client.post("/api/v1/policies", json={"text": "version: [\n"}, headers=h)
    assert bad.status_code == 422 and "body.text" in bad.text
    v3 = text.replace("version: v2", "version: v3").replace("2024-09-15", "2099-01-01")
    created = officer.client.post("/api/v1/policies", json={"text": v3}, headers=h)
    assert created.status_code in (201, 422), created.text
    listed = [
        p["version"] for p in officer.client.get("/api/v1/policies", headers=h).json()["items"]
    ]
    assert ("v3" in listed) == (created.status_code == 201)


def _wait(svc: Service, build_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = svc.client.get(f"/api/v1/builds/{build_id}", headers=svc.auth("pipeline")).json()
        if job["status"] in ("succeeded", "failed"):
            return dict(job)
        time.sleep(0.2)
    raise AssertionError("build did not finish")


def test_a_build_over_http(officer: Service, world: World) -> None:
    h = officer.auth("pipeline")
    body = {
        "source": world.source.name,
        "out": "over-http",
        "use": "train_ai_system",
        "recipient": "first_party",
        "as_of": "2024-11-01T00:00:00Z",
        "redact": False,
    }
    r = officer.client.post("/api/v1/builds", json=body, headers=h)
    assert r.status_code == 202, r.text
    job = _wait(officer, r.json()["build_id"])
    assert job["status"] == "succeeded", job
    assert job["progress"]["done"] == job["progress"]["total"] or job["progress"]["total"] is None
    # the same inputs as the world's first-party build, without redaction: a new dataset
    datasets = officer.client.get("/api/v1/datasets", headers=h).json()["items"]
    assert job["result"]["dataset_id"] in {d["dataset_id"] for d in datasets}
    listed = officer.client.get("/api/v1/builds", headers=officer.auth("officer")).json()
    assert listed["items"][0]["build_id"] == job["build_id"]
    # a failing build reports its error
    again = officer.client.post(
        "/api/v1/builds", json={**body, "recipient": "nobody-co"}, headers=h
    )
    failed = _wait(officer, again.json()["build_id"])
    assert failed["status"] == "failed" and failed["error"]["type"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"source": "../../etc/passwd"}, "body.source"),
        ({"source": "/etc/passwd"}, "body.source"),
        ({"source": "no-such-file.parquet"}, "body.source"),
        ({"out": "../elsewhere"}, "body.out"),
        ({"shards": 0}, "body.shards"),
        ({"as_of": "soon"}, "body.as_of"),
    ],
)
def test_bad_build_requests_name_the_field(
    officer: Service, world: World, change: dict[str, Any], field: str
) -> None:
    body = {
        "source": world.source.name,
        "out": "x",
        "use": "train_ai_system",
        "recipient": "first_party",
        **change,
    }
    r = officer.client.post("/api/v1/builds", json=body, headers=officer.auth("pipeline"))
    assert r.status_code == 422, r.text
    assert field in r.text
    assert (
        officer.client.get("/api/v1/builds", headers=officer.auth("pipeline")).json()["total"] == 0
    )


def test_builds_over_http_are_off_without_a_root(service: Service, world: Any) -> None:
    body = {
        "source": "records.jsonl",
        "out": "x",
        "use": "train_ai_system",
        "recipient": "first_party",
    }
    r = service.client.post("/api/v1/builds", json=body, headers=service.auth("pipeline"))
    assert r.status_code == 409 and "service_build_root" in r.text


def test_report_commands(cli: Cli, world: World, db_url: str, tmp_path: Path) -> None:
    members = _acme_members(db_url, world.acme)
    out = tmp_path / "out" / "members.csv"
    done = cli("report", "members", world.acme[:12], "--out", str(out))
    assert done.exit_code == 0, done.stderr
    assert [r["member_id"] for r in _csv(out.read_text())] == sorted(members)
    exposure = cli("report", "exposure", "--json")
    assert exposure.exit_code == 0, exposure.stderr
    assert exposure.json()["members"] == len(members)
    table = cli("report", "exposure")
    assert f"{len(members)} members in 1 disclosures to 1 recipients" in table.stdout
    recipients = cli("report", "recipients", "--json").json()
    assert [(r["recipient"], r["members"]) for r in recipients] == [("acme-ai", len(members))]
    bad = tmp_path / "bad.yaml"
    bad.write_text("statutes: [1]\n")
    refused = cli("report", "exposure", "--statutes", str(bad))
    assert refused.exit_code == 1 and "statutes[0]" in refused.stderr
    audit = cli(
        "audit-dataset",
        str(world.acme_dir),
        "--use",
        "train_ai_system",
        "--recipient",
        "acme-ai",
        "--as-of",
        "2024-11-01T00:00:00Z",
        "--json",
    )
    doc = json.loads(audit.stdout)
    assert "by_statute" in doc and "exposure_totals" in doc
    assert (
        sum(r["members"] for r in doc["by_statute"] if r["statute"] == "us_sca")
        + sum(r["members"] for r in doc["by_statute"] if r["statute"] == "none")
        == doc["affected_count"]
    )


def test_csv_cells_that_look_like_formulas_are_quoted() -> None:
    from consentgate.report_files import csv_text

    text = "".join(csv_text(("a", "b"), [("=cmd()", "@x"), ("plain", None)]))
    assert text == "a,b\r\n'=cmd(),'@x\r\nplain,\r\n"
