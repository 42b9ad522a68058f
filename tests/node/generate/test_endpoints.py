"""Several OpenAI-compatible replicas with failover, and adaptive concurrency (stub servers on 127.0.0.1)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from synthspace.node.generate import get_backend, read_records, run_generation
from synthspace.node.generate.backends.endpoints import AdaptiveLimit, EndpointPool
from tests.node.generate.conftest import TINY_RECIPE, StubServer, start_stub, stop_stub


@pytest.fixture()
def many(tmp_path: Path) -> dict[str, Path]:
    """The tiny recipe with 40 outputs per seed: a 200-record plan."""
    import json

    from tests.node.generate.conftest import SEEDS

    recipe = tmp_path / "many.yaml"
    recipe.write_text(TINY_RECIPE.replace("outputs_per_seed: 3", "outputs_per_seed: 40"))
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps(s) + "\n" for s in SEEDS))
    return {"recipe": recipe, "seeds": seeds, "home": tmp_path / "home", "out": tmp_path / "run"}


def test_a_replica_dying_mid_run_loses_and_duplicates_nothing(many: dict[str, Path]) -> None:
    a, b = start_stub(latency=0.03), start_stub(latency=0.03)
    try:
        a.configure(latency=0.03, exit_after=30)  # A's process exits on its 31st request
        be = get_backend("openai", base_url=[a.base_url, b.base_url], model="m", concurrency=8, backoff_base=0.01)
        m = run_generation(many["recipe"], many["seeds"], many["out"], backend=be, home=many["home"], limit=120)
        assert a.proc.wait(timeout=10) == 3, "replica A did not die during the run"
        assert m.status == "complete" and m.completed == 120 and not m.dropped
        df = read_records(many["out"])
        assert len(df) == 120 and df["record_id"].is_unique
        served_b = b.stats()["statuses"].get("200", 0)
        assert served_b >= 120 - 30  # A answered at most 30: B took over everything else
        ep_a, ep_b = be.pool.endpoints  # type: ignore[attr-defined]
        assert ep_a.errors >= 1 and ep_b.requests >= served_b
        assert m.generator.parameters["endpoints"] == 2
    finally:
        stop_stub(b)
        if a.proc.poll() is None:
            stop_stub(a)


def test_load_is_balanced_across_replicas(many: dict[str, Path]) -> None:
    a, b = start_stub(latency=0.02), start_stub(latency=0.02)
    try:
        be = get_backend("openai", base_url=[a.base_url, b.base_url], model="m", concurrency=8)
        m = run_generation(many["recipe"], many["seeds"], many["out"], backend=be, home=many["home"], limit=80)
        assert m.completed == 80
        ra, rb = a.stats()["requests"], b.stats()["requests"]
        assert ra + rb == 80 and min(ra, rb) >= 20  # least-in-flight spreads the work
    finally:
        stop_stub(a)
        stop_stub(b)


def test_adaptive_concurrency_runs_a_whole_plan(many: dict[str, Path], stub: StubServer) -> None:
    # Growth itself depends on latencies, so it is checked clock-free in test_pool_and_limit_units;
    # here: an adaptive run completes exactly and starts with 16 requests in flight.
    stub.configure(latency=0.05)
    be = get_backend("openai", base_url=stub.base_url, model="m")  # no --concurrency: adaptive
    m = run_generation(many["recipe"], many["seeds"], many["out"], backend=be, home=many["home"], limit=200)
    assert m.completed == 200 and m.generator.parameters["concurrency"] == "adaptive"
    assert stub.stats()["max_in_flight"] >= 16 and be.limiter.peak >= 16  # type: ignore[attr-defined]


def test_adaptive_concurrency_backs_off_an_overloaded_server(many: dict[str, Path], stub: StubServer) -> None:
    stub.configure(latency=0.05, capacity=6)  # 429 + Retry-After: 0 above 6 in flight
    be = get_backend("openai", base_url=stub.base_url, model="m", backoff_base=0.01)
    m = run_generation(many["recipe"], many["seeds"], many["out"], backend=be, home=many["home"], limit=120)
    assert m.completed == 120 and not m.dropped
    statuses = stub.stats()["statuses"]
    assert statuses.get("429", 0) >= 1  # it did overload the server at first ...
    assert be.limiter.limit < 16  # type: ignore[attr-defined]  # ... and settled below where it started
    assert statuses["200"] == 120


def test_pool_and_limit_units() -> None:
    pool = EndpointPool(["http://a", "http://b"])
    a, b = pool.endpoints
    a.in_flight = 3
    assert pool.pick()[0] is b
    pool.failed(b)
    assert pool.pick()[0] is b  # one failure: still in
    pool.failed(b)
    assert pool.pick()[0] is a  # two in a row: cooling down
    pool.failed(a)
    pool.failed(a)
    endpoint, wait = pool.pick()
    assert endpoint is None and 0 < wait <= 1.0
    grow = AdaptiveLimit(4, 100, adaptive=True)
    for _ in range(40):
        grow._adapt(0.05, False)
    assert grow.limit > 8
    before = grow.limit
    grow._adapt(None, True)  # overloaded: multiplicative decrease
    assert grow.limit == pytest.approx(before * 0.7)
    grow._adapt(0.5, False)  # ten times the best latency: shrink, never grow
    assert grow.limit < before * 0.7


def test_adaptive_limit_hands_freed_slots_to_waiters_in_order() -> None:
    async def go() -> None:
        limit = AdaptiveLimit(2, 2, adaptive=False)
        order: list[int] = []

        async def user(i: int) -> None:
            await limit.acquire()
            assert limit.in_flight <= 2
            order.append(i)
            await asyncio.sleep(0.01)
            limit.release(None, False)

        await asyncio.gather(*(user(i) for i in range(7)))
        assert order == list(range(7)) and limit.in_flight == 0 and limit.peak == 2
        # A waiter cancelled while in line, and one cancelled after a slot was handed to it
        # but before it ran: neither keeps a slot.
        await limit.acquire()
        await limit.acquire()
        in_line = asyncio.ensure_future(limit.acquire())
        handed = asyncio.ensure_future(limit.acquire())
        await asyncio.sleep(0)
        in_line.cancel()
        limit.release(None, False)  # hands the slot to `handed` (in_line is skipped)
        handed.cancel()
        await asyncio.gather(in_line, handed, return_exceptions=True)
        assert limit.in_flight == 1
        await asyncio.wait_for(limit.acquire(), 1)
        assert limit.in_flight == 2

    asyncio.run(go())
