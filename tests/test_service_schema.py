"""A schemathesis run over the whole OpenAPI spec, in process (ASGI), with a bounded number
of examples per operation: no response is a 5xx, and every response matches the status
codes, content types and schemas the spec declares.

Each operation is called as a role ``authz.RULES`` allows for it (an officer where it can,
else an administrator, a pipeline, a member); a member's token speaks for the member id the
case names (when valid), so member routes are explored past authorization too. The
operations run one after another in one test (schemathesis' pytest fixture loader does not
work with this pytest), each with its own Hypothesis run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from service_world import Service, member_token, settings_for, start

from consentgate import ids, workspace
from consentgate.service.authz import RULES
from consentgate.store.engine import make_engine

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PREFERENCE = ("officer", "admin", "pipeline", "member")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = 8


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("schema")
    db = f"sqlite:///{root / 'ledger.db'}"
    engine = make_engine(db)
    workspace.init_workspace(engine, key_file=root / "keys" / "log.key")
    for v in ("v1", "v2"):
        text = (EXAMPLES / f"policy-{v}.yaml").read_text()
        workspace.publish_policy(engine, text, notice_days=30)
    workspace.import_members(
        engine,
        [{"member_id": "u1", "jurisdiction": "US"}, {"member_id": "e1", "jurisdiction": "EU"}],
    )
    grant = {
        "member_id": "e1",
        "type": "grant",
        "setting": "ai_training_posts",
        "policy_version": "v2",
        "effective_at": "2024-09-20T00:00:00Z",
    }
    workspace.record_event(engine, grant)
    engine.dispose()
    yield from start(
        settings_for(
            db, root, service_write_rate=1e6, service_write_burst=10**6, service_build_root=root
        )
    )


def _headers(service: Service, case: Any) -> dict[str, str]:
    name = case.operation.definition.raw.get("operationId", "")
    allowed = RULES.get(name)
    if allowed is None:  # sessions: authenticate by themselves
        return {"Authorization": f"Bearer {member_token('e1')}"}
    role = next(r for r in PREFERENCE if r in allowed)
    if role != "member":
        return service.auth(role)
    wanted = (case.path_parameters or {}).get("member_id")
    sub = wanted if isinstance(wanted, str) and ids.member_id_problem(wanted) is None else "e1"
    return {"Authorization": f"Bearer {member_token(sub)}"}


def test_api_conforms_to_its_spec(running: Service) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", running.client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    spec = running.client.get("/openapi.json").json()["paths"]
    assert len(operations) == sum(len(ops) for ops in spec.values())  # every operation
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            case.call_and_validate(headers=_headers(running, case), checks=CHECKS)

        run()
