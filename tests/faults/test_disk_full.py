"""A real full disk (issue 16): a 2 MiB tmpfs mounted for the test, not a patched ``write``.

A build whose output does not fit, an import whose SQLite ledger lives on the full disk,
an import whose rejects file does not fit, and a checkpoint whose key directory is full:
each exits 1 with one line naming the file or the database and the reason (no
traceback), leaves no partial file on the disk and changes nothing in the ledger; once
there is space, ``audit verify`` passes and the same command completes.

Mounting needs root (and a kernel that lets this process mount): otherwise every test
here is skipped with the reason, and the simulated ENOSPC of ``test_files.py`` still runs.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import string
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import CliResult, build_args

from consentgate.store import tables as t
from consentgate.store.engine import make_engine

Cli = Callable[..., CliResult]
pytestmark = pytest.mark.postgres
SIZE = 2 << 20


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted at ``tmp_path / "disk"``, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip(
            "a real full disk needs root to mount a 2 MiB tmpfs (test_files.py simulates it)"
        )
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(disk: Path, leave: int = 0) -> Path:
    """Fill ``disk`` until at most ``leave`` bytes are free; returns the filler file."""
    filler = disk / "filler"
    with filler.open("wb") as fh:
        chunk = b"\0" * 65536
        try:
            while True:
                free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
                if free <= leave:
                    break
                fh.write(chunk[: max(1, min(len(chunk), free - leave))])
                fh.flush()
        except OSError:
            pass
    return filler


def _used(disk: Path) -> set[str]:
    return {str(p.relative_to(disk)) for p in disk.rglob("*")}


def _big_source(path: Path, rows: int = 2500) -> Path:
    """Public posts by e1 (who consented, see the world fixture), 2,000 random letters
    each: about 5 MB of Parquet, more than the disk holds."""
    rng = random.Random(16)
    lines = (
        json.dumps(
            {
                "id": f"big{i}",
                "category": "user.content.public",
                "author_id": "e1",
                "recipient_ids": None,
                "created_at": "2024-10-01T00:00:00Z",
                "text": "".join(rng.choices(string.ascii_lowercase + " ", k=2000)),
            }
        )
        for i in range(rows)
    )
    path.write_text("\n".join(lines) + "\n")
    return path


def _no_traceback_and_says_full(r: CliResult) -> None:
    assert r.exit_code == 1, (r.exit_code, r.stderr[-2000:])
    assert "Traceback" not in r.stderr
    text = r.stderr.lower()
    assert "no space left" in text or "disk is full" in text or "enospc" in text, r.stderr


def test_build_onto_a_full_disk_leaves_nothing(
    cli: Cli, world: Path, tmp_path: Path, small_disk: Path
) -> None:
    source = _big_source(tmp_path / "big.jsonl")
    out = small_disk / "posts"
    r = cli(*build_args(source, out))
    _no_traceback_and_says_full(r)
    assert "nothing was registered" in r.stderr
    assert _used(small_disk) == set(), "a partial dataset was left on the full disk"
    assert cli("datasets", "--json").json() == []
    assert cli("audit", "verify", "--datasets").exit_code == 0
    again = cli(*build_args(source, tmp_path / "posts", "--json"))  # where there is space
    assert again.exit_code == 0, again.stderr


def _ledger_cli(url: str) -> Callable[..., tuple[int, str]]:
    from consentgate.cli import main

    def run(*args: str) -> tuple[int, str]:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                main(["--db", url, *args])
                code = 0
            except SystemExit as exc:
                code = int(exc.code or 0)
        return code, err.getvalue()

    return run


def _events(path: Path, n: int, prefix: str = "e", members: int = 50) -> Path:
    """Withdrawals of m0..m49 (``members`` 0: of u1, a member of the world fixture)."""
    path.write_text(
        "".join(
            json.dumps(
                {
                    "event_id": f"{prefix}{i}",
                    "member_id": f"m{i % members}" if members else "u1",
                    "type": "withdraw",
                    "setting": "ai_training_posts",
                    "effective_at": "2024-10-01T00:00:00Z",
                    "evidence": {"note": "x" * 200},
                }
            )
            + "\n"
            for i in range(n)
        )
    )
    return path


def _count(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(t.consent_events)).scalar_one()
            )
    finally:
        engine.dispose()


def _ledger(url: str, run: Callable[..., tuple[int, str]], examples: Path, tmp_path: Path) -> None:
    assert run("init")[0] == 0
    for v in ("v1", "v2"):
        assert run("policy", "publish", str(examples / f"policy-{v}.yaml"))[0] == 0
    members = tmp_path / "m.csv"
    members.write_text("member_id,jurisdiction\n" + "".join(f"m{i},US\n" for i in range(50)))
    assert run("members", "import", str(members))[0] == 0


def test_import_into_a_ledger_on_a_full_disk_changes_nothing(
    examples: Path, tmp_path: Path, small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SQLite ledger (and its write-ahead log) on the small disk; the key directory
    elsewhere. 6,000 events (about 3 MB of rows and index) cannot fit."""
    monkeypatch.setenv("CONSENTGATE_KEY_DIR", str(tmp_path / "keys"))
    url = f"sqlite:///{small_disk / 'ledger.db'}"
    run = _ledger_cli(url)
    _ledger(url, run, examples, tmp_path)
    before = _count(url)
    code, err = run("consent", "import", str(_events(tmp_path / "e.jsonl", 6000)))
    assert code == 1 and "Traceback" not in err, err[-2000:]
    assert "full" in err.lower() and "nothing was written" in err, err
    assert _count(url) == before
    assert run("audit", "verify")[0] == 0
    leftovers = _used(small_disk) - {"ledger.db", "ledger.db-wal", "ledger.db-shm"}
    assert leftovers == set(), leftovers
    small = _events(tmp_path / "small.jsonl", 20, prefix="s")
    code, err = run("consent", "import", str(small))  # the disk still has room for a little
    assert code == 0, err
    assert _count(url) == before + 20
    assert run("audit", "verify")[0] == 0


