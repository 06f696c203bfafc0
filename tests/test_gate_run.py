"""The local gate runner: what a build writes, that it is atomic and reproducible, and
that bad sources are refused naming the file, line or column."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import gate_data as gd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from consentgate.errors import InvalidInput, SchemaMismatch
from consentgate.gate.batch import ELIGIBLE, REASON, evaluate, prepare
from consentgate.gate.manifest import dataset_id_of, read_manifest
from consentgate.gate.run import (
    BuildResult,
    build_dataset,
    conversation_key,
    parallel_workers,
    shard_of,
)
from consentgate.snapshot import ConsentSnapshot
from consentgate.tlog.merkle import leaf_hash, root_from_leaf_hashes

SPEC = gd.RecordSpec(n_records=3_000, n_members=400, unknown_fraction=0.01)
SNAPSHOT = gd.snapshot(gd.SnapshotSpec(n_members=400))
MANIFEST_KEYS = {
    "dataset_id",
    "use",
    "recipient",
    "as_of",
    "policy_versions",
    "snapshot_sha256",
    "sources",
    "counts",
    "files",
    "records_root",
    "columns",
    "owner_columns",
}


@pytest.fixture(scope="module")
def records() -> pa.Table:
    return gd.record_table(SPEC)


@pytest.fixture
def source(tmp_path: Path, records: pa.Table) -> Path:
    path = tmp_path / "records.parquet"
    pq.write_table(records, path, row_group_size=700)
    return path


def build(
    source: Path | str, out: Path, snapshot: ConsentSnapshot = SNAPSHOT, **kw: Any
) -> BuildResult:
    return build_dataset(
        source,
        snapshot=snapshot,
        out_dir=out,
        use=snapshot.use,
        recipient=snapshot.recipient,
        as_of=snapshot.as_of,
        **kw,
    )


def read_parts(result: BuildResult) -> pa.Table:
    return pa.concat_tables(
        [pq.read_table(result.out_dir / f["path"]) for f in result.manifest["files"]]
    )


def expected_included(records: pa.Table, snapshot: ConsentSnapshot = SNAPSHOT) -> pa.Table:
    out = evaluate(records.combine_chunks().to_batches()[0], prepare(snapshot))
    return (
        pa.Table.from_batches([out]).filter(out.column(ELIGIBLE)).drop_columns([ELIGIBLE, REASON])
    )


def merkle_root(ids: list[str]) -> str:
    leaves = [leaf_hash(i.encode()) for i in sorted(ids, key=str.encode)]
    return root_from_leaf_hashes(leaves).hex()


# -------------------------------------------------------------------- what it writes


def test_build_writes_exactly_the_eligible_records_in_order(
    source: Path, records: pa.Table, tmp_path: Path
) -> None:
    result = build(source, tmp_path / "ds", batch_rows=64)
    parts = read_parts(result)
    expected = expected_included(records)
    assert parts.num_rows == expected.num_rows > 0
    assert parts.cast(expected.schema).equals(expected)
    assert len(result.manifest["files"]) >= 2  # a part per block of 16 * 64 source records
    first = pq.ParquetFile(result.out_dir / result.manifest["files"][0]["path"]).metadata
    assert first.num_row_groups == -(-first.num_rows // 64)  # row groups of 64 rows


def test_manifest_has_the_documented_keys_and_counts_add_up(
    source: Path, records: pa.Table, tmp_path: Path
) -> None:
    result = build(source, tmp_path / "ds")
    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    assert manifest == result.manifest
    assert set(manifest) == MANIFEST_KEYS
    counts = manifest["counts"]
    assert (
        counts["input"] == records.num_rows == counts["included"] + sum(counts["excluded"].values())
    )
    reasons = Counter(
        evaluate(records.combine_chunks().to_batches()[0], prepare(SNAPSHOT))
        .column(REASON)
        .to_pylist()
    )
    assert counts["included"] == reasons[None]
    assert {k: v for k, v in counts["excluded"].items() if v} == {
        k: v for k, v in reasons.items() if k
    }
    assert set(counts["excluded"]) >= {
        "erased",
        "unknown_member",
        "no_consent",
        "no_consent_counterparty",
        "withdrawn",
        "before_consent_scope",
    }
    assert manifest["as_of"] == "2025-06-01T00:00:00Z"
    assert manifest["snapshot_sha256"] == SNAPSHOT.sha256
    assert manifest["policy_versions"] == list(SNAPSHOT.policy_versions)
    assert manifest["sources"] == [
        {
            "path": str(source),
            "bytes": source.stat().st_size,
            "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        }
    ]
    for f in manifest["files"]:
        data = (result.out_dir / f["path"]).read_bytes()
        assert f["sha256"] == hashlib.sha256(data).hexdigest()
        assert f["rows"] == pq.ParquetFile(result.out_dir / f["path"]).metadata.num_rows
    assert manifest["records_root"] == merkle_root(read_parts(result)["id"].to_pylist())
    assert manifest["dataset_id"] == dataset_id_of(manifest)
    assert read_manifest(result.out_dir) == manifest
    raw = (result.out_dir / "manifest.json").read_text()
    assert raw == json.dumps(manifest, sort_keys=True, indent=2) + "\n"
    assert result.manifest_sha256 == hashlib.sha256(raw.encode()).hexdigest()


def test_member_counts_match_the_included_records(source: Path, tmp_path: Path) -> None:
    result = build(source, tmp_path / "ds")
    authors: Counter[str] = Counter()
    participants: Counter[str] = Counter()
    for row in read_parts(result).to_pylist():
        authors[row["author_id"]] += 1
        for member in set(row["recipient_ids"] or []) - {row["author_id"]}:
            participants[member] += 1
    table = result.member_counts
    assert table["member_id"].to_pylist() == sorted(set(authors) | set(participants))
    assert {r["member_id"]: (r["as_author"], r["as_participant"]) for r in table.to_pylist()} == {
        m: (authors[m], participants[m]) for m in set(authors) | set(participants)
    }
    assert table["shards"].null_count == table.num_rows


def test_progress_reports_rows_done(source: Path, records: pa.Table, tmp_path: Path) -> None:
    calls: list[tuple[int, int | None]] = []
    build(source, tmp_path / "ds", batch_rows=500, progress=lambda d, t: calls.append((d, t)))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert calls[-1] == (records.num_rows, records.num_rows)
    assert len(calls) == 6


# ----------------------------------------------------------- atomic and reproducible


def test_same_inputs_give_the_same_bytes_and_dataset_id(source: Path, tmp_path: Path) -> None:
    first = build(source, tmp_path / "a", shards=4)
    second = build(source, tmp_path / "b", shards=4)
    assert first.dataset_id == second.dataset_id
    names = sorted(str(p.relative_to(first.out_dir)) for p in first.out_dir.rglob("*"))
    assert names == sorted(str(p.relative_to(second.out_dir)) for p in second.out_dir.rglob("*"))
    for name in names:
        if (first.out_dir / name).is_file():
            assert (first.out_dir / name).read_bytes() == (second.out_dir / name).read_bytes()


def test_parts_do_not_depend_on_how_the_source_was_chunked(
    source: Path, records: pa.Table, tmp_path: Path
) -> None:
    other = tmp_path / "other.parquet"
    pq.write_table(records, other, row_group_size=123)
    a = build(source, tmp_path / "a", batch_rows=300)
    b = build(other, tmp_path / "b", batch_rows=300)
    assert a.manifest["files"] == b.manifest["files"]
    assert a.manifest["sources"] != b.manifest["sources"]
    assert a.dataset_id != b.dataset_id  # the source fingerprints are part of the id


def test_another_as_of_gives_another_dataset_id(source: Path, tmp_path: Path) -> None:
    later = dataclasses.replace(SNAPSHOT, as_of=SNAPSHOT.as_of + timedelta(days=1))
    assert (
        build(source, tmp_path / "a").dataset_id != build(source, tmp_path / "b", later).dataset_id
    )


def test_refuses_an_existing_out_dir(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(InvalidInput, match="already exists"):
        build(source, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


class ExplodingRedactor:
    def __init__(self) -> None:
        self.calls = 0

    def apply(self, texts: pa.Array, participants: pa.Array | None) -> Any:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("redactor crashed")
        return FakeResult(texts, pa.nulls(len(texts), pa.string()), {}, {})


def test_a_failed_build_leaves_nothing_behind(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    with pytest.raises(RuntimeError, match="redactor crashed"):
        build(source, out, redactor=ExplodingRedactor(), batch_rows=200)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records.parquet"]


def test_a_killed_build_leaves_nothing_at_out_dir(tmp_path: Path, records: pa.Table) -> None:
    source = tmp_path / "big.parquet"
    pq.write_table(pa.concat_tables([records] * 4), source)
    out = tmp_path / "ds"
    marker = tmp_path / "progress"
    script = f"""
