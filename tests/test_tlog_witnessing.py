"""Witnesses on loopback: checkpoints published only with the quorum, cosigned receipts
checked by an independent verifier, and a platform that shows two histories caught."""

from __future__ import annotations

import base64
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from conftest import CliResult
from independent_verifier import Invalid
from independent_verifier import verify_receipt as independent_verify
from witnesses import RunningWitness, policy_text, running_witnesses

from consentgate import audit
from consentgate.checkpoint import parse_verifier_key
from consentgate.store import tables as t
from consentgate.store.engine import make_engine
from consentgate.tlog.note import open_note
from consentgate.tlog.witness import (
    AddCheckpoint,
    new_cosigner_key,
    origin_hash,
    parse_cosigner_key,
)
from consentgate.witness_server import WitnessState

Cli = Callable[..., CliResult]


def _public(cli: Cli, tmp_path: Path) -> tuple[str, Path]:
    text = cli("audit", "public-key").stdout.strip()
    path = tmp_path / "log.pub"
    path.write_text(text + "\n")
    return text, path


def _policy(tmp_path: Path, log_key: str, ws: list[RunningWitness], **kw: int) -> Path:
    path = tmp_path / "policy.txt"
    path.write_text(policy_text([log_key], ws, **kw))
    return path


def _grant(cli: Cli, member: str, setting: str = "ai_training_posts") -> None:
    res = cli("consent", "record", member, "--type", "deny", "--setting", setting)
    assert res.exit_code == 0, res.stderr


def _state_size(w: RunningWitness, origin: str) -> int | None:
    seen = WitnessState(w.state).get(origin)
    return None if seen is None else seen.size


