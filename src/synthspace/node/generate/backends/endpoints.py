"""Several OpenAI-compatible endpoints as one, and a concurrency limit that finds itself.

`EndpointPool` sends each request to the healthy endpoint with the fewest requests in flight;
an endpoint that fails (transport error, timeout, 5xx) twice in a row is taken out for a
cool-down that doubles on each further failure (1 s .. 60 s), and the failed request is retried
at once on another endpoint. A request is only ever answered once, so the run's record set stays
exact whichever endpoints come and go.

`AdaptiveLimit` is an AIMD limit on requests in flight: it grows by about one per round trip
while latency stays within twice the best seen, and shrinks by 30% on 429/503 or a latency jump,
so a user does not have to guess `--concurrency`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass


@dataclass
class Endpoint:
    url: str
    in_flight: int = 0
    failures: int = 0
    down_until: float = 0.0
    cooldown: float = 0.0
    requests: int = 0
    errors: int = 0

    def healthy(self, now: float) -> bool:
        return now >= self.down_until


class EndpointPool:
    FAILURES_BEFORE_COOLDOWN = 2
    MIN_COOLDOWN_S = 1.0
    MAX_COOLDOWN_S = 60.0

    def __init__(self, urls: list[str]) -> None:
        if not urls:
            raise ValueError("at least one endpoint URL is needed")
        self.endpoints = [Endpoint(u) for u in urls]

    def pick(self, avoid: Endpoint | None = None) -> tuple[Endpoint | None, float]:
        """(endpoint, 0) for the least-loaded healthy one (not `avoid` if another is healthy);
        (None, seconds) until the first comes back when every endpoint is cooling down."""
        now = time.monotonic()
        if len(self.endpoints) == 1:  # the common case, once per request: no lists to build
            only = self.endpoints[0]
            return (only, 0.0) if only.healthy(now) else (None, only.down_until - now)
        healthy = [e for e in self.endpoints if e.healthy(now)]
        if not healthy:
            return None, max(0.0, min(e.down_until for e in self.endpoints) - now)
        choices = [e for e in healthy if e is not avoid] or healthy
        best = min(choices, key=lambda e: (e.in_flight, e.requests))
        return best, 0.0

    def succeeded(self, e: Endpoint) -> None:
        e.failures, e.cooldown = 0, 0.0

    def failed(self, e: Endpoint) -> None:
        e.errors += 1
        e.failures += 1
        if e.failures >= self.FAILURES_BEFORE_COOLDOWN:
            e.cooldown = min(self.MAX_COOLDOWN_S, max(self.MIN_COOLDOWN_S, e.cooldown * 2))
            e.down_until = time.monotonic() + e.cooldown

    def others_healthy(self, e: Endpoint) -> bool:
        now = time.monotonic()
        return any(o is not e and o.healthy(now) for o in self.endpoints)


class AdaptiveLimit:
    """An awaitable slot with a limit that adapts (fixed when `adaptive` is False).

    A free slot is taken at once while nobody waits; otherwise the acquirer waits in line on a
    future, and `release` hands freed slots to the waiters in order (counting them in
    `in_flight` itself), so releasing is a plain call with nothing to await."""

    def __init__(self, initial: int, maximum: int, adaptive: bool) -> None:
        self.limit = float(max(1, min(initial, maximum)))
        self.maximum = maximum
        self.adaptive = adaptive
        self.in_flight = 0
        self.best_latency: float | None = None
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.peak = 0

    async def acquire(self) -> None:
        # A free slot and nobody in line: take it (one event loop, so the check and the
        # increment cannot interleave with another task). This is every request of a run whose
        # workers never outnumber the limit.
        if not self._waiters and self.in_flight < int(self.limit):
            self.in_flight += 1
            if self.in_flight > self.peak:
                self.peak = self.in_flight
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut  # done: `_wake` has counted this slot
        except BaseException:
            if fut.done() and not fut.cancelled():
                self.in_flight -= 1  # handed a slot but cancelled before taking it: pass it on
                self._wake()
            else:
                try:
                    self._waiters.remove(fut)
                except ValueError:
                    pass
            raise

    def release(self, latency: float | None, overloaded: bool) -> None:
        self.in_flight -= 1
        if self.adaptive:
            self._adapt(latency, overloaded)
        if self._waiters:
            self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < int(self.limit):
            fut = self._waiters.popleft()
            if not fut.done():
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
                fut.set_result(None)

    def _adapt(self, latency: float | None, overloaded: bool) -> None:
        if overloaded:
            self.limit = max(1.0, self.limit * 0.7)
            return
        if latency is None:
            return
        if self.best_latency is None or latency < self.best_latency:
            self.best_latency = latency
        if latency <= 2.0 * self.best_latency:
            self.limit = min(float(self.maximum), self.limit + 1.0 / self.limit * max(1.0, self.limit / 4))
        elif latency > 4.0 * self.best_latency:
            self.limit = max(1.0, self.limit * 0.9)

    def reset_loop(self) -> None:
        """A new event loop (a new run): waiters' futures belong to their loop."""
        self._waiters.clear()
        self.in_flight = 0