def test_rejects_file_on_a_full_disk_undoes_the_import(
    examples: Path, tmp_path: Path, small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--on-error skip`` with the rejects file on the full disk: the good lines are not
    stored either (the import and its rejects file are one unit), no staged file is left."""
    monkeypatch.setenv("CONSENTGATE_KEY_DIR", str(tmp_path / "keys"))
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    run = _ledger_cli(url)
    _ledger(url, run, examples, tmp_path)
    before = _count(url)
    events = _events(tmp_path / "e.jsonl", 200)
    bad = "".join(json.dumps({"member_id": "nobody", "pad": "y" * 5000}) + "\n" for _ in range(600))
    with events.open("a") as fh:
        fh.write(bad)  # 3 MB of rejected lines, more than the disk holds
    code, err = run(
        "consent", "import", str(events), "--on-error", "skip",
        "--rejects", str(small_disk / "rejects.txt"),
    )  # fmt: skip
    assert code == 1 and "Traceback" not in err, err[-2000:]
    assert "no space left" in err.lower(), err
    assert _count(url) == before
    assert _used(small_disk) == set()


def test_checkpoint_onto_a_full_key_directory(
    cli: Cli, world: Path, tmp_path: Path, small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key directory (where the latest checkpoint is kept outside the ledger) on the
    full disk: the command says so in one line, no temporary note is left, the note kept
    there stays the previous one (still a prefix of the log: ``audit verify`` passes), and
    the next checkpoint, once there is space, writes it."""
    keys = small_disk / "keys"
    shutil.copytree(tmp_path / "keys", keys)  # the world's signing key and latest note
    monkeypatch.setenv("CONSENTGATE_KEY_DIR", str(keys))
    previous = (keys / "checkpoint.latest").read_text()
    filler = _fill(small_disk)
    r = cli("consent", "import", str(_events(tmp_path / "more.jsonl", 5, prefix="k", members=0)))
    # the import itself needs no space on this disk: it is stored; its checkpoint is not
    assert "Traceback" not in r.stderr
    assert r.exit_code == 1 and "no space left" in r.stderr.lower(), r.stderr
    assert "were stored" in r.stderr and "audit checkpoint" in r.stderr, r.stderr
    assert not [p for p in keys.iterdir() if p.name.startswith(".")], "a temporary note was left"
    assert (keys / "checkpoint.latest").read_text() == previous
    assert cli("audit", "verify").exit_code == 0
    filler.unlink()
    done = cli("audit", "checkpoint")
    assert done.exit_code == 0, done.stderr
    assert (keys / "checkpoint.latest").read_text() != previous
    assert cli("audit", "verify").exit_code == 0