def test_publication_needs_the_quorum_and_receipts_carry_it(
    cli: Cli, world: Path, tmp_path: Path
) -> None:
    log_key, public = _public(cli, tmp_path)
    origin = parse_verifier_key(log_key).name
    out = tmp_path / "pub"
    with running_witnesses(tmp_path, [log_key], count=3) as ws:
        # a fourth witness in the policy that nobody runs: a closed loopback port
        nobody = parse_cosigner_key(new_cosigner_key("witness.test/dead"))
        dead = RunningWitness(
            "witness.test/dead", nobody, _closed_port_url(), ws[0].state, ws[0].server
        )
        all_four = _policy(tmp_path, log_key, [*ws, dead])  # quorum: all four
        res = cli("log", "publish", str(out), "--policy", str(all_four), "--timeout", "3", "--json")
        assert res.exit_code == 1 and "lacks the policy's quorum" in res.stderr
        assert not (out / "checkpoint").exists()
        outcomes = res.json()["outcomes"]
        assert [outcomes[f"w{i}"]["cosigned"] for i in range(3)] == [True, True, True]
        assert outcomes["dead"]["cosigned"] is False and "unreachable" in outcomes["dead"]["detail"]

        policy = _policy(tmp_path, log_key, ws, quorum=2)
        res = cli("log", "publish", str(out), "--policy", str(policy), "--json")
        assert res.exit_code == 0, res.stderr
        assert res.json()["published"] and res.json()["witnesses"] == ["w0", "w1", "w2"]
        size = res.json()["size"]
        assert [_state_size(w, origin) for w in ws] == [size] * 3
        published = (out / "checkpoint").read_text()
        assert len(open_note(published, [w.cosigner.verifier for w in ws]).signed_by) == 3
        assert cli("audit", "verify", "--policy", str(policy)).exit_code == 0
        assert (
            cli("audit", "verify", "--policy", str(policy), "--published", str(out)).exit_code == 0
        )

        # a new entry: the receipt's checkpoint is witnessed now, from the witnesses' size
        _grant(cli, "u1")
        receipt = tmp_path / "u1.tlog-proof"
        res = cli("receipt", "u1", "--out", str(receipt), "--policy", str(policy), "--json")
        assert res.exit_code == 0, res.stderr
        assert res.json()["witnesses"] == ["w0", "w1", "w2"]
        assert [_state_size(w, origin) for w in ws] == [res.json()["tree_size"]] * 3
        res = cli("verify-receipt", str(receipt), "--policy", str(policy), "--json")
        assert res.exit_code == 0 and res.json()["witnesses"] == ["w0", "w1", "w2"]
        both = ("--public-key", str(public), "--policy", str(policy))
        assert cli("verify-receipt", str(receipt), *both).exit_code == 0
        # the same receipt under a stricter policy the witnesses do not satisfy
        strict = tmp_path / "strict.txt"
        strict.write_text(policy_text([log_key], [*ws, dead]))
        res = cli("verify-receipt", str(receipt), "--policy", str(strict))
        assert res.exit_code == 1 and "quorum" in res.stdout
        # verifiable without this project: the independent verifier
        checked = independent_verify(
            receipt.read_bytes(), log_key, [w.cosigner.verifier.key for w in ws], quorum=3
        )
        assert checked.event["member_id"] == "u1" and checked.event["type"] == "deny"
        assert checked.witnesses == [w.name for w in ws]
        with pytest.raises(Invalid, match="quorum"):
            independent_verify(
                receipt.read_bytes(), log_key, [w.cosigner.verifier.key for w in ws], 4
            )
        tampered = receipt.read_bytes().replace(b"\nindex ", b"\nindex 1", 1)
        with pytest.raises((Invalid, ValueError)):
            independent_verify(tampered, log_key, [], 0)
        # an unwitnessed head is reported by audit verify --policy
        _grant(cli, "u2")
        assert cli("audit", "checkpoint").exit_code == 0
        res = cli("audit", "verify", "--policy", str(policy))
        assert res.exit_code == 1 and "not witnessed" in res.stderr
        # and the dataset proofs carry the quorum too
        assert cli("log", "publish", str(out), "--policy", str(policy)).exit_code == 0
        assert (
            cli("audit", "verify", "--policy", str(policy), "--published", str(out)).exit_code == 0
        )


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_the_client_follows_a_409_size_hint(
    cli: Cli, world: Path, db_url: str, tmp_path: Path
) -> None:
    log_key, _ = _public(cli, tmp_path)
    origin = parse_verifier_key(log_key).name
    out = tmp_path / "pub"
    with running_witnesses(tmp_path, [log_key], count=2) as ws:
        policy = _policy(tmp_path, log_key, ws)
        assert cli("log", "publish", str(out), "--policy", str(policy)).exit_code == 0
        # the ledger forgets which sizes the witnesses cosigned: the client starts at 0
        engine = make_engine(db_url)
        with engine.begin() as conn:
            for number, note in conn.execute(
                sa.select(t.log_checkpoints.c.number, t.log_checkpoints.c.note)
            ):
                conn.execute(
                    t.log_checkpoints.update()
                    .where(t.log_checkpoints.c.number == number)
                    .values(
                        note=note[: note.index("\n\n") + 2]
                        + note.split("\n\n")[1].split("\n")[0]
                        + "\n"
                    )
                )
        engine.dispose()
        _grant(cli, "u1")
        res = cli("log", "publish", str(out), "--policy", str(policy), "--json")
        assert res.exit_code == 0, res.stderr
        assert res.json()["witnesses"] == ["w0", "w1"]
        assert [_state_size(w, origin) for w in ws] == [res.json()["size"]] * 2
        # the monitoring endpoint serves the cosigned checkpoint
        r = httpx.get(f"{ws[0].url}/{origin_hash(origin)}/checkpoint")
        assert r.status_code == 200 and r.text.split("\n")[1] == str(res.json()["size"])
        assert httpx.get(f"{ws[0].url}/{'0' * 64}/checkpoint").status_code == 404


