"""Splitting record-independent gate work over the machine's cores.

`worker_count` is how many workers a stage may use: ``SYNTHSPACE_GATE_WORKERS`` when set (1
turns every split off), else the CPUs this process may run on, at most 2 by default (one
node shares its machine with generation and serving), and never more than one worker per
`min_items` items, so small runs and unit tests stay in one thread.

`thread_map` runs a function over contiguous ranges in threads. It pays only where the work
releases the GIL (SudachiPy's `tokenize` does); results come back in order.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
DEFAULT_MAX_WORKERS = 2


def worker_count(n_items: int, min_items: int = 2000) -> int:
    """Workers for `n_items` items: at most one per `min_items`, at least 1."""
    env = os.environ.get("SYNTHSPACE_GATE_WORKERS", "").strip()
    if env:
        try:
            cap = max(1, int(env))
        except ValueError:
            cap = 1
    else:
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            cpus = os.cpu_count() or 1
        cap = min(DEFAULT_MAX_WORKERS, cpus)
    return max(1, min(cap, n_items // max(1, min_items)))


def ranges(n: int, parts: int) -> list[tuple[int, int]]:
    """`parts` contiguous (start, stop) ranges covering range(n), sizes differing by <= 1."""
    parts = max(1, min(parts, n)) if n else 1
    step, extra = divmod(n, parts)
    out, lo = [], 0
    for k in range(parts):
        hi = lo + step + (1 if k < extra else 0)
        out.append((lo, hi))
        lo = hi
    return out


def thread_map(fn: Callable[[int, int], list[T]], n: int, workers: int) -> list[T]:
    """fn(start, stop) over `workers` contiguous ranges of range(n), concatenated in order."""
    if workers <= 1 or n < 2:
        return fn(0, n)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="synthspace-gate") as ex:
        futures = [ex.submit(fn, lo, hi) for lo, hi in ranges(n, workers)]
        out: list[T] = []
        for f in futures:
            out.extend(f.result())
    return out
