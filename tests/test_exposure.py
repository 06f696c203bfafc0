"""Exposure analysis: re-checking a dataset names the violating records, the members
whose own check failed, and the statutory exposure."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import gate_data as gd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from consentgate.gate.exposure import ExposureReport, audit_dataset
from consentgate.gate.run import build_dataset
from consentgate.snapshot import GRANTS_SCHEMA, MEMBERS_SCHEMA, WITHDRAWN_SCHEMA, ConsentSnapshot

PRIVATE = "user.content.private"
T = datetime(2024, 6, 1, tzinfo=UTC)
EARLY = datetime(2024, 1, 1, tzinfo=UTC)


def snapshot(grants: list[tuple[str, datetime]], withdrawn: Sequence[str] = ()) -> ConsentSnapshot:
    members = ["alice", "bob", "carol", "dave", "erin"]
    return ConsentSnapshot(
        use="train_ai_system",
        recipient="acme-ai",
        as_of=datetime(2025, 1, 1, tzinfo=UTC),
        known_at=datetime(2025, 1, 1, tzinfo=UTC),
        categories=(PRIVATE,),
        policy_versions=("v1",),
        grants=pa.Table.from_pylist(
            [{"member_id": m, "category": PRIVATE, "covers_from": t} for m, t in grants],
            schema=GRANTS_SCHEMA,
        ),
        members=pa.Table.from_pylist(
            [{"member_id": m, "erased": m == "erin"} for m in members], schema=MEMBERS_SCHEMA
        ),
        withdrawn=pa.Table.from_pylist(
            [{"member_id": m, "category": PRIVATE} for m in withdrawn], schema=WITHDRAWN_SCHEMA
        ),
    )


# alice and bob consent from EARLY, carol only from T; dave withdrew; erin is erased
LEDGER = snapshot([("alice", EARLY), ("bob", EARLY), ("carol", T)], withdrawn=["dave"])

MESSAGES = [
    ("ok", "alice", ["bob"], T),
    ("to-dave", "alice", ["bob", "dave"], T),
    ("old-carol", "carol", ["alice"], EARLY),
    ("erin-and-dave", "erin", ["dave", "alice"], T),
    ("stranger", "alice", ["zed"], T),
    ("ok-2", "bob", None, T),
]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "third_party_training_set.parquet"
    pq.write_table(
        pa.table(
            {
                "id": [m[0] for m in MESSAGES],
                "category": [PRIVATE] * len(MESSAGES),
                "author_id": [m[1] for m in MESSAGES],
                "recipient_ids": pa.array([m[2] for m in MESSAGES], pa.list_(pa.string())),
                "created_at": pa.array([m[3] for m in MESSAGES], pa.timestamp("us", tz="UTC")),
            }
        ),
        path,
    )
    return path


def test_violations_name_only_the_members_whose_check_failed(dataset: Path) -> None:
    report = audit_dataset(dataset, snapshot=LEDGER)
    assert report.violations.to_pylist() == [
        {"record_id": "to-dave", "reason": "withdrawn", "members": ["dave"]},
        {"record_id": "old-carol", "reason": "before_consent_scope", "members": ["carol"]},
        {"record_id": "erin-and-dave", "reason": "erased", "members": ["erin", "dave"]},
        {"record_id": "stranger", "reason": "unknown_member", "members": ["zed"]},
    ]
    assert report.affected_members == ("carol", "dave", "erin", "zed")
    assert report.exposure_usd == 4 * 1000
    assert report.records == 6
    assert report.counts == {
        "created_after_build": 0,
        "erased": 1,
        "unknown_member": 1,
        "no_consent": 0,
        "no_consent_counterparty": 0,
        "withdrawn": 1,
        "before_consent_scope": 1,
        "after_as_of": 0,
    }


def test_exposure_uses_the_per_member_amount(dataset: Path) -> None:
    assert audit_dataset(dataset, snapshot=LEDGER, per_member_usd=2500).exposure_usd == 10_000


def test_report_json_document(dataset: Path) -> None:
    document = audit_dataset(dataset, snapshot=LEDGER).to_dict()
    assert json.loads(json.dumps(document)) == document
    assert document["affected_members"] == ["carol", "dave", "erin", "zed"]
    assert document["affected_count"] == 4
    assert document["exposure_usd"] == 4000
    assert document["per_member_usd"] == 1000
    assert document["violating_records"] == len(document["violations"]) == 4
    assert document["violations"][0] == {
        "record_id": "to-dave",
        "reason": "withdrawn",
        "members": ["dave"],
    }


def test_a_clean_dataset_has_no_exposure(dataset: Path) -> None:
    everyone = snapshot([(m, EARLY) for m in ("alice", "bob", "carol", "dave", "zed")])
    everyone = dataclasses.replace(
        everyone,
        members=pa.Table.from_pylist(
            [
                {"member_id": m, "erased": False}
                for m in ("alice", "bob", "carol", "dave", "erin", "zed")
            ],
            schema=MEMBERS_SCHEMA,
        ),
        grants=pa.concat_tables(
            [
                everyone.grants,
                pa.Table.from_pylist(
                    [{"member_id": "erin", "category": PRIVATE, "covers_from": EARLY}],
                    schema=GRANTS_SCHEMA,
                ),
            ]
        ),
    )
    report = audit_dataset(dataset, snapshot=everyone)
    assert report.violations.num_rows == 0
    assert report.affected_members == ()
    assert report.exposure_usd == 0


def test_a_dataset_built_by_the_gate_passes_its_own_snapshot_and_fails_after_a_withdrawal(
    tmp_path: Path,
) -> None:
    records = gd.record_table(gd.RecordSpec(n_records=2_000, n_members=300))
    source = tmp_path / "records.parquet"
    pq.write_table(records, source)
    snap = gd.snapshot(gd.SnapshotSpec(n_members=300))
    built = build_dataset(
        source,
        snapshot=snap,
        out_dir=tmp_path / "ds",
        use=snap.use,
        recipient=snap.recipient,
        as_of=snap.as_of,
    )
    clean = audit_dataset(built.out_dir, snapshot=snap)
    assert clean.records == built.counts.included > 0
    assert clean.violations.num_rows == 0

    # one participant withdraws: every included record they own becomes a violation
    counts = {r["member_id"]: r for r in built.member_counts.to_pylist()}
    member = max(counts, key=lambda m: counts[m]["as_participant"])
    later = dataclasses.replace(
        snap,
        grants=snap.grants.filter(pc.not_equal(snap.grants["member_id"], member)),
        withdrawn=pa.concat_tables(
            [
                snap.withdrawn,
                pa.Table.from_pylist(
                    [{"member_id": member, "category": c} for c in snap.categories],
                    schema=WITHDRAWN_SCHEMA,
                ),
            ]
        ),
    )
    report = audit_dataset(built.out_dir, snapshot=later)
    assert report.affected_members == (member,)
    assert report.exposure_usd == 1000
    assert (
        report.violations.num_rows == counts[member]["as_author"] + counts[member]["as_participant"]
    )
    assert set(report.violations["reason"].to_pylist()) == {"withdrawn"}


def test_a_column_map_applies(dataset: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "renamed.parquet"
    table = pq.read_table(dataset)
    pq.write_table(table.rename_columns(["msg", "kind", "from", "to", "at"]), renamed)
    report = audit_dataset(
        renamed,
        snapshot=LEDGER,
        column_map={
            "id": "msg",
            "category": "kind",
            "author_id": "from",
            "recipient_ids": "to",
            "created_at": "at",
        },
    )
    assert isinstance(report, ExposureReport)
    assert report.violations["record_id"].to_pylist() == [
        "to-dave",
        "old-carol",
        "erin-and-dave",
        "stranger",
    ]