import sys, time, pathlib
sys.path.insert(0, {str(Path(__file__).parent)!r})
import gate_data as gd
from consentgate.gate.run import build_dataset
snap = gd.snapshot(gd.SnapshotSpec(n_members=400))
marker = pathlib.Path({str(marker)!r})
def progress(done, total):
    if done >= 3000:
        marker.write_text(str(done))
        time.sleep(120)
build_dataset({str(source)!r}, snapshot=snap, out_dir={str(out)!r}, use=snap.use,
              recipient=snap.recipient, as_of=snap.as_of, batch_rows=250, progress=progress)
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "the build ended before it could be killed"
            assert time.monotonic() < deadline, "the build never got going"
            time.sleep(0.05)
        temp = [p for p in tmp_path.iterdir() if p.name.startswith(".ds.tmp-") and p.is_dir()]
        assert len(temp) == 1 and any(temp[0].glob("data/part-*.parquet"))  # really mid-way
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()


# ------------------------------------------------------------------------- sharding


def test_shards_follow_the_author_hash(source: Path, tmp_path: Path) -> None:
    result = build(source, tmp_path / "ds", shards=5)
    rows = read_parts(result).to_pylist()
    assert rows and all(r["shard"] == shard_of(r["author_id"], 5) for r in rows)
    for f in result.manifest["files"]:
        shard = int(f["path"].split("-")[1])
        assert set(pq.read_table(result.out_dir / f["path"])["shard"].to_pylist()) == {shard}
    owned: dict[str, set[int]] = {}
    for r in rows:
        for member in {r["author_id"], *(r["recipient_ids"] or [])}:
            owned.setdefault(member, set()).add(r["shard"])
    table = result.member_counts
    assert {r["member_id"]: r["shards"] for r in table.to_pylist()} == {
        m: sorted(s) for m, s in owned.items()
    }
    shards = result.manifest["shards"]
    assert shards["n"] == 5 and shards["by"] == "author"
    assignment = pq.read_table(result.out_dir / "shards.parquet")
    assert shards["assignment"] == {
        "path": "shards.parquet",
        "sha256": hashlib.sha256((result.out_dir / "shards.parquet").read_bytes()).hexdigest(),
    }
    pairs = sorted((m, s) for m, ss in owned.items() for s in ss)
    assert (
        list(zip(assignment["member_id"].to_pylist(), assignment["shard"].to_pylist(), strict=True))
        == pairs
    )
    assert shards["members"] == {str(s): n for s, n in sorted(Counter(s for _, s in pairs).items())}


