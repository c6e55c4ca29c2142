"""At most N requests of a worker in progress at once; the rest wait on the event loop.

Why: the endpoints and dependencies are sync and run in the thread pool (40 threads), each request
holding one pooled database connection (15) from its first dependency to its response. Under
more concurrent requests than connections, threads fill up with requests waiting for a
connection while the requests holding connections wait for a thread to run their next step:
nothing moves until the pool's 30 s timeout fails them all (bench/bench_load.py saw every request
time out). Admitting no more requests than there are connections keeps the thread pool free for
the ones in progress; a request that cannot be admitted within `wait_seconds` gets 503 with
Retry-After instead of hanging. Health checks and /metrics are never queued.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import server_busy_response

EXEMPT_PREFIXES = ("/api/v1/health", "/metrics")


class AdmissionLimit:
    def __init__(self, app: ASGIApp, max_in_flight: int, wait_seconds: float) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.wait_seconds = wait_seconds
        self._slots: asyncio.Semaphore | None = None  # made on the worker's own event loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES) or self.max_in_flight <= 0:
            await self.app(scope, receive, send)
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_in_flight)
        if self._slots.locked():  # every slot taken, or others already waiting: queue, bounded
            try:
                await asyncio.wait_for(self._slots.acquire(), timeout=self.wait_seconds)
            except TimeoutError:
                await server_busy_response(Request(scope))(scope, receive, send)
                return
        else:  # a free slot: taken at once, without the task and timer wait_for costs per request
            await self._slots.acquire()
        try:
            await self.app(scope, receive, send)
        finally:
            self._slots.release()
