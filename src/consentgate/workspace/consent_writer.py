"""Group commit for consent events recorded one at a time by concurrent callers (the
service): ``ConsentWriter``.

Every write transaction is serialised — on PostgreSQL by the ledger's advisory lock taken
at ``BEGIN`` and by the audit log's single head (``LOCK TABLE audit_log``), on SQLite by
``BEGIN IMMEDIATE`` — so one event per transaction caps writes at one lock hold (about
5 ms) each, whatever the number of callers. The writer is one thread that takes every
event queued while the previous batch was committing and records them together with
``consent.record_events``: one transaction, one lock acquisition, one bulk insert of the
events and one run of audit entries appended to the chain. The entries are those the
events would have had one at a time (one ``consent.recorded`` per event, in queue order,
each chained to the one before), except that a batch shares one recording time; the
Merkle tree and the receipts mean what they meant.

A caller's ``record`` returns only once its batch has committed. An event that is invalid
or conflicts fails alone (its error is raised to its caller); a failure of the batch's
transaction fails every event in it and stores none of them. Several service processes
each run a writer; the database lock still serialises their batches.

Written here rather than taken from a library: it is a queue and a thread around a use
case, and a task queue (Celery, RQ) would add a broker process between the request and
its transaction.
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from consentgate import consent as core
from consentgate.errors import ConsentgateError
from consentgate.remediation.deadlines import DeadlineRules
from consentgate.timestamps import Clock, utcnow
from consentgate.workspace.consent import Recorded, record_events

logger = logging.getLogger(__name__)

MAX_BATCH = 512
"""Most events recorded in one transaction (the queue keeps the rest for the next)."""


@dataclass(slots=True)
class _Job:
    record: dict[str, Any]
    done: Future[Recorded | ConsentgateError] = field(default_factory=Future)


class WriterClosed(ConsentgateError):
    """The writer was closed: nothing was recorded."""


class ConsentWriter:
    """One thread recording the events queued by ``record`` in batches (see the module)."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        rules: DeadlineRules | None = None,
        max_batch: int = MAX_BATCH,
        now: Clock = utcnow,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.engine = engine
        self.rules = rules
        self.max_batch = max_batch
        self.now = now
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None  # started by the first ``record``

    def record(self, record: dict[str, Any]) -> tuple[core.ConsentEvent, bool]:
        """``consent.record_event`` through the writer: the event as stored and whether this
        call stored it, once its batch has committed (or the error, raised)."""
        job = _Job(record)
        with self._lock:
            if self._closed:
                raise WriterClosed("the service is shutting down: nothing was recorded")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="consent-writer", daemon=True
                )
                self._thread.start()
            self._queue.put(job)
        outcome = job.done.result()
        if isinstance(outcome, ConsentgateError):
            raise outcome
        return outcome.event, outcome.created

    def close(self) -> None:
        """Record what is queued, then stop the thread (callers after this are refused)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            if thread is None:
                return
            self._queue.put(None)
        thread.join()

    def _take(self) -> tuple[list[_Job], bool]:
        """The next batch (waiting for its first job) and whether to stop after it."""
        first = self._queue.get()
        if first is None:
            return [], True
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return batch, True
            batch.append(job)
        return batch, False

    def _run(self) -> None:
        stop = False
        while not stop:
            batch, stop = self._take()
            if batch:
                self._commit(batch)

    def _commit(self, batch: list[_Job]) -> None:
        at: datetime = self.now()
        try:
            outcomes = record_events(
                self.engine, [j.record for j in batch], now=lambda: at, rules=self.rules
            )
        except BaseException as exc:  # the transaction failed: every event in it fails
            if not isinstance(exc, ConsentgateError):
                logger.error("a batch of %d consent events failed: nothing stored", len(batch))
            for job in batch:
                job.done.set_exception(_own(exc))
            if not isinstance(exc, Exception):
                raise
            return
        for job, outcome in zip(batch, outcomes, strict=True):
            job.done.set_result(outcome)


def _own(exc: BaseException) -> BaseException:
    """A copy of ``exc`` for one caller (each raises it in its own thread), or ``exc``."""
    try:
        return copy.copy(exc)
    except Exception:  # pragma: no cover - an exception that cannot be copied
        return exc
