"""Gate work that must really fork: run by tests/node/gates/test_workers.py in a fresh pytest
process, because `workers.can_fork` refuses to fork while other threads run and the main
suite's process has threads left by earlier tests. Not collected on its own (not test_*.py)."""

from __future__ import annotations

import os

import pytest
from gates_helpers import RunFactory, clean_corpus, make_seeds

from synthspace.node import workers
from synthspace.node.gates import quality_checks, run_gates


def _single_threaded() -> None:
    assert workers.can_fork(), "these cases need a process with no other thread"


def test_forked_ranges_return_in_order_and_failures_surface_here() -> None:
    _single_threaded()

    def squares(lo: int, hi: int) -> list[tuple[int, int]]:
        return [(i, i * i) for i in range(lo, hi)]

    job = workers.ForkedRanges(squares, 1001, 3)
    assert job.forked == 3
    assert job.results() == squares(0, 1001)

    parent = os.getpid()

    def fails_in_children(lo: int, hi: int) -> list[int]:
        if os.getpid() != parent:
            raise ValueError("child")
        return list(range(lo, hi))

    # A child that fails has its range re-run in the parent: same result as serial.
    assert workers.ForkedRanges(fails_in_children, 50, 2).results() == list(range(50))

    def always_fails(lo: int, hi: int) -> list[int]:
        raise KeyError(f"{lo}-{hi}")

    with pytest.raises(KeyError):
        workers.ForkedRanges(always_fails, 50, 2).results()


def test_forked_usefulness_gives_the_same_report(
    make_run: RunFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _single_threaded()
    seeds = make_seeds(40)
    records = clean_corpus(300, seed=5)
    # Records the usefulness gate must drop, spread over both workers' ranges.
    for k in (3, 120, 299):
        records[k] = "aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQ0NDQ0NDQ0 0x9f3a2b7c1d4e5f6a7b8c"
    records[200] = "{{ answer }}"
    run = make_run(
        records,
        seeds=seeds,
        seed_indices=[k % 30 for k in range(300)],
        gates={"usefulness": {"enabled": True}},
    )
    monkeypatch.setenv("SYNTHSPACE_GATE_WORKERS", "1")
    serial = run_gates(run, write=False)
    monkeypatch.setenv("SYNTHSPACE_GATE_WORKERS", "2")
    monkeypatch.setattr(quality_checks, "_USEFULNESS_MIN_PER_WORKER", 10)
    started: list[int] = []
    real = workers.ForkedRanges.__init__

    def spy(self: workers.ForkedRanges[object], *args: object) -> None:
        real(self, *args)  # type: ignore[arg-type]
        started.append(self.forked)

    monkeypatch.setattr(workers.ForkedRanges, "__init__", spy)
    forked = run_gates(run, write=False)
    assert started == [2]
    for a, b in zip(serial.gates, forked.gates, strict=True):
        assert a.name == b.name and a.metrics == b.metrics, a.name
    assert serial.dropped_positions == forked.dropped_positions
    useless = {
        p for r, ps in serial.dropped_positions.items() if r.startswith("usefulness:") for p in ps
    }
    assert {3, 120, 200, 299} <= useless, serial.dropped_by_reason
    assert 200 in serial.dropped_positions["usefulness:placeholder"]
