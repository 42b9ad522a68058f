"""The generate -> validate -> retry loop over a set of tasks, shared by both engines.

`--engine local` runs it in the driver over the whole plan and writes each result as it comes;
`--engine ray` runs it inside each Ray worker over one chunk of pre-rendered prompts and ships the
results back to the driver, which alone writes shards. Either way a task's attempt `a` samples with
seed `_u64(record_id, a)`, so where a task runs does not change what it asks the model for.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from synthspace.node.generate.backends import Backend, Completion, GenerationRequest
from synthspace.node.generate.structured import DropReason, OutputValidator

T = TypeVar("T")

# on_result(task, attempt, completion, record or None, drop reason or None, final): `final` is False
# when the task failed validation and will be attempted again.
ResultCallback = Callable[[T, int, Completion, dict[str, Any] | None, DropReason | None, bool], None]


class AttemptLoop(Generic[T]):
    """Runs `tasks` through `backend` with `max_batch_size` x `max_concurrency` in flight."""

    def __init__(
        self,
        backend: Backend,
        validator: OutputValidator,
        schema: dict[str, Any],
        max_retries: int,
        request: Callable[[T, int], GenerationRequest],
        on_result: ResultCallback[T],
        on_batch: Callable[[], None] | None = None,
    ) -> None:
        self.backend, self.validator, self.schema = backend, validator, schema
        self.max_retries, self.request, self.on_result, self.on_batch = max_retries, request, on_result, on_batch

    async def run(self, tasks: Sequence[T], side: Sequence[asyncio.Task[Any]] = ()) -> None:
        """Until every task has a final result; `side` tasks are cancelled at the end.

        The tasks wait in a plain deque, in order, with a retry going to the back (as it did with
        an asyncio.Queue, without the queue's per-item bookkeeping). A worker stops when the deque
        is empty: a retry is queued by the worker whose attempt failed, and that worker takes
        work again at once, so nothing queued is ever left without a worker."""
        backend, schema, request, on_result, on_batch = self.backend, self.schema, self.request, self.on_result, self.on_batch
        check, max_retries, batch_size = self.validator.check, self.max_retries, backend.max_batch_size
        todo: deque[tuple[T, int]] = deque((t, 0) for t in tasks)

        async def worker() -> None:
            while todo:
                batch = [todo.popleft() for _ in range(min(batch_size, len(todo)))]
                completions = await backend.agenerate([request(t, a) for t, a in batch], schema)
                for (task, attempt), comp in zip(batch, completions, strict=True):
                    record, reason, _ = check(comp)
                    retry = record is None and attempt < max_retries
                    on_result(task, attempt, comp, record, reason, not retry)
                    if retry:
                        todo.append((task, attempt + 1))
                if on_batch is not None:
                    on_batch()

        workers = [asyncio.create_task(worker()) for _ in range(backend.max_concurrency)]
        try:
            await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            for w in workers:
                if w.done() and not w.cancelled() and w.exception() is not None:
                    raise w.exception()  # type: ignore[misc]
        finally:
            for task in (*workers, *side):
                task.cancel()
            await asyncio.gather(*workers, *side, return_exceptions=True)
