"""Running a recipe: plan, resume, generate with retries, validate, and write shards.

Exactly-once across crashes: record ids are fixed by the plan, shards are renamed into place
only when complete, and on start the run skips every id already in a shard (and every id the
manifest records as dropped). A run killed at any moment and started again therefore ends with
exactly the requested records.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthspace.lineage import Generator
from synthspace.node.generate.backends import Backend, GenerationRequest, get_backend
from synthspace.node.generate.manifest import (
    MANIFEST_NAME,
    RecipeSummary,
    RunManifest,
    load_manifest,
    utcnow,
    write_manifest,
)
from synthspace.node.generate.planning import (
    PersonaSet,
    Task,
    _u64,
    build_plan,
    load_personas,
    plan_size,
)
from synthspace.node.generate.run_dir import (
    RunDirError,
    RunLock,
    arrow_schema,
    remove_partial_shards,
    scan_shards,
    write_shard,
)
from synthspace.node.generate.structured import OutputValidator
from synthspace.node.private_store import PrivateStore
from synthspace.node.recipes import PromptRenderer, Recipe, load_recipe, recipe_digest
from synthspace.node.seeds import SeedSet, commit_seeds, load_seeds


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


def _generator(backend: Backend, recipe: Recipe) -> Generator:
    info = backend.info()
    params: dict[str, Any] = dict(info.parameters)
    params.update(
        {
            "temperature": recipe.sampling.temperature.model_dump(mode="json"),
            "top_p": recipe.sampling.top_p.model_dump(mode="json"),
            "max_tokens": recipe.sampling.max_tokens,
            "sampling_seed": recipe.sampling.seed,
            "outputs_per_seed": recipe.generation.outputs_per_seed,
            "max_retries": recipe.generation.max_retries,
            "persona_assignment": recipe.persona_assignment.model_dump(mode="json"),
        }
    )
    return Generator(backend=info.backend, model_id=info.model_id, model_digest=info.model_digest, parameters=params)


def _check_compatible(old: RunManifest, new: RunManifest, out: Path) -> None:
    def differs(what: str, a: object, b: object) -> None:
        if a != b:
            raise RunDirError(
                f"{out} holds a run with a different {what} ({a} vs {b}); resume it with the same inputs "
                "or choose a new --out directory"
            )

    differs("recipe", old.recipe_digest, new.recipe_digest)
    differs("seed set", old.seed_commitment.root, new.seed_commitment.root)
    differs("persona set", old.persona_source.set_digest, new.persona_source.set_digest)
    differs("backend", old.generator.backend, new.generator.backend)
    differs("model", old.generator.model_id, new.generator.model_id)


RENDER_CACHE = 4096  # rendered prompts kept (seed x persona pairs)


class _Writer:
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
class _Context:
    recipe: Recipe
    seeds: SeedSet
    personas: PersonaSet
    backend: Backend
    renderer: PromptRenderer
    validator: OutputValidator
    writer: _Writer
    requested: int
    flush_interval: float
    progress: ProgressCallback | None


async def _execute(ctx: _Context, pending: list[Task]) -> None:
    recipe, backend, writer, m = ctx.recipe, ctx.backend, ctx.writer, ctx.writer.manifest
    schema = recipe.output_json_schema()
    max_retries = recipe.generation.max_retries
    queue: asyncio.Queue[tuple[Task, int]] = asyncio.Queue()
    for t in pending:
        queue.put_nowait((t, 0))
    t0 = time.monotonic()
    session = {"completed": 0, "tokens": 0}

    def report() -> None:
        if ctx.progress is not None:
            ctx.progress(
                Progress(
                    requested=ctx.requested,
                    completed=m.completed + len(writer.rows),
                    dropped=m.dropped_total,
                    retries=m.retries,
                    session_completed=session["completed"],
                    session_tokens=session["tokens"],
                    elapsed=time.monotonic() - t0,
                )
            )

    # Every output of one seed x persona pair (and every retry) has the same prompt: render it
    # once. Bounded, since a plan's pairs can number in the hundreds of thousands.
    rendered: dict[tuple[int, int | None], list[dict[str, str]]] = {}

    def messages(task: Task) -> list[dict[str, str]]:
        key = (task.seed_index, task.persona_index)
        hit = rendered.get(key)
        if hit is None:
            persona = ctx.personas.personas[task.persona_index] if task.persona_index is not None else None
            hit = ctx.renderer.render(ctx.seeds.records[task.seed_index], persona)
            if len(rendered) >= RENDER_CACHE:
                rendered.pop(next(iter(rendered)))
            rendered[key] = hit
        return hit

    def request(task: Task, attempt: int) -> GenerationRequest:
        return GenerationRequest(
            key=task.record_id,
            messages=messages(task),
            temperature=task.temperature,
            top_p=task.top_p,
            max_tokens=recipe.sampling.max_tokens,
            seed=_u64(task.record_id, attempt) % (2**31),
        )

    async def worker() -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < backend.max_batch_size:
                try:
                    batch.append(queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            completions = await backend.agenerate([request(t, a) for t, a in batch], schema)
            for (task, attempt), comp in zip(batch, completions, strict=True):
                m.prompt_tokens += comp.prompt_tokens
                m.completion_tokens += comp.completion_tokens
                session["tokens"] += comp.completion_tokens
                record, reason, _ = ctx.validator.check(comp)
                if record is not None:
                    persona_id = (
                        ctx.personas.personas[task.persona_index]["persona_id"] if task.persona_index is not None else None
                    )
                    writer.add(
                        {
                            "record_id": task.record_id,
                            **record,
                            "persona_id": persona_id,
                            "_seed_index": task.seed_index,
                            "_k": task.k,
                            "_attempts": attempt + 1,
                            "_temperature": task.temperature,
                            "_top_p": task.top_p,
                            "_completion_tokens": comp.completion_tokens,
                        }
                    )
                    session["completed"] += 1
                elif attempt < max_retries:
                    m.retries += 1
                    queue.put_nowait((task, attempt + 1))
                else:
                    writer.drop(task.record_id, reason or "schema_violation")
                queue.task_done()
            report()

    async def flusher() -> None:
        while True:
            await asyncio.sleep(ctx.flush_interval)
            writer.flush()

    report()
    workers = [asyncio.create_task(worker()) for _ in range(backend.max_concurrency)]
    side = asyncio.create_task(flusher())
    joined = asyncio.create_task(queue.join())
    try:
        await asyncio.wait([joined, *workers], return_when=asyncio.FIRST_COMPLETED)
        for w in workers:
            if w.done() and not w.cancelled() and w.exception() is not None:
                raise w.exception()  # type: ignore[misc]
    finally:
        for task in (*workers, side, joined):
            task.cancel()
        await asyncio.gather(*workers, side, joined, return_exceptions=True)
        writer.flush()
        report()
        await backend.aclose()


def run_generation(
    recipe: str | Path | Recipe,
    seeds: str | Path,
    out: str | Path,
    personas: str | Path | None = None,
    backend: str | Backend | None = None,
    model: str | None = None,
    backend_options: dict[str, Any] | None = None,
    limit: int | None = None,
    home: str | Path | None = None,
    shard_size: int = 1000,
    flush_interval: float = 30.0,
    progress: ProgressCallback | None = None,
) -> RunManifest:
    """Generate records into run directory `out` (or resume the run already there).

    `backend` is a name ("transformers" | "openai" | "vllm", default: the recipe's) or a ready
    Backend; `home` is the node home whose `private/` store keeps the seed salt. Returns the final
    manifest; raises a SynthspaceError subclass on bad input.
    """
    if limit is not None and limit < 1:
        raise RunDirError("--limit must be at least 1")
    if shard_size < 1 or flush_interval <= 0:
        raise RunDirError("shard_size must be >= 1 and flush_interval > 0")
    recipe_path = None
    if not isinstance(recipe, Recipe):
        recipe_path = Path(recipe).resolve()
        recipe = load_recipe(recipe)
    digest = recipe_digest(recipe)
    seed_set = load_seeds(seeds, recipe.seed_fields)
    commitment = commit_seeds(seed_set, PrivateStore.for_home(home))
    persona_set = load_personas(personas)
    plan = build_plan(recipe, digest, commitment.root, len(seed_set), persona_set.personas, limit)
    renderer = PromptRenderer(recipe, source=str(recipe_path or recipe.task))
    # Render one prompt up front so a template error surfaces before any model loads.
    renderer.render(seed_set.records[0], persona_set.personas[0] if persona_set.personas else None)

    if isinstance(backend, Backend):
        be = backend
    else:
        opts = dict(backend_options or {})
        opts.setdefault("model", model or recipe.backend.model)
        be = get_backend(backend or recipe.backend.name, **opts)

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(out_dir):
        now = utcnow()
        fresh = RunManifest(
            status="running",
            recipe=RecipeSummary(
                task=recipe.task,
                description=recipe.description,
                license=recipe.license,
                locale=recipe.locale,
                tags=list(recipe.tags),
                output_fields=recipe.output_field_names,
                output_schema=recipe.output_json_schema(),
                path=str(recipe_path) if recipe_path else None,
                seed_fields=list(recipe.seed_fields),
                prompt=recipe.prompt,
                gates=recipe.gates,
            ),
            recipe_digest=digest,
            generator=_generator(be, recipe),
            persona_source=persona_set.source,
            personas_path=str(persona_set.path) if persona_set.path else None,
            seed_commitment=commitment,
            seeds_path=str(seed_set.path),
            requested=len(plan),
            target=_target(recipe, len(seed_set), limit),
            completed=0,
            started=now,
            updated=now,
        )
        if (out_dir / MANIFEST_NAME).exists():
            manifest = load_manifest(out_dir)
            _check_compatible(manifest, fresh, out_dir)
            manifest.resumes += 1
            manifest.requested = len(plan)
            manifest.target = fresh.target
            manifest.status = "running"
            manifest.finished = None
            manifest.generator = fresh.generator
        else:
            manifest = fresh
        remove_partial_shards(out_dir)
        shards, done_ids = scan_shards(out_dir)
        planned = {t.record_id for t in plan}
        extra = len(done_ids - planned)
        if extra:
            raise RunDirError(
                f"{out_dir} already holds {len(done_ids)} records, {extra} of them beyond --limit {limit}; "
                "rerun with a larger --limit or a new --out directory"
            )
        manifest.shards, manifest.completed = shards, sum(s.rows for s in shards)
        skip = done_ids | set(manifest.dropped_record_ids)
        pending = [t for t in plan if t.record_id not in skip]
        write_manifest(out_dir, manifest)

        writer = _Writer(out_dir, manifest, arrow_schema(recipe.output_fields), shard_size)
        ctx = _Context(
            recipe=recipe,
            seeds=seed_set,
            personas=persona_set,
            backend=be,
            renderer=renderer,
            validator=OutputValidator(recipe),
            writer=writer,
            requested=len(plan),
            flush_interval=flush_interval,
            progress=progress,
        )
        if pending:
            try:
                asyncio.run(_execute(ctx, pending))
            except BaseException:
                manifest.status = "failed"
                write_manifest(out_dir, manifest)
                raise
        manifest.status = "complete"
        manifest.finished = manifest.finished or utcnow()
        write_manifest(out_dir, manifest)
        return manifest


def _target(recipe: Recipe, n_seeds: int, limit: int | None) -> int | None:
    """The run's target after gating, recorded only when the recipe overgenerates."""
    target, planned = plan_size(recipe, n_seeds, limit)
    return target if planned > target else None

