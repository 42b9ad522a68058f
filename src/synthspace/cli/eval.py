"""`synthspace eval` command: score a model (optionally with a LoRA adapter) on a benchmark JSONL."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from synthspace.cli.errors import fail
from synthspace.errors import SynthspaceError


def _progress_bar(quiet: bool) -> Any:
    """A rich progress bar per scored model (label, total) -> advance callback."""
    import contextlib

    @contextlib.contextmanager
    def bar(label: str, total: int) -> Iterator[Any]:
        with Progress(
            TextColumn(f"[bold]{label}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=quiet,
            transient=True,
        ) as progress:
            task = progress.add_task(label, total=total)
            yield lambda n: progress.advance(task, n)

    return bar


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_cmd(
        benchmark: Path = typer.Option(
            ..., "--benchmark", help="Benchmark JSONL (choice / exact items)."
        ),
        model_name: str = typer.Option(
            "embedded",
            "--model",
            help="'embedded' (bundled SmolLM2-135M) or a local Hugging Face model folder.",
        ),
        adapter_ref: str | None = typer.Option(
            None,
            "--adapter",
            help="LoRA adapter folder (adapter.safetensors + adapter_config.json), or the catalog id "
            "of a model-adapter artifact (pulled and verified first).",
        ),
        compare_base: bool = typer.Option(
            False, "--compare-base", help="Also score the base model and report the paired delta."
        ),
        out: Path = typer.Option(
            Path("eval-results"), "--out", help="Folder for results.jsonl and summary.json."
        ),
        batch_size: int = typer.Option(
            32,
            "--batch-size",
            min=1,
            max=256,
            help="Option sequences per forward pass (items are grouped up to this many; each "
            "item's prompt is encoded once).",
        ),
        threads: int | None = typer.Option(
            None, "--threads", min=1, help="CPU threads for torch (default: torch's choice)."
        ),
        as_json: bool = typer.Option(
            False, "--json", help="Print the summary as one JSON object on stdout."
        ),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
        publish: bool = typer.Option(
            False,
            "--publish",
            help="Publish the results as a signed `evaluation` artifact whose parent is the catalog "
            "adapter (needs --adapter ARTIFACT_ID; implies --compare-base).",
        ),
        title: str | None = typer.Option(None, "--title", help="Title of the published evaluation."),
        home: Path | None = typer.Option(
            None, "--home", help="Node home (default: $SYNTHSPACE_HOME, else ~/.synthspace/node)."
        ),
    ) -> None:
        """Score a model on held-out items: accuracy with a 95% Wilson interval, per-item results."""
        from synthspace.node.evaluation.benchmark import BenchmarkError
        from synthspace.node.evaluation.run import run_evaluation

        console_err = Console(stderr=True, log_path=False)
        try:
            result = run_evaluation(
                benchmark,
                out,
                command=sys.argv[1:],
                model_name=model_name,
                adapter_ref=adapter_ref,
                compare_base=compare_base,
                batch_size=batch_size,
                publish=publish,
                title=title,
                home=home,
                threads=threads,
                progress=_progress_bar(quiet),
                status=console_err.status,
                log=lambda m: None if quiet else console_err.log(m),
            )
        except SynthspaceError as exc:
            raise fail(str(exc), 2 if isinstance(exc, BenchmarkError) else 1) from None
        summary, runs = result.summary, result.runs
        items = summary["benchmark"]["items"]
        if as_json:
            typer.echo(json.dumps(summary, ensure_ascii=False))
            return
        table = Table(title=f"{benchmark.name}: {items} items")
        for col in ("model", "accuracy", "95% CI (Wilson)", "items/s"):
            table.add_column(col)
        for run in runs:
            m = run.metrics()
            table.add_row(
                run.label,
                _pct(m["accuracy"]),
                f"{_pct(m['ci95'][0])} - {_pct(m['ci95'][1])}",
                str(m["items_per_second"]),
            )
        console = Console()
        console.print(table)
        if "delta" in summary:
            d = summary["delta"]
            console.print(
                f"adapter - base: {100 * d['adapter_minus_base']:+.1f} points "
                f"(95% CI {100 * d['ci95'][0]:+.1f} to {100 * d['ci95'][1]:+.1f})"
            )
        console.print(f"per-item results: {out / 'results.jsonl'}")
        if "published" in summary:
            pub = summary["published"]
            console.print(f"published evaluation {pub['artifact_id']} (log index {pub['log_index']}): {pub['bundle']}")
