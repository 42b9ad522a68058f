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


def answer_judge(
    backend: str | None, model: str | None, base_url: str | None, min_score: int
) -> Any:
    """The AnswerJudge the --judge-* options name (None without --judge-backend); exit 2 on
    options that do not make a judge. `federate run --benchmark` takes the same options."""
    if backend is None and (model is not None or base_url is not None):
        raise fail("--judge-model and --judge-base-url need --judge-backend", 2)
    if backend is None:
        return None
    if backend not in ("openai", "vllm", "transformers"):
        raise fail(f"--judge-backend must be openai, vllm or transformers, not {backend!r}", 2)
    from synthspace.node.evaluation.judged import AnswerJudge, judge_config

    return AnswerJudge(judge_config(backend, model, base_url), min_score)


JUDGE_HELP = {
    "backend": "LLM judge of judged items: openai | vllm | transformers (needed when the "
    "benchmark has judged items).",
    "model": "Judge model name (openai/vllm) or local folder (transformers; default embedded).",
    "base_url": "OpenAI-compatible endpoint of the judge (openai backend).",
    "min_score": "Judge score (1-5) at which a judged answer counts correct, for items that "
    "declare no min_score of their own.",
}


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_cmd(
        benchmark: Path = typer.Option(
            ..., "--benchmark", help="Benchmark JSONL (choice / exact / judged items)."
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
        judge_backend: str | None = typer.Option(
            None, "--judge-backend", help=JUDGE_HELP["backend"]
        ),
        judge_model: str | None = typer.Option(None, "--judge-model", help=JUDGE_HELP["model"]),
        judge_base_url: str | None = typer.Option(
            None, "--judge-base-url", help=JUDGE_HELP["base_url"]
        ),
        judge_min_score: int = typer.Option(
            4, "--judge-min-score", min=1, max=5, help=JUDGE_HELP["min_score"]
        ),
    ) -> None:
        """Score a model on held-out items: accuracy with a 95% Wilson interval, per-item results."""
        from synthspace.node.evaluation.benchmark import BenchmarkError
        from synthspace.node.evaluation.run import run_evaluation

        console_err = Console(stderr=True, log_path=False)
        judge = answer_judge(judge_backend, judge_model, judge_base_url, judge_min_score)
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
                judge=judge,
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