def test_conversation_shards_keep_a_conversation_together(source: Path, tmp_path: Path) -> None:
    result = build(source, tmp_path / "ds", shards=7, shard_by="conversation")
    rows = read_parts(result).to_pylist()
    assert rows
    for r in rows:
        key = conversation_key([r["author_id"], *(r["recipient_ids"] or [])])
        assert r["shard"] == shard_of(key, 7)
    assert result.manifest["shards"]["by"] == "conversation"


def test_shard_of_is_stable() -> None:
    """Pinned values: changing the hash would move every member to another shard."""
    assert shard_of("alice", 1000) == 207
    assert shard_of("m0000001", 8) == 3
    assert shard_of("alice\x1fbob", 7) == 6
    assert conversation_key(["bob", "alice", "bob"]) == "alice\x1fbob"


# ------------------------------------------------------------------------ redaction


@dataclass(frozen=True)
class FakeResult:
    texts: pa.Array
    excluded: pa.Array
    redactions: dict[str, int]
    exclusions: dict[str, int]


class SalaryRedactor:
    def apply(self, texts: pa.Array, participants: pa.Array | None) -> FakeResult:
        hit = pc.match_substring(texts, "salary")
        return FakeResult(
            texts=pc.utf8_upper(texts),
            excluded=pc.if_else(hit, "sensitive_content:employment", pa.scalar(None, pa.string())),
            redactions={"SALARY_WORD": len(texts)},
            exclusions={"employment": pc.sum(hit).as_py() or 0},
        )


def test_a_redactor_redacts_and_excludes(source: Path, tmp_path: Path) -> None:
    plain = build(source, tmp_path / "plain")
    result = build(source, tmp_path / "ds", redactor=SalaryRedactor())
    counts = result.manifest["counts"]
    excluded = counts["excluded"]["sensitive_content:employment"]
    assert excluded > 0
    assert counts["included"] + excluded == plain.manifest["counts"]["included"]
    assert result.manifest["exclusions"] == {"employment": excluded}
    assert result.manifest["redactions"] == {"SALARY_WORD": plain.manifest["counts"]["included"]}
    texts = read_parts(result)["text"].to_pylist()
    assert all(t == t.upper() and "SALARY" not in t for t in texts)


