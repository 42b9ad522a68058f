"""Where the coordinator remembers request nonces, so a signed request cannot be replayed.

A nonce only needs remembering while its signature could still be accepted (`created` within
`signature_max_age_s`, plus clock skew), so the store is a cache with a time to live:

- `memory`: a dict in the server process; no database write on any request. Right for one
  server process (`coordinator serve`), which is the SQLite default.
- `redis://HOST:PORT/DB`: `SET key 1 NX EX ttl` in Redis, shared by every server process.
- `database`: a row per nonce in the catalog database (the PostgreSQL default, safe when several
  processes share a database and no Redis is configured), pruned as it expires.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from synthspace.coordinator.errors import CoordinatorError, UnauthorizedError

MAX_NONCE_CHARS = 128


class ReplayCache(Protocol):
    def seen(self, key_id: str, nonce: str) -> bool:
        """Record the pair; True when it was already recorded (a replay)."""


def check_nonce(nonce: str) -> None:
    if len(nonce) > MAX_NONCE_CHARS:
        raise UnauthorizedError(f"nonce longer than {MAX_NONCE_CHARS} characters", code="invalid_signature")


class ReplayCacheFull(CoordinatorError):
    """The replay cache cannot take another nonce right now (full, or Redis unreachable)."""

    status = 503
    code = "busy"


class MemoryReplayCache:
    """Nonces of this process, each kept `ttl_s` seconds; bounded by `max_entries`."""

    def __init__(self, ttl_s: float, max_entries: int = 2_000_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._next_prune = 0.0

    def seen(self, key_id: str, nonce: str) -> bool:
        check_nonce(nonce)
        now = time.monotonic()
        with self._lock:
            if now >= self._next_prune or len(self._seen) >= self.max_entries:
                self._prune(now)
            key = (key_id, nonce)
            expiry = self._seen.get(key)
            if expiry is not None and expiry > now:
                return True
            if len(self._seen) >= self.max_entries:
                # Forgetting a live nonce would allow a replay; refusing is the safe side.
                raise ReplayCacheFull("too many signed requests in flight; retry shortly", code="busy")
            self._seen[key] = now + self.ttl_s
            return False

    def _prune(self, now: float) -> None:
        self._seen = {k: v for k, v in self._seen.items() if v > now}
        self._next_prune = now + min(60.0, self.ttl_s / 4)


class RedisReplayCache:
    """Nonces in Redis (`SET NX EX`), shared by every server process that uses the same Redis."""

    def __init__(self, url: str, ttl_s: int, prefix: str = "synthspace:nonce:") -> None:
        import redis

        self.ttl_s = int(ttl_s)
        self.prefix = prefix
        self._client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)

    def seen(self, key_id: str, nonce: str) -> bool:
        check_nonce(nonce)
        import redis

        try:
            fresh = self._client.set(f"{self.prefix}{key_id}:{nonce}", b"1", nx=True, ex=self.ttl_s)
        except redis.RedisError as exc:
            # Without the cache a replay could pass: refuse the request rather than skip the check.
            raise ReplayCacheFull(f"replay cache unavailable: {exc}", code="busy") from None
        return not fresh

    def ping(self) -> None:
        self._client.ping()
