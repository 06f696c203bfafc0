"""The pure core of remediation: deadlines, order planning and batching, notices, DSAR page."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consentgate.errors import AuditChainBroken, InvalidInput
from consentgate.policy import Scope
from consentgate.remediation.deadlines import DeadlineRules, add_business_days, deadline_for
from consentgate.remediation.dsar import render_html
from consentgate.remediation.notices import (
    DeletionNotice,
    NoticeDataset,
    record_ref,
    ref_key,
    sign_notice,
    verify_notice,
)
from consentgate.remediation.orders import Holding, ModelFacts, Trigger, batch, plan
from consentgate.tlog.checkpoint import generate_signing_key, load_signer

T0 = datetime(2024, 11, 13, 9, 30, tzinfo=UTC)  # a Wednesday
RULES = DeadlineRules()
POSTS = Scope("train_ai_system", "user.content.public", "first_party")
SHARE = Scope("train_ai_system", "user.content.private", "acme-ai")


# --------------------------------------------------------------------------- deadlines


@given(
    start=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    days=st.integers(min_value=0, max_value=60),
)
def test_business_days_skip_weekends(start: datetime, days: int) -> None:
    end = add_business_days(start, days)
    assert end.weekday() < 5 and end.time() == start.time()
    weekdays = sum(
        (start + timedelta(days=k)).weekday() < 5 for k in range(1, (end - start).days + 1)
    )
    assert weekdays == days or (start.weekday() >= 5 and weekdays == days + 1)


def test_deadlines_follow_the_request_and_jurisdiction() -> None:
    eu = deadline_for("withdraw", "EU", T0, third_party=True, rules=RULES)
    assert eu.due == T0 + timedelta(days=30) and "GDPR Art. 7(3)" in eu.legal_basis
    ca = deadline_for("withdraw", "US-CA", T0, third_party=True, rules=RULES)
    assert ca.due == datetime(2024, 12, 4, 9, 30, tzinfo=UTC)  # 15 business days
    assert "7026(f)" in ca.legal_basis
    first_party = deadline_for("withdraw", "US", T0, third_party=False, rules=RULES)
    assert first_party.due == T0 + timedelta(days=30)
    erase = deadline_for("erase", "UK", T0, third_party=True, rules=DeadlineRules(erasure_days=10))
    assert erase.due == T0 + timedelta(days=10) and "Art. 17" in erase.legal_basis
    with pytest.raises(InvalidInput):
        DeadlineRules(withdrawal_days=0)


# --------------------------------------------------------------------------- planning


def trigger(
    kind: str, member: str, scopes: tuple[Scope, ...] = (POSTS,), jur: str = "EU"
) -> Trigger:
    return Trigger(kind, member, f"ev-{member}-{kind}", scopes, jur, T0)


HOLDINGS = [
    Holding("posts-v1", "train_ai_system", "first_party", "superseded", (1,)),
    Holding("posts-v2", "train_ai_system", "first_party", "active", (1,)),
    Holding("acme", "train_ai_system", "acme-ai", "active", (0, 2)),
    Holding("feed", "personalize.content", "first_party", "active", None),
]
MODELS = {
    "posts-v1": [ModelFacts("lm@v1", "sisa", None)],
    "acme": [
        ModelFacts("partner@v3", "retrain", None),
        ModelFacts("old@v1", "retire", frozenset({3})),
    ],
}
DISCLOSED = {"acme": ["acme-ai"]}


def keys(kind: str, member: str, scopes: tuple[Scope, ...] = (POSTS,)) -> set[tuple[object, ...]]:
    reqs = plan(
        trigger(kind, member, scopes), HOLDINGS, models=MODELS, disclosures=DISCLOSED, rules=RULES
    )
    return {(r.action, *r.key) for r in reqs}


def test_withdrawal_reaches_its_scope_only() -> None:
    assert keys("withdraw", "m") == {
        ("rebuild", "dataset", "posts-v2", 1),
        # a superseded version is not rebuilt, but the model trained on it holds the data
        ("retrain_shard", "model", "lm@v1", 1),
    }
    assert keys("withdraw", "m", (SHARE,)) == {
        ("rebuild", "dataset", "acme", 0),
        ("rebuild", "dataset", "acme", 2),
        ("retrain", "model", "partner@v3", None),
        ("notify", "notice", "acme-ai", None),
        # old@v1 was trained on shard 3 only, which does not hold the member
    }


def test_erasure_reaches_everything() -> None:
    got = keys("erase", "m", ())
    assert ("rebuild", "dataset", "feed", None) in got
    assert ("notify", "notice", "acme-ai", None) in got
    assert len([k for k in got if k[1] == "dataset"]) == 4


@given(
    members=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["EU", "US-CA", "US"])),
        min_size=1,
        max_size=12,
    )
)
def test_batching_gives_one_order_per_key_with_the_earliest_deadline(
    members: list[tuple[str, str]],
) -> None:
    requests = []
    for i, (m, jur) in enumerate(members):
        t = Trigger("withdraw", m, f"e{i}", (SHARE,), jur, T0 + timedelta(days=i))
        requests += plan(t, HOLDINGS, models=MODELS, disclosures=DISCLOSED, rules=RULES)
    orders = batch(requests)
    assert len({o.key for o in orders}) == len(orders)
    for o in orders:
        mine = [r for r in requests if r.key == o.key]
        assert o.deadline == min(r.deadline.due for r in mine)
        assert sorted(e.member_id for e in o.members) == sorted({r.member_id for r in mine})
        for e in o.members:
            assert e.deadline.due == min(r.deadline.due for r in mine if r.member_id == e.member_id)


# --------------------------------------------------------------------------- notices


@pytest.fixture
def signer(tmp_path: Path):  # type: ignore[no-untyped-def]
    generate_signing_key(tmp_path / "k", name="consentgate/test")
    return load_signer(tmp_path / "k")


def notice(refs: tuple[str, ...]) -> DeletionNotice:
    key = ref_key(b"s" * 32, "acme-ai")
    return DeletionNotice(
        notice_id="ntc-1",
        issuer="consentgate/test",
        recipient="acme-ai",
        issued_at=T0,
        deadline=T0 + timedelta(days=30),
        legal_basis=("GDPR Art. 17(1) erasure; Art. 19 notification of recipients",),
        datasets=(NoticeDataset("ds1", tuple(record_ref(key, r) for r in refs)),),
        ref_key=key,
        orders=("ord-1",),
    )


def _strings(value: object) -> list[str]:
    """Every string in a JSON value: object keys and leaves, at any depth."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_notice_signature_verifies_and_any_change_breaks_it(signer) -> None:  # type: ignore[no-untyped-def]
    text = sign_notice(notice(("m1", "m2")), signer)
    body = verify_notice(text, signer.verifier)
    assert body["datasets"][0]["records"] == 2
    # The record ids are in no field of the notice, only their keyed references. (The
    # signature is random-looking base64 that may contain any short string: a check on the
    # whole text failed about once in 60 runs.)
    doc = json.loads(text)
    assert set(doc) == {"notice", "signature"}
    assert not [s for s in _strings(doc["notice"]) if "m1" in s or "m2" in s]
    key = bytes.fromhex(body["ref_key"])
    assert body["datasets"][0]["record_refs"] == sorted(record_ref(key, r) for r in ("m1", "m2"))
    doc["notice"]["datasets"][0]["record_refs"].pop()
    with pytest.raises(AuditChainBroken):
        verify_notice(json.dumps(doc), signer.verifier)
    with pytest.raises(InvalidInput):
        verify_notice('{"notice": {}}', signer.verifier)