NAMES = ("Jane Doe", "Omar Haddad", "Lucia Romero", "Kenji Tanaka", "Amara Okafor")


def name_of(member: str) -> str:
    return NAMES[int(member[1:]) % len(NAMES)]


def email_of(member: str) -> str:
    return f"{name_of(member).lower().replace(' ', '.')}{int(member[1:])}@example.com"


def personal_texts(records: pa.Table) -> pa.Array:
    """Texts naming the author and mailing them, with pay amounts and health content."""
    texts = []
    for i, (author, text) in enumerate(
        zip(records["author_id"].to_pylist(), records["text"].to_pylist(), strict=True)
    ):
        clauses = [f"Hi {name_of(author)}, write to {email_of(author)}.", text[:80]]
        if i % 7 == 0:
            clauses.append(f"My salary is ${100 + i % 50},000 now.")
        if i % 11 == 0:
            clauses.append("I was diagnosed with diabetes last year.")
        texts.append(" ".join(clauses))
    return pa.array(texts, pa.string())


def test_parallel_redaction_writes_the_same_bytes_as_serial(
    records: pa.Table, tmp_path: Path
) -> None:
    from consentgate.redact import Directory, Redactor

    table = records.set_column(
        records.schema.get_field_index("text"), "text", personal_texts(records)
    )
    path = tmp_path / "personal.parquet"
    pq.write_table(table, path, row_group_size=700)
    members = gd.member_ids(SPEC.n_members).to_pylist()
    redactor = Redactor(
        directory=Directory(members, [name_of(m) for m in members], [email_of(m) for m in members])
    )
    serial = build(path, tmp_path / "serial", redactor=redactor, batch_rows=50, workers=1)
    parallel = build(path, tmp_path / "parallel", redactor=redactor, batch_rows=50, workers=2)
    # the redactor really worked: names, emails and amounts replaced, health excluded
    redactions = serial.manifest["redactions"]
    assert redactions["PERSON"] > 0 and redactions["EMAIL_ADDRESS"] > 0
    assert redactions["compensation"] > 0
    assert serial.manifest["exclusions"]["health"] > 0
    texts = read_parts(serial)["text"].to_pylist()
    assert not any("@example.com" in t or "diabetes" in t for t in texts)
    assert parallel.dataset_id == serial.dataset_id
    assert parallel.manifest == serial.manifest
    assert len(serial.manifest["files"]) > 1  # 60 batches, more than one part
    for f in serial.manifest["files"]:
        assert (parallel.out_dir / f["path"]).read_bytes() == (
            serial.out_dir / f["path"]
        ).read_bytes()
    assert parallel.member_counts.equals(serial.member_counts)


