"""Replay caches: memory (no database write per request) and Redis shared by several servers."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from synthspace.coordinator.errors import UnauthorizedError
from synthspace.coordinator.replay_cache import MemoryReplayCache, RedisReplayCache, ReplayCacheFull
from tests.coordinator.conftest import CoordinatorServer, enrol, init_home

REDIS = "redis://127.0.0.1:6379/15"


def test_memory_cache_refuses_replays_and_forgets_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = MemoryReplayCache(ttl_s=10, max_entries=3)
    assert cache.seen("k", "n1") is False
    assert cache.seen("k", "n1") is True
    assert cache.seen("other", "n1") is False  # per key
    import synthspace.coordinator.replay_cache as rc

    now = rc.time.monotonic()
    monkeypatch.setattr(rc.time, "monotonic", lambda: now + 11)
    assert cache.seen("k", "n1") is False  # expired: the signature would be stale anyway
    assert cache.seen("k", "n2") is False
    assert cache.seen("k", "n3") is False
    with pytest.raises(ReplayCacheFull):  # full of live nonces: refuse, never forget one
        cache.seen("k", "n4")
    with pytest.raises(UnauthorizedError):
        cache.seen("k", "x" * 129)


def test_redis_cache_refuses_replays() -> None:
    cache = RedisReplayCache(REDIS, ttl_s=30, prefix=f"test:{uuid.uuid4().hex}:")
    cache.ping()
    assert cache.seen("k", "n1") is False
    assert cache.seen("k", "n1") is True
    assert cache.seen("k2", "n1") is False


def test_unreachable_redis_refuses_rather_than_skipping_the_check() -> None:
    cache = RedisReplayCache("redis://127.0.0.1:1/0", ttl_s=30)
    with pytest.raises(ReplayCacheFull, match="replay cache unavailable"):
        cache.seen("k", "n")


@pytest.mark.parametrize("cache", ["memory", "redis"])
def test_a_replayed_request_is_refused_by_the_server(tmp_path: Path, cache: str) -> None:
    """Memory: the same process refuses a replay. Redis: a second server process on the same home
    and Redis refuses a request the first one already accepted."""
    from synthspace.http_signatures import sign_request

    home = tmp_path / "home"
    public = "http://catalog.test"  # both processes check signatures against this URL
    init_home(home, None, replay_cache="memory" if cache == "memory" else REDIS, public_url=public)
    servers = [CoordinatorServer(home=home, backend="sqlite").start()]
    if cache == "redis":
        servers.append(CoordinatorServer(home=home, backend="sqlite").start())
    try:
        ident = enrol(servers[0])
        headers = sign_request("GET", public + "/v1/artifacts", b"", ident.request_key, nonce=uuid.uuid4().hex)
        first = httpx.get(servers[0].url + "/v1/artifacts", headers=headers, timeout=30)
        assert first.status_code == 200, first.text
        again = httpx.get(servers[-1].url + "/v1/artifacts", headers=headers, timeout=30)
        assert again.status_code == 401, again.text
        assert again.json()["error"] == "invalid_signature" and "replay" in again.text.lower()
    finally:
        for s in servers:
            s.stop()


@pytest.mark.parametrize(
    ("url", "public_url", "expected"),
    [
        ("sqlite:///x.db", None, MemoryReplayCache),
        ("sqlite:///x.db", "https://catalog.example", MemoryReplayCache),
        ("postgresql+psycopg://root@127.0.0.1/test", None, MemoryReplayCache),
        ("postgresql+psycopg://root@127.0.0.1/test", "https://catalog.example", "NonceStore"),
    ],
)
def test_auto_replay_cache_is_shared_only_where_processes_can_share_a_url(
    tmp_path: Path, url: str, public_url: str | None, expected: Any
) -> None:
    """Without public_url a signature names this process's own address, so only this process can
    be sent it again; with public_url several processes may answer for it (PostgreSQL)."""
    from synthspace.coordinator.runtime import make_replay_cache
    from synthspace.coordinator.settings import CoordinatorSettings

    settings = CoordinatorSettings(home=tmp_path, database_url=url, public_url=public_url)
    cache = make_replay_cache(settings, sessions=None)  # type: ignore[arg-type]
    assert type(cache).__name__ == (expected if isinstance(expected, str) else expected.__name__)