def _rewrite_entry(db_url: str, index: int) -> None:
    """Rewrite audit entry ``index`` and re-chain every later entry; drop the stored
    checkpoints and block cache — what someone with write access to the database can do."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(t.audit_log).where(t.audit_log.c.idx >= index).order_by(t.audit_log.c.idx)
        ).all()
        prev = conn.execute(
            sa.select(t.audit_log.c.entry_hash).where(t.audit_log.c.idx == index - 1)
        ).scalar_one()
        for r in rows:
            digest = "f" * 64 if r.idx == index else r.digest
            entry = audit.AuditEntry(
                r.idx, r.action, r.entity, r.entity_key, digest, r.recorded_at, prev
            )
            conn.execute(
                t.audit_log.update()
                .where(t.audit_log.c.idx == r.idx)
                .values(digest=digest, prev_hash=prev, entry_hash=entry.entry_hash)
            )
            prev = entry.entry_hash
        conn.execute(t.log_checkpoints.delete())
        conn.execute(t.log_blocks.delete())
    engine.dispose()


def test_a_rewritten_entry_with_a_fresh_signature_is_caught(
    cli: Cli, world: Path, db_url: str, tmp_path: Path
) -> None:
    log_key, public = _public(cli, tmp_path)
    origin = parse_verifier_key(log_key).name
    out = tmp_path / "pub"
    with running_witnesses(tmp_path, [log_key], count=3) as ws:
        policy = _policy(tmp_path, log_key, ws)
        res = cli("log", "publish", str(out), "--policy", str(policy), "--json")
        assert res.exit_code == 0, res.stderr
        size, root = res.json()["size"], res.json()["root"]
        receipt = tmp_path / "r.tlog-proof"
        assert cli("receipt", "e2", "--out", str(receipt), "--policy", str(policy)).exit_code == 0
        _rewrite_entry(db_url, 6)
        res = cli("audit", "checkpoint", "--json")  # a fresh signature over the other history
        assert res.exit_code == 0 and res.json()["size"] == size and res.json()["root"] != root
        # the witnesses refuse to cosign it: same size, another root
        res = cli("log", "publish", str(out), "--policy", str(policy), "--json")
        assert res.exit_code == 1 and not res.json()["published"]
        assert all(
            not o["cosigned"] and "422" in o["detail"] for o in res.json()["outcomes"].values()
        )
        assert [_state_size(w, origin) for w in ws] == [size] * 3
        assert WitnessState(ws[0].state).get(origin).root.hex() == root  # type: ignore[union-attr]
        # publishing without witnesses is refused too: the published log is not extended
        res = cli("log", "publish", str(out))
        assert res.exit_code == 1 and "differs from audit entry 6 on" in res.stderr
        # audit verify against the published tiles names the first divergent index
        res = cli("audit", "verify", "--public-key", str(public), "--published", str(out))
        assert res.exit_code == 1 and "from audit entry 6 on" in res.stderr, res.stderr
        # the member's receipt against the published log still verifies; the platform's
        # new checkpoint is not a prefix of it
        assert (
            cli(
                "verify-receipt", str(receipt), "--policy", str(policy), "--log", str(out)
            ).exit_code
            == 0
        )


def test_a_rolled_back_ledger_file_is_caught(
    cli: Cli, world: Path, db_url: str, tmp_path: Path
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("a rollback of the ledger *file*: SQLite")
    db_file = Path(db_url.removeprefix("sqlite:///"))
    log_key, public = _public(cli, tmp_path)
    origin = parse_verifier_key(log_key).name
    out = tmp_path / "pub"
    with running_witnesses(tmp_path, [log_key], count=3) as ws:
        policy = _policy(tmp_path, log_key, ws)
        assert cli("log", "publish", str(out), "--policy", str(policy)).exit_code == 0
        backup = tmp_path / "backup.db"
        with sqlite3.connect(db_file) as src, sqlite3.connect(backup) as dst:
            src.backup(dst)
        n1 = cli("audit", "verify", "--json").json()["entries"]
        for m in ("u1", "u2", "e1", "e2"):
            _grant(cli, m)
        res = cli("log", "publish", str(out), "--policy", str(policy), "--json")
        assert res.exit_code == 0, res.stderr
        n2 = res.json()["size"]
        # the platform restores the old file (through SQLite, which owns the WAL) and
        # records other events
        with sqlite3.connect(backup) as src, sqlite3.connect(db_file) as dst:
            src.backup(dst)
        _grant(cli, "e2", "ai_training_messages_partners")
        res = cli("log", "publish", str(out), "--policy", str(policy), "--json")
        assert res.exit_code == 1 and not res.json()["published"]
        details = [o["detail"] for o in res.json()["outcomes"].values()]
        assert all(f"has cosigned a tree of {n2} entries" in d for d in details), details
        assert [_state_size(w, origin) for w in ws] == [n2] * 3
        res = cli("audit", "verify", "--public-key", str(public), "--published", str(out))
        assert res.exit_code == 1 and f"from audit entry {n1} on" in res.stderr, res.stderr
        res = cli("log", "publish", str(out))
        assert res.exit_code == 1 and f"differs from audit entry {n1} on" in res.stderr


def test_witness_serve_runs_a_witness_process(cli: Cli, world: Path, tmp_path: Path) -> None:
    log_key, public = _public(cli, tmp_path)
    key = tmp_path / "w.key"
    res = cli("witness", "init", "--key", str(key), "--name", "witness.test/proc")
    assert res.exit_code == 0 and res.stdout.startswith("witness.test/proc+")
    assert cli("witness", "public-key", "--key", str(key)).stdout == res.stdout
    assert cli("witness", "init", "--key", str(key), "--name", "x").exit_code == 1  # never replaced
    url = _closed_port_url()
    port = url.rsplit(":", 1)[1]
    exe = Path(sys.executable).with_name("consentgate")
    proc = subprocess.Popen(
        [
            str(exe),
            "witness",
            "serve",
            "--key",
            str(key),
            "--state",
            str(tmp_path / "w.state"),
            "--log",
            str(public),
            "--port",
            port,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ},
    )
    try:
        # Generous for a loaded CI machine: the loop ends as soon as the witness answers.
        deadline = time.monotonic() + 90
        while True:
            try:
                httpx.get(f"{url}/{'0' * 64}/checkpoint", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("witness serve did not start") from None
                time.sleep(0.1)
        policy = tmp_path / "p.txt"
        policy.write_text(f"log {log_key}\nwitness proc {res.stdout.strip()} {url}\nquorum proc\n")
        out = tmp_path / "pub"
        published = cli("log", "publish", str(out), "--policy", str(policy), "--json")
        assert published.exit_code == 0 and published.json()["witnesses"] == ["proc"]
        note = (out / "checkpoint").read_text()
        body = AddCheckpoint(0, (), note).body()
        assert httpx.post(f"{url}/add-checkpoint", content=body).status_code == 409
        assert httpx.post(f"{url}/add-checkpoint", content=b"x" * 70_000).status_code == 413
    finally:
        proc.terminate()
        proc.wait(10)
    assert (tmp_path / "w.state").is_file()


def test_witness_state_survives_a_restart(cli: Cli, world: Path, tmp_path: Path) -> None:
    log_key, _ = _public(cli, tmp_path)
    with running_witnesses(tmp_path, [log_key], count=1, prefix="a") as ws:
        policy = _policy(tmp_path, log_key, ws)
        assert cli("log", "publish", str(tmp_path / "pub"), "--policy", str(policy)).exit_code == 0
        note = (tmp_path / "pub" / "checkpoint").read_text()
        state = ws[0].state
    size = int(note.split("\n")[1])
    # a new process on the same state file remembers the size it cosigned
    from starlette.testclient import TestClient

    from consentgate.witness_server import create_witness_app

    app = create_witness_app(
        ws[0].cosigner,
        {parse_verifier_key(log_key).name: [parse_verifier_key(log_key)]},
        WitnessState(state),
    )
    with TestClient(app) as client:
        r = client.post("/add-checkpoint", content=AddCheckpoint(0, (), note).body())
        assert r.status_code == 409 and r.text == f"{size}\n"
        assert r.headers["content-type"] == "text/x.tlog.size"
        r = client.post("/add-checkpoint", content=AddCheckpoint(size, (), note).body())
        assert (
            r.status_code == 200
            and base64.b64decode(r.text.split(" ")[2])[:4] == ws[0].cosigner.key_id
        )