def test_a_failing_worker_fails_the_build_and_leaves_nothing(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    with pytest.raises(RuntimeError, match="redactor crashed"):
        build(source, out, redactor=ExplodingRedactor(), batch_rows=200, workers=2)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records.parquet"]


def test_worker_count() -> None:
    redactor = SalaryRedactor()
    assert parallel_workers(4, redactor=None) == 1
    assert parallel_workers(3, redactor=redactor) == 3
    assert parallel_workers(None, redactor=redactor) == 1
    assert parallel_workers(None, redactor=redactor, batches=9) == 1


@dataclass(frozen=True)
class NerRedactor(SalaryRedactor):
    """A redactor with an NER backend: costly per text, so spread over processes."""

    ner: object = "a backend"


def test_worker_count_with_ner_is_one_per_core_when_there_is_more_than_one_batch() -> None:
    redactor = NerRedactor()
    assert parallel_workers(None, redactor=redactor, batches=1) == 1
    assert parallel_workers(None, redactor=redactor, batches=64) == os.cpu_count()
    assert parallel_workers(None, redactor=redactor, batches=2) == min(2, os.cpu_count() or 1)
    assert parallel_workers(1, redactor=redactor, batches=64) == 1


def test_manifest_says_how_names_were_found(source: Path, tmp_path: Path) -> None:
    from consentgate.redact import Directory, Redactor

    directory = Directory(["m0000001"], ["Jane Doe"])
    with_directory = build(source, tmp_path / "a", redactor=Redactor(directory=directory))
    assert with_directory.manifest["redaction"] == {"names_found_by": ["directory", "cues"]}
    plain = build(source, tmp_path / "b", redactor=SalaryRedactor())
    assert "redaction" not in plain.manifest  # a redactor that does not describe itself
    assert with_directory.dataset_id == dataset_id_of(with_directory.manifest)


@pytest.mark.slow  # spawns two workers that each load spaCy: ~10-20 s on 2 shared cores
def test_parallel_build_with_ner_writes_the_same_bytes_as_serial(
    records: pa.Table, tmp_path: Path
) -> None:
    from consentgate.redact import Redactor
    from consentgate.redact.ner import default_ner

    ner = default_ner()
    if ner is None:
        pytest.skip("the ner extra is not installed")
    head = records.slice(0, 60)
    texts = [
        f"Yesterday I met Rohan Mehta in Lagos about {t[:40]}" if i % 2 else t[:60]
        for i, t in enumerate(head["text"].to_pylist())
    ]
    table = head.set_column(head.schema.get_field_index("text"), "text", pa.array(texts))
    path = tmp_path / "named.parquet"
    pq.write_table(table, path)
    redactor = Redactor(ner=ner)
    serial = build(path, tmp_path / "serial", redactor=redactor, batch_rows=20, workers=1)
    parallel = build(path, tmp_path / "parallel", redactor=redactor, batch_rows=20)
    assert serial.manifest["redaction"]["names_found_by"] == ["cues", "ner"]
    assert set(serial.manifest["redaction"]["ner"]["models"]) >= {"en"}
    if serial.counts.included:
        assert not any("Rohan" in t for t in read_parts(serial)["text"].to_pylist())
    assert parallel.dataset_id == serial.dataset_id
    assert parallel.manifest == serial.manifest


def test_workers_must_be_positive(source: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="workers: must be positive, got 0"):
        build(source, tmp_path / "ds", redactor=SalaryRedactor(), workers=0)


# ---------------------------------------------------------------- sources and schemas


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w") as f:
        for row in rows:
            f.write(json.dumps(row, default=lambda t: t.isoformat().replace("+00:00", "Z")) + "\n")


def test_a_jsonl_source_gives_the_same_dataset_records(
    records: pa.Table, source: Path, tmp_path: Path
) -> None:
    path = tmp_path / "records.jsonl"
    write_jsonl(path, records.to_pylist())
    from_jsonl = build(path, tmp_path / "j")
    from_parquet = build(source, tmp_path / "p")
    assert from_jsonl.manifest["records_root"] == from_parquet.manifest["records_root"]
    assert from_jsonl.manifest["counts"] == from_parquet.manifest["counts"]
    assert read_parts(from_jsonl).to_pylist() == read_parts(from_parquet).to_pylist()


def test_a_column_map_reads_renamed_columns_and_keeps_their_names(
    records: pa.Table, source: Path, tmp_path: Path
) -> None:
    names = ["message_id", "kind", "sender", "to", "sent_at", "body"]
    renamed = tmp_path / "renamed.parquet"
    pq.write_table(records.rename_columns(names), renamed)
    column_map = dict(zip(records.column_names, names, strict=True))
    mapped = build(renamed, tmp_path / "m", column_map=column_map)
    plain = build(source, tmp_path / "p")
    assert mapped.manifest["records_root"] == plain.manifest["records_root"]
    assert read_parts(mapped).column_names == names


def test_a_directory_source_reads_files_in_name_order(records: pa.Table, tmp_path: Path) -> None:
    directory = tmp_path / "dir"
    (directory / "b").mkdir(parents=True)
    pq.write_table(records.slice(0, 1000), directory / "a.parquet")
    pq.write_table(records.slice(1000, 1000), directory / "b" / "x.parquet")
    pq.write_table(records.slice(2000), directory / "c.parquet")
    (directory / "_SUCCESS").write_text("")
    (directory / ".hidden.parquet").write_text("not parquet")
    result = build(directory, tmp_path / "ds")
    assert read_parts(result).cast(records.schema).equals(expected_included(records))
    assert [s["path"] for s in result.manifest["sources"]] == [
        str(directory / "a.parquet"),
        str(directory / "b" / "x.parquet"),
        str(directory / "c.parquet"),
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop_columns(["category"]), r"column 'category' is missing"),
        (
            lambda t: t.set_column(4, "created_at", t["created_at"].cast(pa.timestamp("us"))),
            r"column 'created_at' has type timestamp\[us\] but needs a timestamp with a timezone",
        ),
        (
            lambda t: t.set_column(3, "recipient_ids", pa.nulls(t.num_rows, pa.list_(pa.int64()))),
            r"column 'recipient_ids' has type list<element: int64> but needs a list of strings",
        ),
        (
            lambda t: t.set_column(2, "author_id", pa.array(range(t.num_rows))),
            r"column 'author_id' has type int64 but needs a string",
        ),
    ],
    ids=["missing", "naive-timestamp", "recipients-not-strings", "author-not-string"],
)
def test_a_bad_schema_is_refused_naming_file_and_column(
    records: pa.Table, tmp_path: Path, change: Any, message: str
) -> None:
    bad = tmp_path / "bad.parquet"
    pq.write_table(change(records), bad)
    with pytest.raises(SchemaMismatch, match=message) as info:
        build(bad, tmp_path / "ds")
    assert str(bad) in str(info.value)
    assert not (tmp_path / "ds").exists()


