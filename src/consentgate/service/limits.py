"""Request-size limit (an ASGI middleware) and the per-caller write rate limit.

``BodyLimit`` refuses a body over the limit with 413 before a route sees it: at once when
``Content-Length`` says so, else when the streamed body passes the limit. ``WriteLimiter`` is
a token bucket per caller (``rate`` per second, up to ``burst`` at once), kept in memory for
the most recent 65,536 callers; it says how many seconds to wait when empty (``Retry-After``).
Per process: behind several server processes each keeps its own buckets.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]
ASGIApp = Callable[[Scope, Receive, Send], Any]

TOO_LARGE = json.dumps(
    {"ok": False, "type": "TooLarge", "error": "request body too large"}
).encode()


class _TooLarge(HTTPException):
    """Raised from ``receive``: an HTTPException, so FastAPI's body parsing lets it through
    to the error handlers (it turns other exceptions into a 400)."""

    def __init__(self) -> None:
        super().__init__(413, "request body too large")


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.max_bytes + 1
                if declared > self.max_bytes:
                    await _refuse(send)
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message: Message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _refuse(send)


async def _refuse(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(TOO_LARGE)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": TOO_LARGE})


class WriteLimiter:
    """Token buckets per caller key. ``take(key)`` is 0 when allowed, else the seconds
    (rounded up, at least 1) until a write would be."""

    MAX_CALLERS = 65_536

    def __init__(
        self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> int:
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                wait = 0
                tokens -= 1.0
            else:
                wait = max(1, math.ceil((1.0 - tokens) / self.rate))
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self.MAX_CALLERS:
                self._buckets.popitem(last=False)
        return wait
