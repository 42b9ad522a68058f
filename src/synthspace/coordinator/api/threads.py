"""Blocking work off the event loop, on this server's own thread pool.

Starlette's `run_in_threadpool` goes through anyio: a capacity limiter and a pure-Python
`queue.Queue` hand-off per call, about 9% of the server's CPU in a publish profile (two such
calls per signed publish). asyncio's executor does the same hand-off through a C queue. The
caller's context variables go along, as with anyio.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

MAX_THREADS = 40  # anyio's default limit, which this pool replaces for our own calls

_pool = ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="coordinator-worker")


async def run_blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)` on a worker thread; the event loop serves others meanwhile."""
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_pool, call)
