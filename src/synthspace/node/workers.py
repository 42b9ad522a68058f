"""Splitting record-independent gate work over the machine's cores.

`worker_count` is how many workers a stage may use: ``SYNTHSPACE_GATE_WORKERS`` when set (1
turns every split off), else the CPUs this process may run on, at most 2 by default (one
node shares its machine with generation and serving), and never more than one worker per
`min_items` items, so small runs and unit tests stay in one thread.

`thread_map` runs a function over contiguous ranges in threads. It pays only where the work
releases the GIL (SudachiPy's `tokenize` does); results come back in order. `ForkedRanges`
runs pure-Python work (the usefulness checks) in forked processes, started early and
collected later, so it overlaps the parent's other gates.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

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


def can_fork() -> bool:
    """Forking is safe here: a fork start method, and no other thread that could hold a lock."""
    return "fork" in mp.get_all_start_methods() and threading.active_count() == 1


def _child(fn: Callable[[int, int], list[T]], lo: int, hi: int, conn: Connection) -> None:
    try:
        conn.send(("ok", fn(lo, hi)))
    except BaseException:  # the parent re-runs the range to raise the real exception
        conn.send(("error", None))
    finally:
        conn.close()


class ForkedRanges(Generic[T]):
    """fn(start, stop) over contiguous ranges of range(n), in forked processes started now and
    collected by `results()`, so the parent can do other work meanwhile.

    The children inherit everything `fn` needs (no pickling of inputs); only results travel
    back. With one worker, or where forking is not safe (`can_fork`), nothing is started
    and `results()` runs `fn` in this process. A child that fails or dies has its range
    re-run here, so errors surface exactly as without workers.
    """

    def __init__(self, fn: Callable[[int, int], list[T]], n: int, workers: int) -> None:
        self._fn = fn
        self._n = n
        self._jobs: list[tuple[int, int, Any, Connection]] = []
        if workers <= 1 or n < 2 or not can_fork():
            return
        ctx = mp.get_context("fork")
        for lo, hi in ranges(n, workers):
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(fn, lo, hi, send), daemon=True)
            proc.start()
            send.close()
            self._jobs.append((lo, hi, proc, recv))

    @property
    def forked(self) -> int:
        return len(self._jobs)

    def results(self) -> list[T]:
        if not self._jobs:
            return self._fn(0, self._n)
        out: list[T] = []
        jobs, self._jobs = self._jobs, []
        try:
            for lo, hi, proc, recv in jobs:
                try:
                    status, payload = recv.recv()
                except (EOFError, OSError):
                    status, payload = "lost", None
                recv.close()
                proc.join()
                out.extend(payload if status == "ok" else self._fn(lo, hi))
        finally:
            for _, _, proc, _ in jobs:
                if proc.is_alive():
                    proc.terminate()
                    proc.join()
        return out

    def cancel(self) -> None:
        """Stop the children (the run failed before their results were needed)."""
        for _, _, proc, recv in self._jobs:
            recv.close()
            proc.terminate()
            proc.join()
        self._jobs = []