def test_a_mapped_column_is_named_with_its_mapping(source: Path, tmp_path: Path) -> None:
    with pytest.raises(
        SchemaMismatch, match=r"column 'sent_at' \(mapped from 'created_at'\) is missing"
    ):
        build(source, tmp_path / "ds", column_map={"created_at": "sent_at"})


def test_files_with_different_schemas_are_refused(records: pa.Table, tmp_path: Path) -> None:
    directory = tmp_path / "dir"
    directory.mkdir()
    pq.write_table(records, directory / "a.parquet")
    pq.write_table(records.drop_columns(["text"]), directory / "b.parquet")
    with pytest.raises(
        SchemaMismatch, match=r"b\.parquet: column 'text' is missing \(present in .*a\.parquet\)"
    ):
        build(directory, tmp_path / "ds")


def test_null_record_ids_are_refused(records: pa.Table, tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    ids = records["id"].to_pylist()
    ids[5] = None
    pq.write_table(records.set_column(0, "id", pa.array(ids, pa.string())), bad)
    with pytest.raises(InvalidInput, match="null values"):
        build(bad, tmp_path / "ds")


def test_duplicate_record_ids_are_refused(records: pa.Table, tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.concat_tables([records, records]), bad)
    with pytest.raises(InvalidInput, match="duplicate record ids"):
        build(bad, tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            '{"id": "r2", "category": "user.content.public", "author_id": "m1", "created_at": "2024-01-01T00:00:00Z"',
            "not valid JSON",
        ),
        (
            '{"id": "r2", "category": "user.content.public", "author_id": "m1", "created_at": "2024-01-01T00:00:00"}',
            "has no timezone",
        ),
        (
            '{"id": 2, "category": "user.content.public", "author_id": "m1", "created_at": "2024-01-01T00:00:00Z"}',
            "'id' must be a string",
        ),
        (
            '{"id": "r2", "category": "user.content.public", "author_id": "m1", "recipient_ids": "m2", "created_at": "2024-01-01T00:00:00Z"}',
            "must be a list of strings",
        ),
        (
            '{"id": "r2", "category": "user.content.public", "author_id": "m1", "created_at": "yesterday"}',
            "invalid timestamp",
        ),
    ],
    ids=["json", "naive", "id-type", "recipients-type", "bad-time"],
)
def test_a_bad_jsonl_line_is_refused_naming_file_and_line(
    tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "records.jsonl"
    good = '{"id": "r%d", "category": "user.content.public", "author_id": "m1", "created_at": "2024-01-01T00:00:00Z"}'
    path.write_text("\n".join([good % 0, good % 1, "", line, good % 3]) + "\n")
    with pytest.raises(InvalidInput, match=message) as info:
        build(path, tmp_path / "ds")
    assert f"{path}:4:" in str(info.value)


def test_a_snapshot_for_another_scope_is_refused(source: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="the snapshot is for 'first_party'"):
        build_dataset(
            source,
            snapshot=SNAPSHOT,
            out_dir=tmp_path / "ds",
            use=SNAPSHOT.use,
            recipient="acme-ai",
            as_of=SNAPSHOT.as_of,
        )


# ------------------------------------------------------ the cutoff and the build time


BUILT = gd.AS_OF + timedelta(days=30)
AT_BUILD = dataclasses.replace(SNAPSHOT, as_of=BUILT, known_at=BUILT)


def test_records_after_the_cutoff_are_out_and_after_the_build_are_bad_input(
    records: pa.Table, tmp_path: Path
) -> None:
    eligible = set(expected_included(records)["id"].to_pylist())
    ids = records["id"].to_pylist()
    rows = [i for i, record_id in enumerate(ids) if record_id in eligible][:5]
    created = records["created_at"].to_pylist()
    for n, i in enumerate(rows):
        # three after the cutoff, two after the build (bad input)
        created[i] = gd.AS_OF + timedelta(days=1) if n < 3 else BUILT + timedelta(seconds=1)
    path = tmp_path / "late.parquet"
    pq.write_table(records.set_column(4, "created_at", pa.array(created, gd.TS)), path)
    result = build(path, tmp_path / "ds", at_build=AT_BUILD, max_future_share=0.01)
    excluded = result.manifest["counts"]["excluded"]
    assert excluded["after_as_of"] == 3 and excluded["created_after_build"] == 2
    kept = set(read_parts(result)["id"].to_pylist())
    assert kept == eligible - {ids[i] for i in rows}
    assert result.manifest["built_at"] == "2025-07-01T00:00:00Z"
    assert result.manifest["build_snapshot"]["sha256"] == AT_BUILD.sha256
    with pytest.raises(InvalidInput, match=r"2 of 3000 records .* after the build time"):
        build(path, tmp_path / "refused", at_build=AT_BUILD, max_future_share=0.0005)
    assert not (tmp_path / "refused").exists()


def test_corrupted_created_at_bytes_admit_no_record(records: pa.Table, tmp_path: Path) -> None:
    """Flip a high byte of some created_at values in the file itself (plain encoding,
    no compression): a time pushed about 143 years ahead is after the build time (bad
    input, counted, never admitted); one pushed to year 294,000 or before 1970 is outside
    the timestamp range and refuses the build, naming the file, the row and the column."""
    path = tmp_path / "records.parquet"
    pq.write_table(
        records,
        path,
        compression="none",
        use_dictionary=False,
        column_encoding={"created_at": "PLAIN"},
        write_statistics=False,
    )
    clean = build(path, tmp_path / "clean", at_build=AT_BUILD)
    included = read_parts(clean)["id"].to_pylist()
    original = path.read_bytes()
    data = bytearray(original)
    stamps = {r["id"]: r["created_at"] for r in records.to_pylist()}

    def offset(record_id: str) -> int:
        micros = int(stamps[record_id].timestamp() * 1_000_000)
        raw = micros.to_bytes(8, "little", signed=True)
        assert data.count(raw) == 1
        return data.index(raw)

    corrupted = included[:20]
    for record_id in corrupted:
        data[offset(record_id) + 6] ^= 0x10  # + 2**52 microseconds: about 143 years ahead
    path.write_bytes(bytes(data))
    result = build(path, tmp_path / "ds", at_build=AT_BUILD, max_future_share=1.0)
    assert not set(read_parts(result)["id"].to_pylist()) & set(corrupted)
    assert result.counts.included == clean.counts.included - len(corrupted)
    assert result.manifest["counts"]["excluded"]["created_after_build"] == 20
    with pytest.raises(InvalidInput, match="after the build time"):
        build(path, tmp_path / "refused", at_build=AT_BUILD, max_future_share=0.001)
    assert not (tmp_path / "refused").exists()
    rows = records.column("id").to_pylist()
    for flip in (0x40, 0x80):  # about year 294,000; before 1970
        data = bytearray(original)
        victim = included[5]
        data[offset(victim) + 7] ^= flip
        path.write_bytes(bytes(data))
        out = tmp_path / f"out-of-range-{flip}"
        with pytest.raises(InvalidInput) as info:
            build(path, out, at_build=AT_BUILD, max_future_share=1.0)
        where = f"{path}: row {rows.index(victim) + 1}, column 'created_at': timestamp out of range"
        assert where in str(info.value)
        assert not out.exists()


def test_a_build_time_withdrawal_excludes_and_the_id_ignores_the_clock(
    source: Path, tmp_path: Path
) -> None:
    """Consent at the build time, not the wall clock, is a decision input: the same
    consent at another build time gives the same dataset id."""
    later = dataclasses.replace(AT_BUILD, as_of=BUILT + timedelta(days=9))
    a = build(source, tmp_path / "a", at_build=AT_BUILD)
    b = build(source, tmp_path / "b", at_build=later)
    assert a.manifest["built_at"] != b.manifest["built_at"] and a.dataset_id == b.dataset_id
    plain = build(source, tmp_path / "plain")
    gone = plain.member_counts["member_id"][0].as_py()
    withdrawn = pa.concat_tables(
        [
            AT_BUILD.withdrawn,
            pa.table(
                {"member_id": [gone] * 2, "category": list(SNAPSHOT.categories)},
                schema=AT_BUILD.withdrawn.schema,
            ),
        ]
    )
    grants = AT_BUILD.grants.filter(pc.not_equal(AT_BUILD.grants["member_id"], gone))
    left = dataclasses.replace(AT_BUILD, grants=grants, withdrawn=withdrawn)
    c = build(source, tmp_path / "c", at_build=left)
    assert c.dataset_id != a.dataset_id
    assert gone not in c.member_counts["member_id"].to_pylist()
    held = plain.member_counts.filter(pc.equal(plain.member_counts["member_id"], gone))
    assert c.manifest["counts"]["excluded"]["withdrawn"] >= held["as_author"][0].as_py()


# ----------------------------------------------------------------------------- layout


def test_the_data_directory_holds_the_parts_alone(source: Path, tmp_path: Path) -> None:
    pandas = pytest.importorskip("pandas")
    import pyarrow.dataset as ds

    result = build(source, tmp_path / "ds", shards=3, batch_rows=100)
    data = result.out_dir / "data"
    expected = read_parts(result)
    assert sorted(p.name for p in result.out_dir.iterdir()) == [
        "data",
        "manifest.json",
        "shards.parquet",
    ]
    assert pq.read_table(data).num_rows == expected.num_rows
    assert ds.dataset(data, format="parquet").to_table().schema == expected.schema
    assert len(pandas.read_parquet(data)) == expected.num_rows
    globbed = pa.concat_tables([pq.read_table(p) for p in sorted(data.glob("*.parquet"))])
    assert globbed.schema == expected.schema and globbed.num_rows == expected.num_rows
    assert {f["path"].split("/")[0] for f in result.manifest["files"]} == {"data"}


def test_a_dataset_without_records_has_one_empty_part_with_the_schema(
    source: Path, records: pa.Table, tmp_path: Path
) -> None:
    nobody = dataclasses.replace(SNAPSHOT, grants=SNAPSHOT.grants.slice(0, 0))
    result = build(source, tmp_path / "ds", nobody)
    assert result.counts.included == 0
    assert [(f["path"], f["rows"]) for f in result.manifest["files"]] == [
        ("data/part-00000.parquet", 0)
    ]
    table = pq.read_table(result.out_dir / "data")
    assert table.num_rows == 0 and table.schema.names == records.schema.names


# ------------------------------------------------------------- the canonical part layout


@pytest.mark.parametrize("shards", [None, 3])
def test_parts_follow_the_canonical_block_layout(
    source: Path, records: pa.Table, tmp_path: Path, shards: int | None
) -> None:
    """Part k (of shard s) holds exactly the included records of source records
    [16k G, 16(k+1) G) (of shard s), in source order, in row groups of G rows."""
    rows = 40  # G; blocks of 640 source records
    result = build(source, tmp_path / "out", batch_rows=rows, shards=shards)
    gated = evaluate(records.combine_chunks().to_batches()[0], prepare(SNAPSHOT))
    eligible = gated[ELIGIBLE].to_numpy(zero_copy_only=False)
    ids = records["id"].to_pylist()
    expected: dict[str, list[str]] = {}
    for position, (record_id, ok) in enumerate(zip(ids, eligible, strict=True)):
        if not ok:
            continue
        block = position // (16 * rows)
        name = f"data/part-{block:05d}.parquet"
        if shards is not None:
            author = records["author_id"][position].as_py()
            name = f"data/shard-{shard_of(author, shards):05d}-part-{block:05d}.parquet"
        expected.setdefault(name, []).append(record_id)
    assert [f["path"] for f in result.manifest["files"]] == sorted(expected)
    for f in result.manifest["files"]:
        part = pq.ParquetFile(tmp_path / "out" / f["path"])
        assert part.read(columns=["id"])["id"].to_pylist() == expected[f["path"]]
        groups = [part.metadata.row_group(i).num_rows for i in range(part.num_row_groups)]
        assert all(n == rows for n in groups[:-1]) and 0 < groups[-1] <= rows


def test_spilled_record_ids_give_the_same_root(tmp_path: Path, records: pa.Table) -> None:
    from consentgate.gate.manifest import records_root
    from consentgate.gate.record_ids import RecordIds

    ids = records["id"].combine_chunks()
    spilled = RecordIds(tmp_path / "scratch", run_ids=256)
    for start in range(0, len(ids), 100):
        spilled.add(ids.slice(start, 100))
    assert len(spilled.runs) > 5
    assert spilled.root() == records_root(ids)
    assert not (tmp_path / "scratch").exists()
    again = RecordIds(tmp_path / "scratch", run_ids=256)
    again.add(ids)
    again.add(ids.slice(2_000, 1))  # one duplicate, in another run
    with pytest.raises(InvalidInput, match="1 duplicate record ids"):
        again.root()
