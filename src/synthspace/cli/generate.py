"""`synthspace generate`: run a recipe over seeds and personas into a resumable run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def register(app: typer.Typer) -> None:
    """Add the `generate` command to the root app."""

    @app.command("generate")
    def _generate(
        recipe: Path = typer.Option(..., "--recipe", help="Recipe YAML file."),
        seeds: Path = typer.Option(..., "--seeds", help="Seed file: .jsonl, .csv or .parquet (stays on this node)."),
        out: Path = typer.Option(..., "--out", help="Run directory; rerun with the same options to resume."),
        personas: Path | None = typer.Option(None, "--personas", help="Persona Parquet file; omit to run without personas."),
        backend: str | None = typer.Option(None, "--backend", help="transformers | openai | vllm (default: the recipe's)."),
        model: str | None = typer.Option(None, "--model", help="Model name (openai/vllm) or local folder (transformers)."),
        base_url: list[str] | None = typer.Option(
            None, "--base-url",
            help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1; repeat it for several replicas "
            "(balanced by load, with failover). Default $OPENAI_BASE_URL (comma-separated).",
        ),
        limit: int | None = typer.Option(None, "--limit", min=1, help="Generate at most N records."),
        home: Path | None = typer.Option(None, "--home", help="Node home (default $SYNTHSPACE_HOME or ~/.synthspace/node); its private/ keeps the seed salt."),
        concurrency: int | None = typer.Option(
            None, "--concurrency", min=1,
            help="openai: a fixed number of requests in flight (default: adaptive, grows while latency holds).",
        ),
        timeout: float | None = typer.Option(None, "--timeout", help="openai: seconds per request (default 120)."),
        structured_output: str | None = typer.Option(None, "--structured-output", help="openai: response_format | guided_json | both | none."),
        batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="transformers/vllm: prompts per batch."),
        device: str | None = typer.Option(None, "--device", help="transformers: auto | cpu | cuda."),
        threads: int | None = typer.Option(None, "--threads", min=1, help="transformers: CPU threads for torch (default: torch's choice)."),
        batching: str | None = typer.Option(
            None, "--batching", help="transformers: continuous (default; a finished row frees its slot at once; see docs/generation.md) | static (whole batches, for comparison)."
        ),
        shard_size: int = typer.Option(1000, "--shard-size", min=1, help="Records per Parquet shard."),
        flush_interval: float = typer.Option(30.0, "--flush-interval", help="Seconds between shard flushes (bounds work lost to a crash)."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
        engine: str = typer.Option(
            "local", "--engine",
            help="local (this process) | ray (spread the plan over Ray workers; this process still plans and writes "
            "shards; see docs/generation.md).",
        ),
        ray_address: str | None = typer.Option(
            None, "--ray-address", help="ray: cluster address (HOST:PORT, or auto); default: start Ray on this machine."
        ),
        ray_workers: int = typer.Option(2, "--ray-workers", min=1, help="ray: worker actors, each with its own backend."),
        ray_chunk_size: int = typer.Option(32, "--ray-chunk-size", min=1, help="ray: records per chunk sent to a worker."),
        ray_cpus: float = typer.Option(1.0, "--ray-cpus", min=0.0, help="ray: CPUs each worker reserves."),
        ray_gpus: float = typer.Option(0.0, "--ray-gpus", min=0.0, help="ray: GPUs each worker reserves (1 for vllm)."),
    ) -> None:
        """Generate synthetic records from a recipe, seeds and personas (resumable)."""
        from rich.console import Console

        from synthspace.node.generate import run_generation

        name = backend
        options: dict[str, Any] = {}
        if name == "openai" or (name is None and base_url):
            name = name or "openai"
            options.update(base_url=base_url or None, concurrency=concurrency, timeout=timeout, structured_output=structured_output)
        elif name in (None, "transformers"):
            options.update(batch_size=batch_size, device=device, threads=threads, batching=batching)
        elif name == "vllm":
            options.update(batch_size=batch_size)
        ray_config = None
        if engine == "ray":
            from synthspace.node.generate.ray_engine import RayConfig

            ray_config = RayConfig(address=ray_address, workers=ray_workers, chunk_size=ray_chunk_size,
                                   num_cpus=ray_cpus, num_gpus=ray_gpus)
        console = Console(stderr=True)
        with _ProgressView(console, enabled=not quiet) as view:
            manifest = run_generation(
                recipe,
                seeds,
                out,
                personas=personas,
                backend=name,
                model=model,
                backend_options=options,
                limit=limit,
                home=home,
                shard_size=shard_size,
                flush_interval=flush_interval,
                progress=view.update,
                engine=engine,
                ray=ray_config,
            )
        dropped = ", ".join(f"{k}={v}" for k, v in sorted(manifest.dropped.items())) or "none"
        typer.echo(
            f"{manifest.completed}/{manifest.requested} records in {out} "
            f"({len(manifest.shards)} shards; dropped: {dropped}; retries: {manifest.retries})"
        )


class _ProgressView:
    """Rich progress bar: records, records/s, tokens/s, failures, ETA."""

    def __init__(self, console: Any, enabled: bool) -> None:
        self.console, self.enabled = console, enabled
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _ProgressView:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]generate"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rps]:.2f} rec/s"),
                TextColumn("{task.fields[tps]:.0f} tok/s"),
                TextColumn("failures {task.fields[failures]}"),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.__enter__()
        return self

    def update(self, p: Any) -> None:
        if self._progress is None:
            return
        rps = p.session_completed / p.elapsed if p.elapsed > 0 else 0.0
        tps = p.session_tokens / p.elapsed if p.elapsed > 0 else 0.0
        fields = {"rps": rps, "tps": tps, "failures": f"{p.retries} retried / {p.dropped} dropped"}
        if self._task is None:
            self._task = self._progress.add_task("generate", total=p.requested, completed=p.completed + p.dropped, **fields)
        else:
            self._progress.update(self._task, total=p.requested, completed=p.completed + p.dropped, **fields)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
