"""Running a recipe: plan, resume, generate with retries, validate, and write shards.

Exactly-once across crashes: record ids are fixed by the plan, shards are renamed into place
only when complete, and on start the run skips every id already in a shard (and every id the
manifest records as dropped). A run killed at any moment and started again therefore ends with
exactly the requested records.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from synthspace.lineage import Generator
from synthspace.node.generate.attempts import AttemptLoop
from synthspace.node.generate.backends import Backend, Completion, GeneratorInfo, get_backend
from synthspace.node.generate.execution import (
    ProgressCallback,
    Prompts,
    Reporter,
    RunContext,
    ShardWriter,
    make_row,
)
from synthspace.node.generate.manifest import (
    MANIFEST_NAME,
    RecipeSummary,
    RunManifest,
    load_manifest,
    utcnow,
    write_manifest,
)
from synthspace.node.generate.planning import PersonaSet, Task, build_plan, load_personas, plan_size
from synthspace.node.generate.ray_engine import RayConfig, RayEngine
from synthspace.node.generate.run_dir import (
    RunDirError,
    RunLock,
    arrow_schema,
    remove_partial_shards,
    scan_shards,
)
from synthspace.node.generate.structured import OutputValidator
from synthspace.node.private_store import PrivateStore
from synthspace.node.recipes import PromptRenderer, Recipe, load_recipe, recipe_digest
from synthspace.node.seeds import SeedSet, commit_seeds, load_seeds


def _generator(info: GeneratorInfo, recipe: Recipe) -> Generator:
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


async def _execute(ctx: RunContext, pending: list[Task]) -> None:
    recipe, backend, writer, m = ctx.recipe, ctx.backend, ctx.writer, ctx.writer.manifest
    assert backend is not None
    report = Reporter(ctx)
    prompts = Prompts(ctx.renderer, ctx.seeds, ctx.personas, recipe.sampling.max_tokens)

    def on_result(
        task: Task, attempt: int, comp: Completion, record: dict[str, Any] | None, reason: str | None, final: bool
    ) -> None:
        writer.prompt_tokens += comp.prompt_tokens
        writer.completion_tokens += comp.completion_tokens
        report.session_tokens += comp.completion_tokens
        if record is not None:
            writer.add(make_row(ctx, task, record, attempt + 1, comp.completion_tokens))
            report.session_completed += 1
        elif not final:
            m.retries += 1
        else:
            writer.drop(task.record_id, reason or "schema_violation")

    async def flusher() -> None:
        while True:
            await asyncio.sleep(ctx.flush_interval)
            writer.flush()

    loop = AttemptLoop(backend, ctx.validator, recipe.output_json_schema(), recipe.generation.max_retries,
                       prompts.request, on_result, report)
    report(force=True)
    try:
        await loop.run(pending, side=[asyncio.create_task(flusher())])
    finally:
        try:
            writer.close()  # the workers are done: nothing else on the loop waits for this
        finally:
            report(force=True)
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
    engine: str = "local",
    ray: RayConfig | None = None,
) -> RunManifest:
    """Generate records into run directory `out` (or resume the run already there).

    `backend` is a name ("transformers" | "openai" | "vllm", default: the recipe's) or a ready
    Backend; `home` is the node home whose `private/` store keeps the seed salt. Returns the final
    manifest; raises a SynthspaceError subclass on bad input.

    `engine` "local" generates in this process; "ray" spreads the pending tasks over Ray workers
    (`ray`: address, workers, chunk size; see ray_engine.py), each building the backend by name,
    while this process keeps planning, the seed salt, the run lock and the shard writer.
    """
    if engine not in ("local", "ray"):
        raise RunDirError(f"unknown engine {engine!r}; choose local or ray")
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

    be: Backend | None = None
    ray_engine: RayEngine | None = None
    if isinstance(backend, Backend):
        if engine == "ray":
            raise RunDirError("--engine ray builds the backend on each worker: pass a backend name, not a Backend")
        be = backend
    else:
        opts = dict(backend_options or {})
        opts.setdefault("model", model or recipe.backend.model)
        if engine == "ray":
            ray_engine = RayEngine(ray or RayConfig(), backend or recipe.backend.name, opts, recipe)
        else:
            be = get_backend(backend or recipe.backend.name, **opts)
    try:
        return _run(recipe, recipe_path, digest, seed_set, commitment, persona_set, plan, renderer, be, ray_engine,
                    Path(out), limit, shard_size, flush_interval, progress)
    finally:
        if ray_engine is not None:
            ray_engine.close()


def _run(
    recipe: Recipe,
    recipe_path: Path | None,
    digest: str,
    seed_set: SeedSet,
    commitment: Any,
    persona_set: PersonaSet,
    plan: list[Task],
    renderer: PromptRenderer,
    be: Backend | None,
    ray_engine: RayEngine | None,
    out_dir: Path,
    limit: int | None,
    shard_size: int,
    flush_interval: float,
    progress: ProgressCallback | None,
) -> RunManifest:
    info = ray_engine.info() if ray_engine is not None else be.info()  # type: ignore[union-attr]
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
            generator=_generator(info, recipe),
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

        writer = ShardWriter(out_dir, manifest, lambda: arrow_schema(recipe.output_fields), shard_size)
        ctx = RunContext(
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
        try:
            if pending:
                if ray_engine is not None:
                    ray_engine.execute(ctx, pending)
                else:
                    asyncio.run(_execute(ctx, pending))
            writer.close()
        except BaseException:
            writer.close(raise_error=False)  # the run fails with the error already on its way
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

