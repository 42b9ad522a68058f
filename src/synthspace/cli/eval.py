"""`synthspace eval` command: score a model (optionally with a LoRA adapter) on a benchmark JSONL."""

from __future__ import annotations

import json
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from synthspace.cli.errors import fail
from synthspace.errors import SynthspaceError


def _run(
    model: Any, tokenizer: Any, items: list[Any], label: str, batch_size: int, quiet: bool
) -> Any:
    from synthspace.node.evaluation.scoring import evaluate

    console = Console(stderr=True)
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=len(items))
        return evaluate(
            model,
            tokenizer,
            items,
            label=label,
            batch_size=batch_size,
            progress=lambda n: bar.advance(task, n),
        )


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
            16, "--batch-size", min=1, max=256, help="Sequences per forward pass."
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
        from synthspace.node.cli_support import open_home
        from synthspace.node.evaluation.benchmark import BenchmarkError, file_digest, load_benchmark
        from synthspace.node.evaluation.publish import (
            ADAPTER_DIR,
            PUBLISH_DIR,
            CatalogAdapter,
            is_artifact_id,
            public_command,
            publish_evaluation,
            pull_adapter,
        )
        from synthspace.node.evaluation.scoring import adapter_paths, apply_adapter
        from synthspace.node.evaluation.stats import paired_delta_interval
        from synthspace.node.federated.lora import load_base_model

        started = datetime.now(UTC).replace(microsecond=0)
        catalog_adapter: CatalogAdapter | None = None
        adapter: Path | None = None
        try:
            if compare_base and adapter_ref is None:
                raise SynthspaceError("--compare-base needs --adapter")
            from_catalog = adapter_ref is not None and is_artifact_id(adapter_ref) and not Path(adapter_ref).exists()
            if publish and not from_catalog:
                raise SynthspaceError(
                    "--publish needs --adapter ARTIFACT_ID: an evaluation's parent is a catalog adapter"
                )
            if publish and (out / PUBLISH_DIR / "envelope.json").is_file():
                raise SynthspaceError(f"{out / PUBLISH_DIR} already holds a published evaluation; choose a new --out")
            compare_base = compare_base or publish
            items = load_benchmark(benchmark)
            adapter_digest = None
            if adapter_ref is not None and from_catalog:
                from synthspace.node.catalog import Consumer
                from synthspace.node.cli_support import open_auditor, open_home

                with Console(stderr=True).status(f"pulling and verifying adapter {adapter_ref[:16]}…"):
                    catalog_adapter = pull_adapter(
                        open_auditor(home=home),
                        adapter_ref,
                        out / ADAPTER_DIR,
                        consumer=Consumer.for_home(open_home(home)),
                    )
                adapter = catalog_adapter.path
            elif adapter_ref is not None:
                adapter = Path(adapter_ref)
            if adapter is not None:
                weights, _ = adapter_paths(adapter)
                adapter_digest = file_digest(weights)
            base = load_base_model(model_name)
            trained_on = catalog_adapter.base_model_digest if catalog_adapter is not None else None
            if trained_on is not None and base.digest is not None and trained_on != base.digest:
                raise SynthspaceError(
                    f"adapter {adapter_ref} was trained on base model {trained_on}, but --model "
                    f"{model_name} is {base.digest}"
                )
            runs = []
            if adapter is None or compare_base:
                runs.append(_run(base.model, base.tokenizer, items, "base", batch_size, quiet))
            if adapter is not None:
                tuned = apply_adapter(base.model, adapter)
                runs.append(_run(tuned, base.tokenizer, items, "adapter", batch_size, quiet))
        except SynthspaceError as exc:
            raise fail(str(exc), 2 if isinstance(exc, BenchmarkError) else 1) from None
        out.mkdir(parents=True, exist_ok=True)
        with (out / "results.jsonl").open("w", encoding="utf-8") as fh:
            for run in runs:
                for r in run.items:
                    fh.write(
                        json.dumps({"model": run.label, **r.as_dict()}, ensure_ascii=False) + "\n"
                    )
        summary: dict[str, Any] = {
            "benchmark": {
                "name": benchmark.name,
                "path": str(benchmark),
                "digest": file_digest(benchmark),
                "items": len(items),
            },
            "model": {"id": base.model_id, "digest": base.digest},
            "adapter": None
            if adapter is None
            else {
                "path": str(adapter),
                "digest": adapter_digest,
                "artifact_id": catalog_adapter.artifact_id if catalog_adapter else None,
            },
            "metrics": {run.label: run.metrics() for run in runs},
            "command": shlex.join(["synthspace", *sys.argv[1:]]),
        }
        if len(runs) == 2:
            mean, low, high = paired_delta_interval(
                [r.correct for r in runs[0].items], [r.correct for r in runs[1].items]
            )
            summary["delta"] = {"adapter_minus_base": mean, "ci95": [low, high]}
        (out / "summary.json").write_text(
            json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        if publish and catalog_adapter is not None:
            # What leaves the node: no local paths (benchmark, adapter folder, --out, --home).
            public = {**summary, "command": public_command(sys.argv[1:])}
            public["benchmark"] = {k: v for k, v in summary["benchmark"].items() if k != "path"}
            public["adapter"] = {k: v for k, v in summary["adapter"].items() if k != "path"}
            rows = [{"model": run.label, **r.as_dict()} for run in runs for r in run.items]
            console_err = Console(stderr=True, log_path=False)
            result = publish_evaluation(
                open_home(home),
                out,
                public,
                rows,
                catalog_adapter,
                started=started,
                finished=datetime.now(UTC).replace(microsecond=0),
                title=title,
                progress=lambda m: None if quiet else console_err.log(m),
            )
            summary["published"] = {
                "artifact_id": result.artifact_id,
                "log_index": result.log_index,
                "bundle": str(result.bundle_dir),
            }
        if as_json:
            typer.echo(json.dumps(summary, ensure_ascii=False))
            return
        table = Table(title=f"{benchmark.name}: {len(items)} items")
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
