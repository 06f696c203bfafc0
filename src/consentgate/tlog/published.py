"""A published tiled log (c2sp.org/tlog-tiles) on disk or behind a URL: writing it, reading
it back, and serving it read-only.

* ``PublishedDirectory`` writes resources atomically (a temporary file, then a rename) and
  never changes one: a tile or bundle that exists with other bytes means the directory
  or the log was altered, and publishing stops (``AuditChainBroken``). Only
  ``checkpoint`` is replaced, last.
* ``open_log(location)`` gives a ``fetch(path)`` for a directory or an ``http(s)://`` URL
  (httpx), for verifiers (``TileReader``).
* ``TileServer(directory)`` is an ASGI application serving exactly the log's paths
  (``GET``/``HEAD``; ``checkpoint`` cacheable for 5 s, tiles and bundles immutable, entry
  bundles gzip-compressed when the client accepts it). ``serve`` mounts it; ``respond``
  is the same as a plain function.
"""

from __future__ import annotations

import gzip
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from consentgate.errors import AuditChainBroken, ConsentgateError, NotFound
from consentgate.files import write_atomic
from consentgate.tlog.tiles import CHECKPOINT, Fetch, parse_path

__all__ = ["PublishedDirectory", "TileServer", "open_log", "respond"]


class PublishedDirectory:
    """A directory holding a tiled log."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _file(self, path: str) -> Path:
        if parse_path(path) is None:
            raise ValueError(f"not a path of a tiled log: {path!r}")
        return self.root.joinpath(*path.split("/"))

    def fetch(self, path: str) -> bytes:
        try:
            return self._file(path).read_bytes()
        except FileNotFoundError:
            raise NotFound("published resource", path) from None

    def exists(self, path: str) -> bool:
        return self._file(path).is_file()

    def write(self, path: str, data: bytes) -> bool:
        """Write a resource; True when written, False when it was already there. A tile
        or bundle that exists with other bytes is refused (``AuditChainBroken``)."""
        target = self._file(path)
        if path != CHECKPOINT and target.is_file():
            if target.read_bytes() == data:
                return False
            raise AuditChainBroken(
                f"{target}: the published resource differs from the log (the directory "
                "was altered, or the log was rewritten); refusing to replace it"
            )
        write_atomic(target, data, mode=0o644)
        return True


def open_log(location: str, *, timeout: float = 30.0) -> Fetch:
    """``fetch(path)`` for a published log: a directory, or an ``http://``/``https://``
    prefix. A missing resource raises ``NotFound``; an unreachable log ``ConsentgateError``."""
    if location.startswith(("http://", "https://")):
        import httpx  # ~0.3 s to import: only for a log on the web

        prefix = location.rstrip("/") + "/"
        client = httpx.Client(timeout=timeout)

        def fetch_url(path: str) -> bytes:
            try:
                r = client.get(prefix + path)
            except httpx.HTTPError as exc:
                raise ConsentgateError(f"{prefix + path}: {exc.__class__.__name__}") from exc
            if r.status_code == 404:
                raise NotFound("published resource", prefix + path)
            if r.status_code != 200:
                raise ConsentgateError(f"{prefix + path}: HTTP {r.status_code}")
            return r.content

        return fetch_url
    directory = Path(location)
    if not directory.is_dir():
        raise NotFound("published log directory", location)
    return PublishedDirectory(directory).fetch


# -- serving ---------------------------------------------------------------------------------

Headers = list[tuple[str, str]]


def respond(
    directory: Path, path: str, *, method: str = "GET", accept_encoding: str = ""
) -> tuple[int, Headers, bytes]:
    """The HTTP answer for ``path`` (relative to the log's prefix) of the log published in
    ``directory``: 200 with the resource, 404 for anything else, 405 for other methods."""
    if method not in ("GET", "HEAD"):
        return 405, [("allow", "GET, HEAD"), ("content-type", "text/plain")], b"GET or HEAD\n"
    resource = parse_path(path)
    if resource is None:
        return 404, [("content-type", "text/plain")], b"not found\n"
    try:
        body = PublishedDirectory(directory).fetch(path)
    except NotFound:
        return 404, [("content-type", "text/plain")], b"not found\n"
    if resource.kind == CHECKPOINT:
        headers = [("content-type", "text/plain; charset=utf-8"), ("cache-control", "max-age=5")]
    else:
        headers = [
            ("content-type", "application/octet-stream"),
            ("cache-control", "public, max-age=31536000, immutable"),
        ]
        if resource.kind == "entries":
            headers.append(("vary", "accept-encoding"))
            if "gzip" in accept_encoding.lower():
                body = gzip.compress(body, mtime=0)
                headers.append(("content-encoding", "gzip"))
    headers.append(("content-length", str(len(body))))
    return 200, headers, b"" if method == "HEAD" else body


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class TileServer:
    """ASGI application serving a published log read-only; mount it at the log's prefix
    (``app.mount("/log", TileServer(directory))``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = str(scope["path"])
        root = str(scope.get("root_path", ""))
        if root and path.startswith(root):
            path = path[len(root) :]
        accept = ""
        for name, value in scope.get("headers", []):
            if name.lower() == b"accept-encoding":
                accept = value.decode("latin-1")
        status, headers, body = respond(
            self.directory, path.lstrip("/"), method=scope["method"], accept_encoding=accept
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            }
        )
        await send({"type": "http.response.body", "body": body})
