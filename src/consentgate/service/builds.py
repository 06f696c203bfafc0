"""Builds started over HTTP: a bounded queue of background jobs, one running at a time.

``POST /api/v1/builds`` checks the request, queues it and answers ``202`` with a build id;
``GET /api/v1/builds/{id}`` follows its progress (records gated of the total) and gives its
result (the dataset id and counts) or its error. The build itself is the CLI's use case
(``workspace.build``), run in one worker thread so that a build never competes with another
for the two cores a small server has; at most ``service_build_queue`` builds may be queued
or running (``429`` above). Jobs live in the server process: a restart forgets them (the
datasets they registered stay registered, ``GET /api/v1/datasets``), and only the latest
``KEPT`` finished jobs are kept.

Paths are relative to ``service_build_root`` and may not leave it (a symlink out of it is
refused too, as paths are resolved first); with no root configured builds over HTTP are
refused.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from consentgate import workspace
from consentgate.config import Settings
from consentgate.errors import Conflict, ConsentgateError, InvalidInput
from consentgate.timestamps import format_timestamp, utcnow

logger = logging.getLogger(__name__)

KEPT = 100


class QueueFull(Exception):
    """More builds queued or running than ``service_build_queue``."""


@dataclass
class BuildJob:
    build_id: str
    request: dict[str, Any]
    created_at: datetime
    status: str = "queued"  # queued | running | succeeded | failed
    started_at: datetime | None = None
    finished_at: datetime | None = None
    done: int = 0
    total: int | None = None
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def view(self) -> dict[str, Any]:
        with self.lock:
            return {
                "build_id": self.build_id,
                "status": self.status,
                "request": dict(self.request),
                "created_at": format_timestamp(self.created_at),
                "started_at": format_timestamp(self.started_at) if self.started_at else None,
                "finished_at": format_timestamp(self.finished_at) if self.finished_at else None,
                "progress": {"done": self.done, "total": self.total},
                "result": self.result,
                "error": self.error,
            }


def inside(root: Path, relative: str, field_name: str, *, must_exist: bool) -> Path:
    """``relative`` resolved under ``root``; refused (naming ``field_name``) when absolute,
    outside the root, or (``must_exist``) missing."""
    if Path(relative).is_absolute() or "\x00" in relative:
        raise InvalidInput("invalid request", [f"{field_name}: must be relative to the build root"])
    base = root.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base) or path == base:
        raise InvalidInput("invalid request", [f"{field_name}: must stay inside the build root"])
    if must_exist and not path.exists():
        raise InvalidInput("invalid request", [f"{field_name}: no such file or directory"])
    return path


class BuildQueue:
    def __init__(self, engine: sa.Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._jobs: OrderedDict[str, BuildJob] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cg-build")

    @property
    def root(self) -> Path:
        if self.settings.service_build_root is None:
            raise Conflict(
                "builds over HTTP are off: set service_build_root to the directory they "
                "read sources from and write datasets to"
            )
        return self.settings.service_build_root

    def submit(self, request: dict[str, Any], *, as_of: datetime | None = None) -> BuildJob:
        root = self.root
        source = inside(root, request["source"], "body.source", must_exist=True)
        out = inside(root, request["out"], "body.out", must_exist=False)
        profile = (
            inside(root, request["profile"], "body.profile", must_exist=True)
            if request.get("profile")
            else None
        )
        job = BuildJob(f"b-{uuid.uuid4().hex[:20]}", request, utcnow())
        with self._lock:
            unfinished = sum(1 for j in self._jobs.values() if j.status in ("queued", "running"))
            if unfinished >= self.settings.service_build_queue:
                raise QueueFull()
            self._jobs[job.build_id] = job
            self._forget_old()
        self._pool.submit(self._run, job, source, out, profile, as_of)
        return job

    def _forget_old(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.status in ("succeeded", "failed")]
        for key in finished[: max(0, len(finished) - KEPT)]:
            del self._jobs[key]

    def get(self, build_id: str) -> BuildJob | None:
        with self._lock:
            return self._jobs.get(build_id)

    def list(self) -> list[BuildJob]:
        with self._lock:
            return list(reversed(self._jobs.values()))

    def _run(
        self, job: BuildJob, source: Path, out: Path, profile: Path | None, as_of: datetime | None
    ) -> None:
        with job.lock:
            job.status, job.started_at = "running", utcnow()
        req = job.request

        def progress(done: int, total: int | None) -> None:
            with job.lock:
                job.done, job.total = done, total

        try:
            if self.settings.auto_checkpoint:
                from consentgate.workspace.autocheckpoint import before_disclosure

                before_disclosure(
                    self.engine, self.settings.signing_key_path, self.settings.key_dir
                )
            redact = bool(req.get("redact", True))
            rules = None
            if profile is not None:
                from consentgate.redact import load_profile

                rules = load_profile(profile)
            redactor = (
                workspace.make_redactor(self.engine, rules=rules, ner=bool(req.get("ner")))
                if redact
                else None
            )
            from consentgate.gate.source import open_source

            records = open_source(source, column_map=req.get("columns"), require_text=redact)
            result = workspace.build(
                self.engine,
                records,
                use=req["use"],
                recipient=req["recipient"],
                out=out,
                as_of=as_of,
                shards=req.get("shards"),
                shard_by=req.get("shard_by") or "author",
                redactor=redactor,
                batch_rows=self.settings.gate_batch_rows,
                max_future_share=self.settings.gate_max_future_share,
                progress=progress,
                name=req.get("name"),
            )
            same = result.registered
            outcome = {
                "dataset_id": result.dataset_id if same is None else str(same["dataset_id"]),
                "registered": same is None,
                "identical_to": None if same is None else str(same["dataset_id"]),
                "counts": result.manifest["counts"],
            }
            with job.lock:
                job.status, job.result = "succeeded", outcome
        except ConsentgateError as exc:
            with job.lock:
                job.status = "failed"
                job.error = {"type": type(exc).__name__, "error": str(exc).split("\n", 1)[0]}
        except Exception as exc:
            logger.error("build failed: unexpected %s", type(exc).__name__)
            with job.lock:
                job.status = "failed"
                job.error = {"type": "InternalError", "error": "internal error"}
        finally:
            with job.lock:
                job.finished_at = utcnow()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
