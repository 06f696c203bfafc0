"""Concurrent writers on one ledger, on SQLite and PostgreSQL (issues 16.6 and 17.5).

4 and 8 processes import disjoint events at once: every event is stored exactly once, the
``seq`` numbers are 1..N without gaps, no command fails and none prints a traceback.
Two ``policy publish`` at once cannot both pass the ordering rule against the same
previous version. A writer that cannot get the lock in time exits 1 with a clear
message and writes nothing.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import CliResult, build_args
from workers import environment, run_parallel, run_timed

from consentgate.store import tables as t
from consentgate.store.engine import make_engine

pytestmark = pytest.mark.postgres
Cli = Callable[..., CliResult]
ROUNDS = 3
EVENTS = 25
LONG = os.environ.get("CONSENTGATE_CAMPAIGN") == "long"
# The long campaign's timed run: writers import for this many seconds each (issue 16.6).
TIMED_SECONDS = float(os.environ.get("CONSENTGATE_CAMPAIGN_SECONDS", "60"))
TIMED_EVENTS = 20


def _setup(cli: Cli, examples: Path, tmp_path: Path, members: int) -> None:
    assert cli("init").exit_code == 0
    assert cli("policy", "publish", str(examples / "policy-v1.yaml")).exit_code == 0
    assert cli("policy", "publish", str(examples / "policy-v2.yaml")).exit_code == 0
    rows = "".join(f"m{i},US\n" for i in range(members))
    (tmp_path / "m.csv").write_text("member_id,jurisdiction\n" + rows)
    assert cli("members", "import", str(tmp_path / "m.csv")).exit_code == 0


def _events(path: Path, writer: int, round_: int) -> Path:
    lines = [
        json.dumps(
            {
                "event_id": f"w{writer}-r{round_}-e{i}",
                "member_id": f"m{(writer * 7 + i) % 40}",
                "type": "grant" if i % 2 else "withdraw",
                "setting": "ai_training_posts",
                "policy_version": "v2",
                "effective_at": f"2024-10-{1 + round_:02d}T{i % 24:02d}:{writer:02d}:00Z",
            }
        )
        for i in range(EVENTS)
    ]
    out = path / f"events-{writer}-{round_}.jsonl"
    out.write_text("\n".join(lines) + "\n")
    return out


@pytest.mark.parametrize(
    "writers",
    [4, pytest.param(8, marks=pytest.mark.skipif(not LONG, reason="CONSENTGATE_CAMPAIGN=long"))],
)
def test_concurrent_imports_lose_nothing(
    cli: Cli, db_url: str, examples: Path, tmp_path: Path, writers: int
) -> None:
    _setup(cli, examples, tmp_path, 40)
    jobs = [
        [["consent", "import", str(_events(tmp_path, w, r))] for r in range(ROUNDS)]
        for w in range(writers)
    ]
    outcomes = run_parallel(db_url, jobs, environment(tmp_path / "keys"))
    failed = [o for job in outcomes for o in job if o.code != 0 or "Traceback" in o.stderr]
    assert not failed, failed[:3]
    engine = make_engine(db_url)
    with engine.connect() as conn:
        c = t.consent_events.c
        ids = list(conn.execute(sa.select(c.event_id)).scalars())
        seqs = sorted(conn.execute(sa.select(c.seq)).scalars())
    engine.dispose()
    assert len(ids) == len(set(ids)) == writers * ROUNDS * EVENTS
    assert seqs == list(range(1, len(ids) + 1))
    assert cli("audit", "verify").exit_code == 0


@pytest.mark.skipif(not LONG, reason="timed writers run in the long campaign only")
@pytest.mark.parametrize("writers", [4, 8])
def test_writers_for_a_minute_lose_nothing(
    cli: Cli, db_url: str, examples: Path, tmp_path: Path, writers: int
) -> None:
    """``writers`` processes import batches of fresh events for ``TIMED_SECONDS``: every
    event of a batch that exited 0 is stored exactly once, none of a batch that exited 1
    (which must say the ledger was locked, never a traceback), ``seq`` has no gap and
    ``audit verify`` passes. The counts are printed for docs/reliability.md."""
    _setup(cli, examples, tmp_path, 40)
    work = tmp_path / "timed"
    work.mkdir()
    outcomes = run_timed(
        db_url,
        writers,
        TIMED_SECONDS,
        events=TIMED_EVENTS,
        members=40,
        work_dir=work,
        env=environment(tmp_path / "keys"),
    )
    flat = [o for job in outcomes for o in job]
    broken = [o for o in flat if o.code not in (0, 1) or "Traceback" in o.stderr]
    assert not broken, broken[:3]
    refused = [o for o in flat if o.code == 1]
    assert all("locked by another process" in o.stderr for o in refused), refused[:3]
    acknowledged = {
        f"t{w}-b{b}-e{i}"
        for w, job in enumerate(outcomes)
        for b, o in enumerate(job)
        if o.code == 0
        for i in range(TIMED_EVENTS)
    }
    refused_ids = {
        f"t{w}-b{b}-e{i}"
        for w, job in enumerate(outcomes)
        for b, o in enumerate(job)
        if o.code == 1
        for i in range(TIMED_EVENTS)
    }
    engine = make_engine(db_url)
    with engine.connect() as conn:
        c = t.consent_events.c
        ids = [i for i in conn.execute(sa.select(c.event_id)).scalars() if i.startswith("t")]
        seqs = sorted(conn.execute(sa.select(c.seq)).scalars())
    engine.dispose()
    assert sum(o.added for o in flat) == len(acknowledged)
    assert len(ids) == len(set(ids)) and set(ids) == acknowledged
    assert not refused_ids & set(ids)
    assert seqs == list(range(1, len(seqs) + 1))
    assert cli("audit", "verify").exit_code == 0
    backend = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    print(
        f"timed writers: backend={backend} writers={writers} seconds={TIMED_SECONDS:g} "
        f"commands={len(flat)} ok={len(flat) - len(refused)} locked_exit_1={len(refused)} "
        f"events_acknowledged={len(acknowledged)} events_stored={len(ids)} tracebacks=0",
        file=sys.__stderr__,
    )


def _policy(examples: Path, path: Path, version: str, effective: str) -> Path:
    text = (examples / "policy-v2.yaml").read_text()
    text = text.replace("version: v2", f"version: {version}")
    text = text.replace("published_at: 2024-08-14T00:00:00Z", "published_at: 2025-01-01T00:00:00Z")
    text = text.replace("effective_from: 2024-09-18T00:00:00Z", f"effective_from: {effective}")
    path.write_text(text)
    return path


def test_concurrent_policy_publications_keep_the_order(
    cli: Cli, db_url: str, examples: Path, tmp_path: Path
) -> None:
    """v3 takes effect after v4: published after v4 it is fine, before it v4 is refused.
    Either way the versions stored, in publication order, take effect in order."""
    _setup(cli, examples, tmp_path, 1)
    v3 = _policy(examples, tmp_path / "v3.yaml", "v3", "2025-06-01T00:00:00Z")
    v4 = _policy(examples, tmp_path / "v4.yaml", "v4", "2025-05-01T00:00:00Z")
    outcomes = run_parallel(
        db_url,
        [[["policy", "publish", str(v3)]], [["policy", "publish", str(v4)]]],
        environment(tmp_path / "keys"),
    )
    codes = [job[0].code for job in outcomes]
    assert all("Traceback" not in job[0].stderr for job in outcomes)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        a, p = t.audit_log.c, t.policy_versions.c
        order = list(
            conn.execute(
                sa.select(a.entity_key).where(a.entity == "policy_versions").order_by(a.idx)
            ).scalars()
        )
        effective = dict(conn.execute(sa.select(p.version, p.effective_from)).all())
    engine.dispose()
    dates = [effective[v] for v in order]
    assert dates == sorted(dates) and len(set(dates)) == len(dates), order
    if codes == [0, 0]:
        assert order[-2:] == ["v4", "v3"]
    else:
        assert sorted(codes) == [0, 1] and order[-1] == "v3"
        refused = outcomes[codes.index(1)][0].stderr
        assert "ordering" in refused


def test_a_writer_that_cannot_get_the_lock_exits_1_and_writes_nothing(
    cli: Cli, db_url: str, examples: Path, tmp_path: Path
) -> None:
    _setup(cli, examples, tmp_path, 40)
    holder = make_engine(db_url)
    with holder.begin():  # holds the ledger's write lock for the whole command
        outcomes = run_parallel(
            db_url,
            [[["consent", "import", str(_events(tmp_path, 0, 0))]]],
            environment(tmp_path / "keys", CONSENTGATE_BUSY_TIMEOUT="0.2"),
        )
    holder.dispose()
    result = outcomes[0][0]
    assert result.code == 1 and "Traceback" not in result.stderr
    assert "locked by another process" in result.stderr and "nothing was written" in result.stderr
    assert (
        cli("consent", "import", str(_events(tmp_path, 0, 0)), "--json").json()["added"] == EVENTS
    )


def test_concurrent_remediations_of_one_dataset(
    cli: Cli, db_url: str, world: Path, tmp_path: Path
) -> None:
    """Two ``remediate`` of the same dataset at once: one writes the new version, the other
    exits 1 with a clear message (whichever way they interleave), never a traceback; one
    active version remains and every dataset verifies."""
    built = cli(*build_args(world, tmp_path / "posts", "--json"))
    assert built.exit_code == 0, built.stderr
    dataset = built.json()["dataset_id"]
    r = cli(
        "consent", "record", "u1", "--setting", "ai_training_posts", "--type", "withdraw",
        "--effective-at", "2024-10-05T00:00:00Z", "--event-id", "race-w1",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    outcomes = run_parallel(
        db_url,
        [[["remediate", dataset]], [["remediate", dataset]]],
        environment(tmp_path / "keys"),
    )
    results = [job[0] for job in outcomes]
    assert all("Traceback" not in o.stderr for o in results), results
    assert sorted(o.code for o in results) == [0, 1], results
    loser = next(o for o in results if o.code == 1)
    assert dataset in loser.stderr or "already registered" in loser.stderr, loser.stderr
    active = [d for d in cli("datasets", "--json").json() if d["status"] == "active"]
    assert len(active) == 1 and active[0]["dataset_id"] != dataset
    assert cli("audit", "verify", "--datasets").exit_code == 0
