"""What both engines share while a run executes: the shard writer, the run context, rendered
prompts, per-attempt requests, shard rows and progress reports.

The local engine (runner.py) and the Ray engine (ray_engine.py, whose driver writes the shards)
both import this module; runner.py also imports the Ray engine, so these pieces live here rather
than in runner.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthspace.node.generate.backends import Backend, GenerationRequest
from synthspace.node.generate.manifest import RunManifest, write_manifest
from synthspace.node.generate.planning import PersonaSet, Task, _u64
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
    """Buffers validated rows and turns them into shards + manifest updates."""

    def __init__(self, out: Path, manifest: RunManifest, schema: Any, shard_size: int) -> None:
        self.out, self.manifest, self.schema, self.shard_size = out, manifest, schema, shard_size
        self.rows: list[dict[str, Any]] = []
        self.dirty = False
        self.dropped_ids = set(manifest.dropped_record_ids)

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
        if not self.dirty:
            return
        if self.rows:
            info = write_shard(self.out, self.rows, self.schema)
            # Shard first, manifest second: a crash in between leaves a shard the next start finds.
            self.manifest.shards.append(info)
            self.manifest.completed += info.rows
            self.rows = []
        write_manifest(self.out, self.manifest)
        self.dirty = False


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
    """Attempt `attempt` of one record: its sampling seed depends only on the record id and attempt."""
    return GenerationRequest(
        key=record_id,
        messages=messages,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        seed=_u64(record_id, attempt) % (2**31),
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


class Reporter:
    """Progress snapshots for `ctx.progress`; `session` counts this process's work only."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.t0 = time.monotonic()
        self.session_completed = 0
        self.session_tokens = 0

    def __call__(self) -> None:
        ctx, m = self.ctx, self.ctx.writer.manifest
        if ctx.progress is not None:
            ctx.progress(
                Progress(
                    requested=ctx.requested,
                    completed=m.completed + len(ctx.writer.rows),
                    dropped=m.dropped_total,
                    retries=m.retries,
                    session_completed=self.session_completed,
                    session_tokens=self.session_tokens,
                    elapsed=time.monotonic() - self.t0,
                )
            )
