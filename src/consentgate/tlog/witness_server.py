"""A minimal c2sp.org/tlog-witness witness over HTTP (FastAPI; ``consentgate witness serve``
runs it with uvicorn): its own ``cosignature/v1`` key, the logs it trusts, and a state
file with the latest checkpoint it cosigned per log.

* ``POST /add-checkpoint`` — the decision is ``consentgate.tlog.witness.add_checkpoint``;
  checking the old size against the state and persisting the new state happen under one
  lock (a thread lock and an exclusive ``flock`` on ``<state>.lock``, so two processes on
  one state file cannot interleave), and the state is on disk (written to a temporary
  file, synced, renamed) before the cosignature is returned — the race the spec warns
  about cannot roll the witness back.
* ``GET /<sha256(origin) hex>/checkpoint`` — the latest cosigned checkpoint of a log.

Requests larger than 64 KiB are refused (413). Nothing is logged about request bodies.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from fastapi import FastAPI, Request, Response

from consentgate.errors import InvalidInput
from consentgate.files import write_atomic
from consentgate.tlog.checkpoint import Verifier, read_key_file, write_key_file
from consentgate.tlog.witness import (
    Cosigner,
    Seen,
    add_checkpoint,
    new_cosigner_key,
    origin_hash,
    parse_cosigner_key,
)

__all__ = ["WitnessState", "create_witness_app", "create_witness_key", "load_witness_key"]

MAX_BODY = 64 * 1024
STATE_VERSION = 1


def create_witness_key(path: Path, *, name: str) -> Cosigner:
    """Create a witness key file (mode 0600; never replaces one) and return the key."""
    line = new_cosigner_key(name)
    write_key_file(path, line)
    return parse_cosigner_key(line)


def load_witness_key(path: Path) -> Cosigner:
    text = read_key_file(path)
    try:
        return parse_cosigner_key(text)
    except InvalidInput as exc:
        raise InvalidInput(f"{path}: {exc}") from exc


class WitnessState:
    """The witness's state file: per origin, the size, root and cosigned checkpoint."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._thread_lock = threading.Lock()
        self._seen = self._load()

    def _load(self) -> dict[str, Seen]:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"{self.path}: not a witness state file ({exc})") from exc
        if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
            raise InvalidInput(f"{self.path}: not a witness state file (version)")
        try:
            return {
                origin: Seen(int(v["size"]), base64.b64decode(v["root"]), str(v["checkpoint"]))
                for origin, v in doc["logs"].items()
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"{self.path}: malformed witness state ({exc})") from exc

    def get(self, origin: str) -> Seen | None:
        return self._seen.get(origin)

    def by_hash(self, digest: str) -> Seen | None:
        for origin, seen in self._seen.items():
            if origin_hash(origin) == digest:
                return seen
        return None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the state exclusively (threads and processes), reloaded from disk."""
        with self._thread_lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    self._seen = self._load()
                    yield
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    def save(self, origin: str, seen: Seen) -> None:
        """Persist the new state of ``origin`` (inside ``locked``)."""
        updated = {**self._seen, origin: seen}
        doc = {
            "version": STATE_VERSION,
            "logs": {
                o: {
                    "size": s.size,
                    "root": base64.b64encode(s.root).decode("ascii"),
                    "checkpoint": s.checkpoint,
                }
                for o, s in sorted(updated.items())
            },
        }
        write_atomic(self.path, json.dumps(doc, indent=1))
        self._seen = updated


def create_witness_app(
    cosigner: Cosigner, logs: Mapping[str, Sequence[Verifier]], state: WitnessState
) -> FastAPI:
    """The witness as an ASGI application."""
    app = FastAPI(title="consentgate witness", openapi_url=None, docs_url=None, redoc_url=None)
    trusted = {origin: list(keys) for origin, keys in logs.items()}

    @app.post("/add-checkpoint")
    async def add(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return Response(b"request too large\n", 413, media_type="text/plain")
        with state.locked():
            reply = add_checkpoint(
                body, logs=trusted, seen=state.get, cosigner=cosigner, now=int(time.time())
            )
            if reply.seen is not None and reply.origin is not None:
                state.save(reply.origin, reply.seen)
        return Response(reply.body, reply.status, headers={"content-type": reply.content_type})

    @app.get("/{digest}/checkpoint")
    async def checkpoint(digest: str) -> Response:
        with state.locked():
            seen = state.by_hash(digest)
        if seen is None:
            return Response(b"not found\n", 404, media_type="text/plain")
        return Response(
            seen.checkpoint.encode("utf-8"),
            200,
            headers={"content-type": "text/plain; charset=utf-8"},
        )

    return app
