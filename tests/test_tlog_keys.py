"""The log key belongs to the ledger: recorded at init, other keys refused naming both key
ids, explicit logged rotation, old checkpoints still verifiable (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import CliResult

from consentgate.checkpoint import generate_signing_key, load_signer
from consentgate.store import tables as t
from consentgate.store.engine import make_engine
from consentgate.tlog.note import open_note

Cli = Callable[..., CliResult]


def _key_id(key_file: Path) -> str:
    return load_signer(key_file).key_id.hex()


def _meta(db_url: str, key: str) -> str | None:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.select(t.meta.c.value).where(t.meta.c.key == key)
            ).scalar_one_or_none()
    finally:
        engine.dispose()


def test_init_records_the_key_and_refuses_another(
    cli: Cli, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    res = cli("init", "--json")
    assert res.exit_code == 0, res.stderr
    key_file = tmp_path / "keys" / "log.key"
    assert (
        _meta(db_url, "log_key") == res.json()["public_key"] == load_signer(key_file).verifier_key
    )
    assert cli("init").exit_code == 0  # idempotent with the same key
    ours = _key_id(key_file)
    # another key file for the same ledger
    other = tmp_path / "other.key"
    generate_signing_key(other, name="consentgate/elsewhere")
    monkeypatch.setenv("CONSENTGATE_SIGNING_KEY", str(other))
    for args in (("init",), ("audit", "checkpoint"), ("audit", "public-key")):
        res = cli(*args)
        assert res.exit_code == 1, args
        assert _key_id(other) in res.stderr and ours in res.stderr, res.stderr
    # a second working directory without the key file: no second key is created
    monkeypatch.delenv("CONSENTGATE_SIGNING_KEY")
    monkeypatch.setenv("CONSENTGATE_KEY_DIR", str(tmp_path / "elsewhere"))
    res = cli("init")
    assert res.exit_code == 1 and ours in res.stderr and "does not exist" in res.stderr
    assert not (tmp_path / "elsewhere" / "log.key").exists()


def test_a_ledger_from_before_adopts_only_the_key_that_signed_it(
    cli: Cli, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("init").exit_code == 0
    assert cli("audit", "checkpoint").exit_code == 0
    engine = make_engine(db_url)
    with engine.begin() as conn:  # as a ledger written before keys were recorded
        conn.execute(t.meta.delete().where(t.meta.c.key == "log_key"))
    engine.dispose()
    other = tmp_path / "other.key"
    generate_signing_key(other, name="consentgate/x")
    monkeypatch.setenv("CONSENTGATE_SIGNING_KEY", str(other))
    res = cli("audit", "checkpoint")
    assert res.exit_code == 1 and "did not sign this ledger's checkpoints" in res.stderr
    assert _meta(db_url, "log_key") is None
    monkeypatch.delenv("CONSENTGATE_SIGNING_KEY")
    assert cli("audit", "checkpoint").exit_code == 0
    assert _meta(db_url, "log_key") == load_signer(tmp_path / "keys" / "log.key").verifier_key


def test_rotation_is_logged_and_old_checkpoints_stay_verifiable(
    cli: Cli, world: Path, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSENTGATE_AUTO_CHECKPOINT", "false")  # signed by hand below
    key_file = tmp_path / "keys" / "log.key"
    old_pub = tmp_path / "old.pub"
    old_pub.write_text(cli("audit", "public-key").stdout)
    first = cli("audit", "checkpoint", "--json").json()
    receipt_before = tmp_path / "before.tlog-proof"
    assert cli("receipt", "e1", "--out", str(receipt_before)).exit_code == 0
    old_id = _key_id(key_file)

    res = cli("log", "rotate-key", "--json")
    assert res.exit_code == 0, res.stderr
    rotated = res.json()
    assert rotated["old_key"] == old_pub.read_text().strip()
    assert rotated["new_key"] == load_signer(key_file).verifier_key != rotated["old_key"]
    assert Path(rotated["retired_key_file"]) == key_file.with_name(f"log.key.{old_id}.retired")
    assert load_signer(Path(rotated["retired_key_file"])).verifier_key == rotated["old_key"]
    new_pub = tmp_path / "new.pub"
    new_pub.write_text(cli("audit", "public-key").stdout)
    assert new_pub.read_text().strip() == rotated["new_key"]

    engine = make_engine(db_url)
    with engine.connect() as conn:
        last = conn.execute(
            sa.select(t.audit_log).order_by(t.audit_log.c.idx.desc()).limit(1)
        ).one()
        notes = (
            conn.execute(sa.select(t.log_checkpoints.c.note).order_by(t.log_checkpoints.c.number))
            .scalars()
            .all()
        )
    engine.dispose()
    assert (last.action, last.entity, last.entity_key) == (
        "log.key_rotated",
        "log_key_rotations",
        "1",
    )
    # the checkpoint after the rotation covers it and carries both keys' signatures
    assert rotated["size"] == last.idx + 1
    old_v = load_signer(Path(rotated["retired_key_file"])).verifier
    new_v = load_signer(key_file).verifier
    assert len(open_note(notes[-1], [old_v, new_v]).signed_by) == 2
    assert len(open_note(notes[0], [old_v, new_v]).signed_by) == 1  # signed before: old key
    # the whole log verifies under either key, and the old receipt still verifies
    for pub in (old_pub, new_pub):
        res = cli("audit", "verify", "--public-key", str(pub), "--json")
        assert res.exit_code == 0, res.stderr
        assert res.json()["checkpoints"] == first["number"] + 1
    assert cli("verify-receipt", str(receipt_before), "--public-key", str(old_pub)).exit_code == 0
    after = tmp_path / "after.tlog-proof"
    assert cli("receipt", "e1", "--out", str(after)).exit_code == 0
    assert cli("verify-receipt", str(after), "--public-key", str(new_pub)).exit_code == 0
    # new checkpoints are signed by the new key only; the old key file is refused
    res = cli("consent", "record", "u1", "--type", "deny", "--setting", "ai_training_posts")
    assert res.exit_code == 0, res.stderr
    res = cli("audit", "checkpoint", "--json")
    assert res.exit_code == 0 and res.json()["created"]
    engine = make_engine(db_url)
    with engine.connect() as conn:
        latest = (
            conn.execute(
                sa.select(t.log_checkpoints.c.note).order_by(t.log_checkpoints.c.number.desc())
            )
            .scalars()
            .first()
        )
    engine.dispose()
    assert open_note(latest, [old_v, new_v]).signed_by == (new_v,)
    monkeypatch.setenv("CONSENTGATE_SIGNING_KEY", rotated["retired_key_file"])
    res = cli("audit", "checkpoint")
    assert res.exit_code == 1
    assert re.search(rf"key id {old_id}.*key id {new_v.key_id.hex()}", res.stderr), res.stderr


def test_a_forged_rotation_is_detected(cli: Cli, world: Path, db_url: str, tmp_path: Path) -> None:
    assert cli("log", "rotate-key").exit_code == 0
    engine = make_engine(db_url)
    with engine.begin() as conn:
        statement = conn.execute(sa.select(t.log_key_rotations.c.statement)).scalar_one()
        conn.execute(
            t.log_key_rotations.update().values(statement=statement.replace("at 20", "at 19"))
        )
    engine.dispose()
    res = cli("audit", "verify")
    assert res.exit_code == 1 and "key rotation statement" in res.stderr