def test_record_references_are_per_recipient() -> None:
    secret = b"x" * 32
    a, b = ref_key(secret, "acme-ai"), ref_key(secret, "other")
    assert record_ref(a, "m1") != record_ref(b, "m1")
    assert record_ref(a, "m1") == record_ref(ref_key(secret, "acme-ai"), "m1")


def test_dsar_page_escapes_everything() -> None:
    page = render_html(
        {
            "member_id": "<script>alert(1)</script>",
            "jurisdiction": "EU",
            "generated_at": "now",
            "consents": [{"setting": "s", "label": "a & b", "state": "granted"}],
        }
    )
    assert "<script>" not in page and "&lt;script&gt;" in page and "a &amp; b" in page
    assert page.count("None.") == 5


def test_pseudonymized_owners_cannot_be_read_without_the_workspace_secret() -> None:
    from consentgate.gate.columns import DEFAULT_COLUMNS
    from consentgate.remediation.owners import DatasetOwners

    manifest = {
        "dataset_id": "d" * 64,
        "recipient": "acme-ai",
        "owner_columns": {"treatment": "pseudonymized"},
    }
    with pytest.raises(InvalidInput, match="workspace secret"):
        DatasetOwners(manifest, DEFAULT_COLUMNS, workspace_key=b"", member_ids=())
    kept = DatasetOwners({"dataset_id": "x"}, DEFAULT_COLUMNS, workspace_key=b"", member_ids=())
    assert kept.in_parts and kept.treatment == "kept"
