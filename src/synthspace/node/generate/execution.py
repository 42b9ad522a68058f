"""What both engines share while a run executes: the shard writer, the run context, rendered
prompts, per-attempt requests, shard rows and progress reports.

The local engine (runner.py) and the Ray engine (ray_engine.py, whose driver writes the shards)
both import this module; runner.py also imports the Ray engine, so these pieces live here rather
than in runner.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthspace.node.generate.backends import Backend, GenerationRequest
from synthspace.node.generate.manifest import RunManifest, write_manifest
from synthspace.node.generate.planning import PersonaSet, Task, u64_of
from synthspace.node.generate.run_dir import write_shard
from synthspace.node.generate.structured import OutputValidator
from synthspace.node.recipes import PromptRenderer, Recipe
from synthspace.node.seeds import SeedSet


@dataclass(frozen=True)
class Progress:
    """A snapshot for progress displays; `session_*` counts only this process's work."""

    requested: int
    completed: int
    dropped: int
    retries: int
    session_completed: int
    session_tokens: int
    elapsed: float


ProgressCallback = Callable[[Progress], None]


RENDER_CACHE = 4096  # rendered prompts kept (seed x persona pairs)


class ShardWriter:
    """Buffers validated rows and turns them into shards + manifest updates.

    The Parquet writes and manifest writes (pyarrow's import included) run on one writer thread,
    in the order they were asked for, so the event loop never waits on compression or fsync.
    The loop alone changes rows, drops and counters; the thread alone appends shards and adds to
    `manifest.completed`. A write that fails is raised on the caller's side at the next add,
    flush or close, and the thread writes nothing after it. `close()` waits for every write.
    """

    def __init__(self, out: Path, manifest: RunManifest, schema: Callable[[], Any], shard_size: int) -> None:
        self.out, self.manifest, self.shard_size = out, manifest, shard_size
        self.rows: list[dict[str, Any]] = []
        self.dirty = False
        self.dropped_ids = set(manifest.dropped_record_ids)
        # Token counts land here per record and go into the manifest at each flush: a plain int
        # add instead of a pydantic attribute write per record.
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._lock = threading.Lock()
        self._writing = 0  # rows handed to the thread and not yet counted in manifest.completed
        self._error: BaseException | None = None
        self._error_raised = False
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synthspace-shards")
        self._schema: Any = None
        self._pool.submit(self._job, self._prepare, schema)  # import pyarrow while the first requests run

    def accepted(self) -> int:
        """Rows in shards plus rows accepted but not yet written (in memory or being written)."""
        with self._lock:  # the writer thread moves rows from `_writing` to `completed` under it
            return self.manifest.completed + self._writing + len(self.rows)

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.dirty = True
        if len(self.rows) >= self.shard_size:
            self.flush()

    def drop(self, record_id: str, reason: str) -> None:
        if record_id not in self.dropped_ids:
            self.dropped_ids.add(record_id)
            self.manifest.dropped_record_ids.append(record_id)
            self.manifest.dropped[reason] = self.manifest.dropped.get(reason, 0) + 1
        self.dirty = True

    def flush(self) -> None:
        """Hand the buffered rows and the manifest to the writer thread (returns at once)."""
        self._raise_error()
        m = self.manifest
        if self.prompt_tokens or self.completion_tokens:
            m.prompt_tokens += self.prompt_tokens
            m.completion_tokens += self.completion_tokens
            self.prompt_tokens = self.completion_tokens = 0
        if not self.dirty:
            return
        if self._pool is None:
            raise RuntimeError("ShardWriter used after close()")
        rows, self.rows = self.rows, []
        with self._lock:
            self._writing += len(rows)
        self._pool.submit(self._job, self._write, rows)
        self.dirty = False

    def close(self, raise_error: bool = True) -> None:
        """Flush, wait for every write, and raise a write that failed (unless raised before)."""
        if self._pool is not None:
            if self._error is None:
                self.flush()
            self._pool.shutdown(wait=True)
            self._pool = None
        if raise_error:
            self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None and not self._error_raised:
            self._error_raised = True
            raise self._error

    # ---- on the writer thread ----------------------------------------------------------------

    def _job(self, fn: Callable[..., None], *args: Any) -> None:
        if self._error is not None:
            return  # after a failed write nothing more is written; the caller raises it
        try:
            fn(*args)
        except BaseException as exc:
            self._error = exc

    def _prepare(self, schema: Callable[[], Any]) -> None:
        self._schema = schema()

    def _write(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            info = write_shard(self.out, rows, self._schema)
            # Shard first, manifest second: a crash in between leaves a shard the next start finds.
            with self._lock:
                self.manifest.shards.append(info)
                self.manifest.completed += info.rows
                self._writing -= len(rows)
        write_manifest(self.out, self.manifest)


@dataclass
class RunContext:
    recipe: Recipe
    seeds: SeedSet
    personas: PersonaSet
    backend: Backend | None  # None when the engine builds backends elsewhere (Ray workers)
    renderer: PromptRenderer
    validator: OutputValidator
    writer: ShardWriter
    requested: int
    flush_interval: float
    progress: ProgressCallback | None


class Prompts:
    """Rendered chat messages per task. Every output of one seed x persona pair (and every retry)
    has the same prompt: render it once. Bounded, since a plan's pairs can number in the hundreds
    of thousands."""

    def __init__(self, renderer: PromptRenderer, seeds: SeedSet, personas: PersonaSet, max_tokens: int) -> None:
        self.renderer, self.seeds, self.personas, self.max_tokens = renderer, seeds, personas, max_tokens
        self.rendered: dict[tuple[int, int | None], list[dict[str, str]]] = {}

    def messages(self, task: Task) -> list[dict[str, str]]:
        key = (task.seed_index, task.persona_index)
        hit = self.rendered.get(key)
        if hit is None:
            persona = self.personas.personas[task.persona_index] if task.persona_index is not None else None
            hit = self.renderer.render(self.seeds.records[task.seed_index], persona)
            if len(self.rendered) >= RENDER_CACHE:
                self.rendered.pop(next(iter(self.rendered)))
            self.rendered[key] = hit
        return hit

    def request(self, task: Task, attempt: int) -> GenerationRequest:
        return task_request(task.record_id, self.messages(task), task.temperature, task.top_p, self.max_tokens, attempt)


def task_request(
    record_id: str, messages: list[dict[str, str]], temperature: float, top_p: float, max_tokens: int, attempt: int
) -> GenerationRequest:
    """Attempt `attempt` of one record: its sampling seed depends only on the record id and attempt
    (`_u64(record_id, attempt) % 2**31`)."""
    return GenerationRequest(
        key=record_id,
        messages=messages,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        seed=u64_of(f"{record_id}\x1f{attempt}") % (2**31),
    )


def make_row(ctx: RunContext, task: Task, record: dict[str, Any], attempts: int, completion_tokens: int) -> dict[str, Any]:
    """The shard row of one validated record."""
    persona_id = ctx.personas.personas[task.persona_index]["persona_id"] if task.persona_index is not None else None
    return {
        "record_id": task.record_id,
        **record,
        "persona_id": persona_id,
        "_seed_index": task.seed_index,
        "_k": task.k,
        "_attempts": attempts,
        "_temperature": task.temperature,
        "_top_p": task.top_p,
        "_completion_tokens": completion_tokens,
    }


REPORT_EVERY_S = 0.1  # progress snapshots at most this often (a progress bar redraws slower anyway)


class Reporter:
    """Progress snapshots for `ctx.progress`; `session` counts this process's work only.

    Called after every result, it hands out a snapshot at most every REPORT_EVERY_S seconds
    (and always when `force`d, at the start and the end of a run): building one and updating a
    progress bar per record cost more than the record's own bookkeeping."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.t0 = time.monotonic()
        self.session_completed = 0
        self.session_tokens = 0
        self._next = 0.0

    def __call__(self, force: bool = False) -> None:
        ctx = self.ctx
        if ctx.progress is None:
            return
        now = time.monotonic()
        if not force and now < self._next:
            return
        self._next = now + REPORT_EVERY_S
        m = ctx.writer.manifest
        ctx.progress(
            Progress(
                requested=ctx.requested,
                completed=ctx.writer.accepted(),
                dropped=m.dropped_total,
                retries=m.retries,
                session_completed=self.session_completed,
                session_tokens=self.session_tokens,
                elapsed=now - self.t0,
            )
        )
