"""`--engine ray`: spread a run's pending tasks over Ray workers; the driver alone writes shards.

What runs where:
  driver   planning, the seed commitment (the seed salt never leaves it), the run lock, prompt
           rendering, the shard writer and the manifest. Exactly-once is the local engine's: record
           ids are fixed by the plan, and a (re)start skips every id already in a shard.
  workers  one Ray actor per `ray_workers`, each building its own backend from a name + options
           (openai against an endpoint as the worker sees it, e.g. its local vLLM on 127.0.0.1;
           vllm in-process on the worker's GPU; transformers), then generating, validating and
           retrying chunks of tasks. A worker gets rendered prompts, sampling values and the recipe;
           never seeds' rows beyond what a prompt contains, the salt, or API keys (it reads its own
           OPENAI_API_KEY).

A chunk whose actor dies (worker process or node killed) is handed to another live actor and the
actor is replaced; results of a chunk are written only when the whole chunk is back, so a killed
driver loses at most the chunks in flight, and the rerun regenerates exactly those ids.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from synthspace.node.generate.attempts import AttemptLoop
from synthspace.node.generate.backends import (
    BackendError,
    BackendUnavailableError,
    GeneratorInfo,
    get_backend,
)
from synthspace.node.generate.execution import Prompts, Reporter, RunContext, make_row, task_request
from synthspace.node.generate.planning import Task
from synthspace.node.generate.structured import OutputValidator

if TYPE_CHECKING:
    from synthspace.node.recipes import Recipe

log = logging.getLogger(__name__)

# Options never shipped to workers: secrets stay in each worker's own environment.
PRIVATE_OPTIONS = ("api_key",)


@dataclass(frozen=True)
class RayConfig:
    """Where and how wide: `address` None starts a local Ray instance; "auto" finds a running one."""

    address: str | None = None
    workers: int = 2
    chunk_size: int = 32
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    max_replacements: int | None = None  # actors re-created after deaths; default 4 x workers


# A wire task: (record_id, messages, temperature, top_p). Results: (record_id, record | None,
# drop reason | None, attempts, completion tokens of the final attempt).
WireTask = tuple[str, list[dict[str, str]], float, float]
WireResult = tuple[str, "dict[str, Any] | None", "str | None", int, int]


class GenerationWorker:
    """The Ray actor body (async actor: the backend lives in one event loop for its lifetime)."""

    def __init__(self) -> None:
        self.backend: Any = None
        self.loop_args: Any = None
        self.slots: asyncio.Semaphore | None = None

    async def start(self, backend: str, options: dict[str, Any], recipe: Recipe) -> GeneratorInfo:
        # get_backend may load a model (transformers/vllm): keep the actor's loop responsive.
        self.backend = await asyncio.to_thread(lambda: get_backend(backend, **options))
        self.loop_args = (OutputValidator(recipe), recipe.output_json_schema(), recipe.generation.max_retries,
                          recipe.sampling.max_tokens)
        # An HTTP backend takes two chunks at once (no drain between chunks); a local model one.
        self.slots = asyncio.Semaphore(2 if self.backend.name == "openai" else 1)
        return self.backend.info()  # type: ignore[no-any-return]

    async def pid(self) -> int:
        return os.getpid()

    async def run(self, tasks: list[WireTask]) -> dict[str, Any]:
        assert self.slots is not None, "start() first"
        validator, schema, max_retries, max_tokens = self.loop_args
        results: list[WireResult] = []
        totals = {"prompt_tokens": 0, "completion_tokens": 0, "retries": 0}

        def request(t: WireTask, attempt: int) -> Any:
            return task_request(t[0], t[1], t[2], t[3], max_tokens, attempt)

        def on_result(t: WireTask, attempt: int, comp: Any, record: Any, reason: Any, final: bool) -> None:
            totals["prompt_tokens"] += comp.prompt_tokens
            totals["completion_tokens"] += comp.completion_tokens
            if record is not None or final:
                results.append((t[0], record, None if record is not None else (reason or "schema_violation"),
                                attempt + 1, comp.completion_tokens))
            else:
                totals["retries"] += 1

        async with self.slots:
            await AttemptLoop(self.backend, validator, schema, max_retries, request, on_result).run(tasks)
        return {"results": results, **totals}

    async def close(self) -> None:
        if self.backend is not None:
            await self.backend.aclose()


@dataclass
class _Slot:
    actor: Any
    started: Any  # ObjectRef of start(); None once live
    info: GeneratorInfo | None = None
    in_flight: int = 0


class RayEngine:
    """Connects to Ray, starts the actors, runs chunks, and shuts down what it started."""

    def __init__(self, config: RayConfig, backend: str, options: dict[str, Any], recipe: Recipe) -> None:
        if config.workers < 1 or config.chunk_size < 1:
            raise BackendUnavailableError("--ray-workers and --ray-chunk-size must be at least 1")
        try:
            import ray
        except ImportError:
            raise BackendUnavailableError(
                "--engine ray needs Ray on this machine and every worker: pip install 'synthspace[ray]'"
            ) from None
        self.ray = ray
        self.config = config
        self.backend_name = backend
        self.options = {k: v for k, v in options.items() if k not in PRIVATE_OPTIONS and v is not None}
        self.recipe = recipe
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            ray.init(address=config.address, logging_level=logging.WARNING, log_to_driver=False,
                     configure_logging=True, include_dashboard=False if config.address is None else None)
        self.actor_cls = ray.remote(GenerationWorker)
        self.slots: list[_Slot] = []
        self.replacements = 0
        self.max_replacements = config.max_replacements if config.max_replacements is not None else 4 * config.workers
        try:
            for _ in range(config.workers):
                self.slots.append(self._new_slot())
            self._info = self._first_info()
        except BaseException:
            self.close()
            raise

    def _new_slot(self) -> _Slot:
        actor: Any = self.actor_cls.options(
            num_cpus=self.config.num_cpus, num_gpus=self.config.num_gpus, scheduling_strategy="SPREAD",
            max_restarts=0, max_concurrency=4,
        ).remote()
        return _Slot(actor=actor, started=actor.start.remote(self.backend_name, self.options, self.recipe))

    def _replace(self, slot: _Slot, why: str) -> None:
        self.ray.kill(slot.actor, no_restart=True)
        self.replacements += 1
        log.warning("a ray worker died (%s); its chunks go to the other workers and a replacement starts",
                    why.splitlines()[0] if why else "no reason given")
        if self.replacements > self.max_replacements:
            raise BackendError(f"ray workers died {self.replacements} times (last: {why}); giving up")
        self.slots[self.slots.index(slot)] = self._new_slot()

    def _settle_start(self, slot: _Slot) -> None:
        """A finished start(): live, replaced (actor died), or raise (the backend cannot be built)."""
        from ray.exceptions import RayActorError, RayTaskError

        try:
            slot.info = self.ray.get(slot.started)
            slot.started = None
        except RayActorError as exc:
            self._replace(slot, f"actor died while starting: {exc}")
        except RayTaskError as exc:
            cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else exc
            raise BackendUnavailableError(f"a ray worker cannot build the {self.backend_name} backend: {cause}") from None

    def _first_info(self) -> GeneratorInfo:
        while True:
            refs = [s.started for s in self.slots if s.started is not None]
            if not refs:
                break
            ready, _ = self.ray.wait(refs, num_returns=1)
            for s in list(self.slots):
                if s.started is not None and s.started in ready:
                    self._settle_start(s)
            live = [s for s in self.slots if s.info is not None]
            if live:
                return live[0].info  # type: ignore[return-value]
        raise BackendError("no ray worker started")

    def info(self) -> GeneratorInfo:
        return self._info

    def execute(self, ctx: RunContext, pending: list[Task]) -> None:
        from ray.exceptions import ObjectLostError, RayActorError, RayTaskError

        recipe, writer, m = ctx.recipe, ctx.writer, ctx.writer.manifest
        prompts = Prompts(ctx.renderer, ctx.seeds, ctx.personas, recipe.sampling.max_tokens)
        size = self.config.chunk_size
        chunks: deque[list[Task]] = deque(pending[i : i + size] for i in range(0, len(pending), size))
        in_flight: dict[Any, tuple[_Slot, list[Task]]] = {}
        report = Reporter(ctx)
        last_flush = time.monotonic()
        report(force=True)
        try:
            while chunks or in_flight:
                for slot in self.slots:
                    while slot.info is not None and slot.in_flight < 2 and chunks:
                        chunk = chunks.popleft()
                        wire = [(t.record_id, prompts.messages(t), t.temperature, t.top_p) for t in chunk]
                        in_flight[slot.actor.run.remote(wire)] = (slot, chunk)
                        slot.in_flight += 1
                starting = {s.started: s for s in self.slots if s.started is not None}
                waiting = [*in_flight, *starting]
                if not waiting:
                    raise BackendError("no live ray worker left to run the remaining chunks")
                timeout = max(0.0, ctx.flush_interval - (time.monotonic() - last_flush))
                ready, _ = self.ray.wait(waiting, num_returns=1, timeout=timeout)
                for ref in ready:
                    if ref in starting:
                        self._settle_start(starting[ref])
                        continue
                    slot, chunk = in_flight.pop(ref)
                    slot.in_flight -= 1
                    try:
                        out = self.ray.get(ref)
                    except RayActorError as exc:
                        chunks.appendleft(chunk)  # to another actor; nothing of it was written
                        if slot in self.slots:
                            self._requeue_and_replace(slot, in_flight, chunks, str(exc))
                        continue
                    except ObjectLostError:
                        chunks.appendleft(chunk)  # its result died with a node: run it again
                        continue
                    except RayTaskError as exc:
                        raise BackendError(f"a ray worker failed a chunk: {exc}") from None
                    by_id = {t.record_id: t for t in chunk}
                    m.prompt_tokens += out["prompt_tokens"]
                    m.completion_tokens += out["completion_tokens"]
                    m.retries += out["retries"]
                    report.session_tokens += out["completion_tokens"]
                    for record_id, record, reason, attempts, tokens in out["results"]:
                        if record is not None:
                            writer.add(make_row(ctx, by_id[record_id], record, attempts, tokens))
                            report.session_completed += 1
                        else:
                            writer.drop(record_id, reason)
                    report()
                if time.monotonic() - last_flush >= ctx.flush_interval:
                    writer.flush()
                    last_flush = time.monotonic()
        finally:
            writer.close()  # waits for the writer thread's last shard and manifest
            report(force=True)

    def _requeue_and_replace(
        self, slot: _Slot, in_flight: dict[Any, tuple[_Slot, list[Task]]], chunks: deque[list[Task]], why: str
    ) -> None:
        # The dead actor's other chunks fail too; take them back now rather than one wait at a time.
        for ref, (s, chunk) in list(in_flight.items()):
            if s is slot:
                del in_flight[ref]
                chunks.appendleft(chunk)
        self._replace(slot, why)

    def close(self) -> None:
        ray = self.ray
        for s in self.slots:
            if s.info is not None:
                try:
                    ray.get(s.actor.close.remote(), timeout=30)
                except Exception:  # a dead or stuck actor is killed below anyway
                    pass
            try:
                ray.kill(s.actor, no_restart=True)
            except Exception:
                pass
        self.slots = []
        if self.owns_ray:
            ray.shutdown()
