"""Withdrawals that reach datasets, models and recipients, through the CLI (SQLite and
PostgreSQL): orders with deadlines, batching, dataset remediation, SISA retraining,
signed deletion notices, the member's access report."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from conftest import CliResult
from remediation_world import SHARDS, US, World, logistic, make_world

from consentgate import workspace
from consentgate.gate.run import shard_of
from consentgate.remediation.deadlines import add_business_days
from consentgate.store.engine import make_engine

pytest.importorskip("sklearn")

Cli = Callable[..., CliResult]


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CONSENTGATE_KEY_DIR", str(tmp_path / "keys"))
    return tmp_path / "keys"


@pytest.fixture
def db(db_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def world(cli: Cli, examples: Path, tmp_path: Path, keys: Path) -> World:
    return make_world(cli, examples, tmp_path)


def ok(cli: Cli, *args: str) -> CliResult:
    r = cli(*args)
    assert r.exit_code == 0, (args, r.stdout, r.stderr)
    return r


def orders(cli: Cli, *flags: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = ok(cli, "remediation", "--json", *flags).json()
    return result


def withdraw(cli: Cli, member: str, setting: str = "ai_training_posts") -> None:
    ok(
        cli,
        "consent",
        "record",
        member,
        "--type",
        "withdraw",
        "--setting",
        setting,
        "--effective-at",
        "2024-11-10T00:00:00Z",
    )


def train(db: sa.Engine, world: World, name: str = "topics") -> workspace.Model:
    from consentgate.unlearn import TextFeatures

    return workspace.train_model(
        db,
        name,
        [world.posts],
        features=TextFeatures("text", n_features=2**10),
        label="topic",
        estimator_factory=logistic,
        artifact=world.root / f"{name}-v1",
        seed=7,
        deployed_to=["feed-ranker"],
    )


def rows_of(directory: Path) -> dict[str, Any]:
    table = pq.read_table(directory / "data")  # the parts alone, whatever else is beside them
    return {r["id"]: r for r in table.to_pylist()}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def two_in_one_shard() -> tuple[str, str, int]:
    by_shard: dict[int, list[str]] = {}
    for m in US:
        by_shard.setdefault(shard_of(m, SHARDS), []).append(m)
    shard, members = next((s, ms) for s, ms in sorted(by_shard.items()) if len(ms) >= 2)
    return members[0], members[1], shard


# --------------------------------------------------------------------------- orders


def test_withdrawal_opens_dataset_and_model_orders_with_deadlines(
    cli: Cli, world: World, db: sa.Engine
) -> None:
    model = train(db, world)
    assert not orders(cli)
    withdraw(cli, "e1")
    got = orders(cli)
    shard = shard_of("e1", SHARDS)
    assert {(o["action"], o["target"], o["shard"]) for o in got} == {
        ("rebuild", world.posts, shard),
        ("retrain_shard", model.model_id, shard),
    }
    for o in got:
        assert o["member_ids"] == ["e1"] and o["status"] == "open" and o["triggers"] == ["withdraw"]
        opened = datetime.fromisoformat(o["opened_at"])
        deadline = datetime.fromisoformat(o["deadline"])
        # EU withdrawal: 30 days from when it was recorded
        assert timedelta(days=29, hours=23) < deadline - opened <= timedelta(days=30)
        assert "GDPR" in o["legal_basis"][0]
    # the messages dataset (a different recipient) is not affected by the posts setting
    assert all(o["target"] != world.acme for o in got)


def test_erasure_reaches_third_party_with_a_notice_order(cli: Cli, world: World) -> None:
    ok(cli, "consent", "record", "e2", "--type", "erase", "--effective-at", "2024-11-10T00:00:00Z")
    got = orders(cli)
    kinds = {(o["kind"], o["target"]) for o in got}
    assert ("dataset", world.posts) in kinds and ("dataset", world.acme) in kinds
    assert ("notice", "acme-ai") in kinds
    notice = next(o for o in got if o["kind"] == "notice")
    assert notice["datasets"] == [world.acme] and notice["triggers"] == ["erase"]


def test_us_opt_out_of_sharing_is_due_in_15_business_days(cli: Cli, world: World) -> None:
    withdraw(cli, "c1", "ai_training_messages_partners")
    got = orders(cli)
    assert {o["kind"] for o in got} == {"dataset", "notice"}
    for o in got:
        opened = datetime.fromisoformat(o["opened_at"])
        assert datetime.fromisoformat(o["deadline"]) == add_business_days(opened, 15)
        assert "CCPA" in o["legal_basis"][0]
    assert all(o["target"] != world.posts for o in got)


def test_many_withdrawals_in_one_shard_give_one_order(
    cli: Cli, world: World, db: sa.Engine
) -> None:
    model = train(db, world)
    a, b, shard = two_in_one_shard()
    withdraw(cli, a)
    withdraw(cli, b)
    got = orders(cli)
    assert len(got) == 2
    for o in got:
        assert o["shard"] == shard and o["members"] == 2 and o["member_ids"] == sorted([a, b])
    assert {o["target"] for o in got} == {world.posts, model.model_id}
    # withdrawing twice changes nothing
    withdraw(cli, a)
    assert orders(cli) == got


def test_denial_after_default_on_opens_orders_but_not_without_prior_consent(
    cli: Cli, world: World, db: sa.Engine
) -> None:
    ok(cli, "consent", "record", "u05", "--type", "deny", "--setting", "ai_training_posts")
    got = orders(cli)
    assert [(o["target"], o["member_ids"], o["triggers"]) for o in got] == [
        (world.posts, ["u05"], ["deny"])
    ]
    # an EU member (default off) who never agreed: a denial opens nothing
    (world.root / "x.csv").write_text("member_id,jurisdiction\nx1,EU\n")
    ok(cli, "members", "import", str(world.root / "x.csv"))
    ok(cli, "consent", "record", "x1", "--type", "deny", "--setting", "ai_training_posts")
    assert orders(cli) == got


def test_model_registered_after_a_withdrawal_gets_its_orders(
    cli: Cli, world: World, db: sa.Engine
) -> None:
    withdraw(cli, "e1")
    model = train(db, world)
    got = orders(cli)
    assert ("retrain_shard", model.model_id, shard_of("e1", SHARDS)) in {
        (o["action"], o["target"], o["shard"]) for o in got
    }


def test_models_register_validates_and_lists(cli: Cli, world: World) -> None:
    r = cli("models", "register", "big-llm", "--dataset", world.posts, "--trained-shards", "0,9")
    assert r.exit_code == 1 and "outside 0..3" in r.stderr
    r = cli("models", "register", "big-llm", "--dataset", "nope")
    assert r.exit_code == 1 and "not found" in r.stderr
    ok(
        cli,
        "models",
        "register",
        "big-llm",
        "--dataset",
        world.posts,
        "--dataset",
        world.acme,
        "--trained-shards",
        "0,1",
        "--unlearning",
        "retire",
        "--deployed-to",
        "chat",
    )
    listed = ok(cli, "models", "--json").json()
    assert [(m["model_id"], m["status"], m["trained_shards"], m["datasets"]) for m in listed] == [
        ("big-llm@v1", "active", [0, 1], sorted([world.posts, world.acme]))
    ]
    # a withdrawal of a member outside the trained shards opens no model order
    outside = next(m for m in US if shard_of(m, SHARDS) not in (0, 1))
    withdraw(cli, outside)
    assert {o["kind"] for o in orders(cli)} == {"dataset"}
    inside = next(m for m in US if shard_of(m, SHARDS) in (0, 1))
    withdraw(cli, inside)
    assert ("retire", "big-llm@v1") in {(o["action"], o["target"]) for o in orders(cli)}


def test_disclose_records_and_refuses_the_wrong_recipient(cli: Cli, world: World) -> None:
    r = cli("disclose", world.posts, "--to", "acme-ai")
    assert r.exit_code == 1 and "built for 'first_party'" in r.stderr
    r = cli("disclose", world.acme, "--to", "first_party")
    assert r.exit_code == 1
    row = ok(cli, "disclose", world.acme, "--to", "acme-ai", "--json").json()
    assert row["source"] == "cli" and row["records"] > 0 and row["members"] > 0


# --------------------------------------------------------------------------- remediate


def test_remediate_removes_exactly_the_withdrawn_members_records(
    cli: Cli, world: World, db: sa.Engine
) -> None:
    a, b, shard = two_in_one_shard()
    before = rows_of(world.posts_dir)
    hashes = {p.name: sha(p) for p in world.posts_dir.glob("data/shard-*.parquet")}
    withdraw(cli, a)
    withdraw(cli, b)
    r = ok(cli, "remediate", world.posts, "--as-of", "2024-12-01T00:00:00Z", "--json").json()
    new_dir = Path(r["out"])
    assert new_dir.name == "posts-r1"
    after = rows_of(new_dir)
    removed = set(before) - set(after)
    assert removed == {i for i, row in before.items() if row["author_id"] in (a, b)}
    assert set(after) <= set(before) and r["records_removed"] == len(removed)
    # only the affected shard's part was rewritten; the others are byte-identical
    assert r["shards_touched"] == [shard]
    assert all(p.startswith(f"data/shard-{shard:05d}-") for p in r["parts_rewritten"])
    for p in new_dir.glob("data/shard-*.parquet"):
        if not p.name.startswith(f"shard-{shard:05d}-"):
            assert sha(p) == hashes[p.name]
    manifest = json.loads((new_dir / "manifest.json").read_text())
    assert manifest["supersedes"] == world.posts and "withdraw" in manifest["reason"]
    assert manifest["counts"]["input"] == len(before)
    assert manifest["counts"]["included"] == len(after)
    assert manifest["counts"]["excluded"]["withdrawn"] == len(removed)
    datasets = {d["dataset_id"]: d for d in ok(cli, "datasets", "--json").json()}
    assert datasets[world.posts]["status"] == "superseded"
    assert datasets[r["new_dataset_id"]]["status"] == "active"
    assert datasets[r["new_dataset_id"]]["supersedes"] == world.posts
    assert not orders(cli)
    done = orders(cli, "--all")
    assert {o["status"] for o in done} == {"done"}
    assert done[0]["evidence"]["records_removed"] == len(removed)
    # impact: the member is gone from the current version, still listed in the old one
    impact = ok(cli, "impact", a, "--json").json()["datasets"]
    assert [d["dataset_id"] for d in impact] == [world.posts]
    # a superseded version cannot be remediated again
    r2 = cli("remediate", world.posts)
    assert r2.exit_code == 1 and r["new_dataset_id"] in r2.stderr
    assert ok(cli, "audit", "verify").exit_code == 0


def test_remediate_with_nothing_to_remove_writes_nothing(cli: Cli, world: World) -> None:
    r = ok(cli, "remediate", world.posts, "--as-of", "2024-11-02T00:00:00Z", "--json").json()
    assert r["new_dataset_id"] is None and r["records_removed"] == 0
    assert not (world.root / "posts-r1").exists()


def test_remediate_purge_waits_for_notices_then_deletes_old_files(cli: Cli, world: World) -> None:
    ok(cli, "consent", "record", "e2", "--type", "erase")
    r = cli("remediate", world.acme, "--purge")
    assert r.exit_code == 1 and "notices send" in r.stderr
    ok(cli, "notices", "send")
    r = ok(cli, "remediate", world.acme, "--purge", "--json").json()
    assert r["purged"] and not world.acme_dir.exists() and Path(r["out"]).is_dir()
    datasets = {d["dataset_id"]: d for d in ok(cli, "datasets", "--json").json()}
    assert datasets[world.acme]["status"] == "purged"
    # a later erasure: the recipient still holds the purged version, whose records can no
    # longer be listed here, so it is asked to delete all of it
    ok(cli, "consent", "record", "e3", "--type", "erase")
    (sent,) = ok(cli, "notices", "send", "--json").json()
    body = json.loads(Path(sent["path"]).read_text())["notice"]
    assert body["datasets"] == [
        {"dataset_id": world.acme, "all_records": True, "superseded_by": r["new_dataset_id"]}
    ]
    rows = rows_of(Path(r["out"]))
    assert rows and all(
        row["author_id"] != "e2" and "e2" not in (row["recipient_ids"] or [])
        for row in rows.values()
    )


# --------------------------------------------------------------------------- retrain


def test_retrain_touches_only_affected_shards_and_equals_training_from_scratch(
    cli: Cli, world: World, db: sa.Engine
) -> None:
    import numpy as np

    from consentgate.unlearn import TextFeatures, load_model, train_shards

    model = train(db, world)
    a, b, shard = two_in_one_shard()
    withdraw(cli, a)
    withdraw(cli, b)
    r = cli("retrain", model.model_id)
    assert r.exit_code == 1 and "remediate" in r.stderr  # the dataset comes first
    new_ds = ok(cli, "remediate", world.posts, "--as-of", "2024-12-01T00:00:00Z", "--json").json()
    out = ok(cli, "retrain", model.model_id, "--json").json()
    assert out["action"] == "retrained" and out["new_model_id"] == "topics@v2"
    ev = out["evidence"]
    assert ev["shards_retrained"] == [shard] and ev["shard_count"] == SHARDS
    assert ev["rows_trained"] < ev["rows_total"]
    assert 0 <= ev["accuracy_after"] <= 1 and ev["accuracy_before"] is not None
    assert ev["wall_seconds"] > 0
    old, new = load_model(world.root / "topics-v1"), load_model(Path(out["artifact"]))
    scratch = train_shards(
        sorted(str(p) for p in Path(new_ds["out"]).glob("data/shard-*.parquet")),
        features=TextFeatures("text", n_features=2**10),
        label="topic",
        estimator_factory=logistic,
        seed=7,
        shards=SHARDS,
    )
    for i in range(SHARDS):
        if i == shard:
            assert new.shards[i].fingerprint != old.shards[i].fingerprint
            assert new.shards[i].fingerprint == scratch.shards[i].fingerprint
            assert np.array_equal(new.shards[i].estimator.coef_, scratch.shards[i].estimator.coef_)
        else:  # untouched shards are the very same fitted estimators
            assert np.array_equal(new.shards[i].estimator.coef_, old.shards[i].estimator.coef_)
    listed = {m["model_id"]: m for m in ok(cli, "models", "--json").json()}
    assert listed["topics@v1"]["status"] == "superseded"
    assert listed["topics@v2"]["status"] == "active"
    assert listed["topics@v2"]["datasets"] == [new_ds["new_dataset_id"]]
    assert listed["topics@v2"]["evidence"]["shards_retrained"] == [shard]
    assert not orders(cli)
    assert ok(cli, "audit", "verify").exit_code == 0


def test_retire_tier_retires_the_model(cli: Cli, world: World) -> None:
    ok(cli, "models", "register", "old-llm", "--dataset", world.posts, "--unlearning", "retire")
    withdraw(cli, "e1")
    ok(cli, "remediate", world.posts, "--as-of", "2024-12-01T00:00:00Z")
    out = ok(cli, "retrain", "old-llm@v1", "--json").json()
    assert out["action"] == "retired"
    assert ok(cli, "models", "--json").json()[0]["status"] == "retired"
    assert not orders(cli)


# --------------------------------------------------------------------------- notices


def test_notice_is_signed_pseudonymous_and_ack_clears_overdue(
    cli: Cli, world: World, db: sa.Engine, keys: Path
) -> None:
    from consentgate.errors import AuditChainBroken
    from consentgate.gate.owners import pseudonym, recipient_key
    from consentgate.remediation.notices import record_ref, verify_notice
    from consentgate.store.audit import workspace_secret
    from consentgate.tlog.checkpoint import load_signer

    # an erasure recorded 40 days ago: its orders are overdue already
    workspace.record_event(
        db,
        {"member_id": "e2", "type": "erase", "effective_at": "2024-11-10T00:00:00Z"},
        recorded_at=datetime.now(UTC) - timedelta(days=40),
    )
    overdue = orders(cli, "--overdue")
    assert {o["kind"] for o in overdue} == {"dataset", "notice"}
    sent = ok(cli, "notices", "send", "--json").json()
    assert [s["recipient"] for s in sent] == ["acme-ai"]
    path = Path(sent[0]["path"])
    assert path.parent == keys / "outbox"
    text = path.read_text()
    body = verify_notice(text, load_signer(keys / "log.key").verifier)
    assert body["recipient"] == "acme-ai" and body["datasets"][0]["dataset_id"] == world.acme
    # the third party's dataset holds e2's pseudonym, never "e2": the notice still finds them
    with db.connect() as conn:
        e2 = pseudonym(recipient_key(workspace_secret(conn), "acme-ai"), "e2")
    held = [
        rid
        for rid, row in rows_of(world.acme_dir).items()
        if row["author_id"] == e2 or e2 in (row["recipient_ids"] or [])
    ]
    key = bytes.fromhex(body["ref_key"])
    assert body["datasets"][0]["record_refs"] == sorted(record_ref(key, i) for i in held)
    assert held and sent[0]["records"] == len(held)
    # neither the member nor the record ids appear anywhere in the notice
    assert all(f'"{x}"' not in text for x in ["e2", *held])
    tampered = text.replace(body["deadline"], "2099-01-01T00:00:00Z")
    with pytest.raises(AuditChainBroken):
        verify_notice(tampered, load_signer(keys / "log.key").verifier)
    listed = ok(cli, "notices", "--json").json()
    assert [n["status"] for n in listed] == ["overdue"]
    assert ok(cli, "notices", "send", "--json").json() == []  # nothing left to send
    ok(cli, "notices", "ack", sent[0]["notice_id"], "--note", "deleted 2024-12-02")
    assert [n["status"] for n in ok(cli, "notices", "--json").json()] == ["acknowledged"]
    assert {o["kind"] for o in orders(cli, "--overdue")} == {"dataset"}
    assert cli("notices", "ack", "ntc-nope").exit_code == 1
    assert ok(cli, "audit", "verify").exit_code == 0


# --------------------------------------------------------------------------- DSAR


def test_dsar_lists_consents_holders_and_orders(cli: Cli, world: World, db: sa.Engine) -> None:
    model = train(db, world)
    withdraw(cli, "e1")
    ok(cli, "consent", "record", "e1", "--type", "erase")
    ok(cli, "remediate", world.posts, "--as-of", "2024-12-01T00:00:00Z")
    doc = ok(cli, "report", "dsar", "e1", "--json").json()
    assert doc["member_id"] == "e1" and doc["jurisdiction"] == "EU"
    states = {c["setting"]: c["state"] for c in doc["consents"]}
    assert states["ai_training_posts"] == "erased"
    assert [e["type"] for e in doc["events"]] == ["grant", "grant", "withdraw", "erase"]
    held = {d["dataset_id"]: d for d in doc["datasets"]}
    assert set(held) == {world.posts, world.acme}
    assert held[world.posts]["status"] == "superseded" and not held[world.posts]["holds_now"]
    assert [m["model_id"] for m in doc["models"]] == [model.model_id]
    assert {r["recipient"] for r in doc["recipients"]} == {"acme-ai"}
    kinds = {(o["kind"], o["target"], o["status"]) for o in doc["remediation"]}
    assert ("dataset", world.posts, "done") in kinds
    assert ("dataset", world.acme, "open") in kinds
    assert ("model", model.model_id, "open") in kinds
    assert ("notice", "acme-ai", "open") in kinds
    # nothing about other members
    text = json.dumps(doc)
    assert all(f'"{m}"' not in text for m in ["e0", "e2", "c1", *US])
    html = ok(cli, "report", "dsar", "e1", "--html").stdout
    assert html.startswith("<!doctype html>") and world.posts in html and "<script" not in html
    assert cli("report", "dsar", "nobody").exit_code == 1


# --------------------------------------------------------------------------- policy


def test_policy_version_dropping_a_scope_opens_orders(
    cli: Cli, world: World, db: sa.Engine, examples: Path
) -> None:
    v2 = (examples / "policy-v2.yaml").read_text()
    v3 = v2.replace("version: v2", "version: v3").replace(
        "published_at: 2024-08-14T00:00:00Z", "published_at: 2024-12-01T00:00:00Z"
    )
    v3 = v3.replace("effective_from: 2024-09-18T00:00:00Z", "effective_from: 2025-01-15T00:00:00Z")
    cut = v3.index("  - id: ai_training_messages_partners")
    (world.root / "v3.yaml").write_text(v3[:cut])
    ok(cli, "policy", "publish", str(world.root / "v3.yaml"))
    published = datetime(2024, 12, 1, tzinfo=UTC)
    opened = workspace.open_for_policy(db, "v2", "v3", now=lambda: published)
    got = {(o["kind"], o["target"], o["shard"]): o for o in orders(cli)}
    assert len(opened) == len(got) == 2
    assert set(got) == {("dataset", world.acme, None), ("notice", "acme-ai", None)}
    for o in got.values():
        assert o["triggers"] == ["policy"] and o["members"] == 0
        # consent for the scope ends when v3 takes effect; 30 days from then
        assert o["deadline"] == "2025-02-14T00:00:00Z"
    # v2 dropped nothing of v1; and the order of a dropped scope is opened once
    assert workspace.open_for_policy(db, "v1", "v2") == []
    workspace.open_for_policy(db, "v2", "v3", now=lambda: published)
    assert len(orders(cli)) == 2


def test_an_artifact_must_match_the_datasets_it_claims(
    cli: Cli, world: World, db: sa.Engine
) -> None:
    train(db, world)
    r = cli(
        "models",
        "register",
        "other",
        "--dataset",
        world.acme,
        "--artifact",
        str(world.root / "topics-v1"),
    )
    assert r.exit_code == 1 and "not trained on these datasets" in r.stderr
    ok(
        cli,
        "models",
        "register",
        "copy",
        "--dataset",
        world.posts,
        "--artifact",
        str(world.root / "topics-v1"),
    )
