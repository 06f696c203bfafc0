"""``log publish``: the audit log as a C2SP tiled log, incrementally; served read-only; a
verifier with only the directory or a URL and the public key fetches proofs itself."""

from __future__ import annotations

import functools
import gzip
import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import CliResult
from fastapi import FastAPI
from starlette.testclient import TestClient

from consentgate.store import audit as store_audit
from consentgate.store.engine import make_engine
from consentgate.tlog.checkpoint import parse_verifier_key, verify_checkpoint
from consentgate.tlog.published import TileServer, respond
from consentgate.tlog.receipts import entry_leaf
from consentgate.tlog.tiles import TileReader, decode_bundle

Cli = Callable[..., CliResult]


def _entries(db_url: str) -> list[bytes]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return [e.entry_bytes() for e, _ in store_audit.iter_entries(conn)]
    finally:
        engine.dispose()


def _add_members(cli: Cli, tmp_path: Path, start: int, count: int) -> None:
    path = tmp_path / f"members-{start}.csv"
    path.write_text(
        "member_id,jurisdiction\n" + "".join(f"x{i},EU\n" for i in range(start, start + count))
    )
    assert cli("members", "import", str(path)).exit_code == 0


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in directory.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


def test_publish_writes_the_tiled_log_incrementally(
    cli: Cli, world: Path, db_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "pub"
    _add_members(cli, tmp_path, 0, 300)
    res = cli("log", "publish", str(out), "--json")
    assert res.exit_code == 0, res.stderr
    first = res.json()
    assert first["published"] and first["previous_size"] == 0
    public = parse_verifier_key(cli("audit", "public-key").stdout)
    entries = _entries(db_url)
    n = len(entries)
    cp = verify_checkpoint((out / "checkpoint").read_text(), public)
    assert cp.size == n == first["size"] and cp.root.hex() == first["root"]
    files = _files(out)
    assert set(files) == {
        "checkpoint",
        "tile/0/000",
        f"tile/0/001.p/{n - 256}",
        "tile/1/000.p/1",
        "tile/entries/000",
        f"tile/entries/001.p/{n - 256}",
    }
    assert decode_bundle(files["tile/entries/000"]) == entries[:256]
    assert files["tile/0/000"] == b"".join(entry_leaf_bytes(e) for e in entries[:256])
    assert TileReader(n, lambda p: files[p]).root() == cp.root

    _add_members(cli, tmp_path, 300, 500)
    res = cli("log", "publish", str(out), "--json")
    assert res.exit_code == 0, res.stderr
    second = res.json()
    assert second["previous_size"] == n and second["size"] == n + 500
    after = _files(out)
    # full tiles are unchanged, the partial tiles of the first size are kept
    assert all(after[p] == d for p, d in files.items() if p != "checkpoint")
    reader = TileReader(second["size"], lambda p: after[p])
    assert reader.root().hex() == second["root"]
    assert [reader.entry(i) for i in (0, n, second["size"] - 1)] == [
        _entries(db_url)[i] for i in (0, n, second["size"] - 1)
    ]
    assert TileReader(n, lambda p: after[p]).root() == cp.root
    # nothing new: only the checkpoint is rewritten; --full checks every file again
    again = cli("log", "publish", str(out), "--json").json()
    assert again["files_written"] == 1 and again["size"] == second["size"]
    assert cli("log", "publish", str(out), "--full", "--json").json()["files_written"] == 1
    # an altered full tile is never replaced silently
    tile = out / "tile" / "0" / "000"
    tile.write_bytes(bytes([tile.read_bytes()[0] ^ 1]) + tile.read_bytes()[1:])
    res = cli("log", "publish", str(out), "--full")
    assert res.exit_code == 1 and "differs from the log" in res.stderr


def entry_leaf_bytes(data: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(b"\x00" + data).digest()


def test_the_published_directory_is_served_read_only(cli: Cli, world: Path, tmp_path: Path) -> None:
    out = tmp_path / "pub"
    assert cli("log", "publish", str(out)).exit_code == 0
    size = verify_checkpoint(
        (out / "checkpoint").read_text(), parse_verifier_key(cli("audit", "public-key").stdout)
    ).size
    app = FastAPI()
    app.mount("/log", TileServer(out))
    with TestClient(app) as client:
        r = client.get("/log/checkpoint")
        assert r.status_code == 200 and r.text == (out / "checkpoint").read_text()
        assert r.headers["content-type"] == "text/plain; charset=utf-8"
        assert r.headers["cache-control"] == "max-age=5"
        r = client.get(f"/log/tile/0/000.p/{size}")
        assert r.status_code == 200 and r.content == (out / "tile/0/000.p" / str(size)).read_bytes()
        assert r.headers["content-type"] == "application/octet-stream"
        assert "immutable" in r.headers["cache-control"]
        r = client.get(f"/log/tile/entries/000.p/{size}", headers={"accept-encoding": "gzip"})
        assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
        assert r.content == (out / "tile/entries/000.p" / str(size)).read_bytes()  # decoded
        head = client.head("/log/checkpoint")
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len((out / "checkpoint").read_bytes())
        for bad in ("/log/tile/0/0000", "/log/../checkpoint", "/log/tile/0/001", "/log/x", "/log/"):
            assert client.get(bad).status_code == 404, bad
        assert client.post("/log/checkpoint").status_code == 405
    status, _headers, body = respond(out, f"tile/entries/000.p/{size}", accept_encoding="gzip")
    assert (
        status == 200
        and gzip.decompress(body) == (out / "tile/entries/000.p" / str(size)).read_bytes()
    )
    assert respond(out, "tile/0/x001/000")[0] == 404
    assert respond(out, "checkpoint", method="DELETE")[0] == 405


@contextmanager
def serving(directory: Path) -> Iterator[str]:
    """``directory`` over plain HTTP on loopback (the standard library's file server)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_a_verifier_with_the_url_and_the_key_fetches_proofs(
    cli: Cli, world: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pub"
    public = tmp_path / "log.pub"
    public.write_text(cli("audit", "public-key").stdout)
    receipt = tmp_path / "r.tlog-proof"
    assert cli("receipt", "e2", "--out", str(receipt)).exit_code == 0
    res = cli("verify-receipt", str(receipt), "--public-key", str(public), "--log", str(out))
    assert res.exit_code == 1 and "not found" in res.stdout  # nothing published yet
    _add_members(cli, tmp_path, 0, 400)
    assert cli("log", "publish", str(out)).exit_code == 0
    with serving(out) as url:
        for where in (url, str(out)):
            res = cli(
                "verify-receipt",
                str(receipt),
                "--public-key",
                str(public),
                "--log",
                where,
                "--json",
            )
            assert res.exit_code == 0, res.stdout
            assert res.json()["published_size"] > res.json()["tree_size"]
            res = cli("audit", "verify", "--published", where, "--json")
            assert res.exit_code == 0, res.stderr
            assert res.json()["published_size"] == res.json()["entries"]
        # a published checkpoint that the receipt's checkpoint is not a prefix of
        older = tmp_path / "old.tlog-proof"
        older.write_text(receipt.read_text())
        assert (
            cli("verify-receipt", str(older), "--public-key", str(public), "--log", url).exit_code
            == 0
        )


def test_published_entries_are_the_log_leaves(
    cli: Cli, world: Path, db_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "pub"
    assert cli("log", "publish", str(out)).exit_code == 0
    entries = _entries(db_url)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        stored = [entry_leaf(e) for e, _ in store_audit.iter_entries(conn)]
        count = conn.execute(
            sa.select(sa.func.count()).select_from(sa.table("audit_log"))
        ).scalar_one()
    engine.dispose()
    reader = TileReader(len(entries), lambda p: (out / p).read_bytes())
    assert [reader.leaf_hash(i) for i in range(count)] == stored


@pytest.mark.parametrize("bad", ["missing-dir"])
def test_audit_verify_refuses_a_missing_published_log(
    cli: Cli, world: Path, tmp_path: Path, bad: str
) -> None:
    assert cli("audit", "checkpoint").exit_code == 0
    res = cli("audit", "verify", "--published", str(tmp_path / bad))
    assert res.exit_code == 1 and "not found" in res.stderr
