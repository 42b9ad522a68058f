"""One evaluation, start to finish: what `synthspace eval` does, callable from Python (the demo).

`run_evaluation` loads the benchmark, pulls a catalog adapter through the verified pull (or takes
a local adapter folder), scores the base model and/or the adapter, writes OUT/results.jsonl and
OUT/summary.json, and with `publish` publishes the results as a signed `evaluation` artifact
whose parent is the adapter. The CLI only parses options and prints; the demo calls this too.
"""

from __future__ import annotations

import contextlib
import json
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthspace.errors import SynthspaceError
from synthspace.node.cli_support import open_auditor, open_home
from synthspace.node.consumer import Consumer
from synthspace.node.evaluation.benchmark import (
    BenchmarkError,
    JudgedItem,
    file_digest,
    load_benchmark,
)
from synthspace.node.evaluation.publish import (
    ADAPTER_DIR,
    PUBLISH_DIR,
    is_artifact_id,
    public_command,
    publish_evaluation,
    pull_adapter,
)
from synthspace.node.evaluation.scoring import (
    EvalResult,
    Progress,
    adapter_paths,
    apply_adapter,
    evaluate,
)
from synthspace.node.evaluation.stats import paired_delta_interval
from synthspace.node.federated.lora import load_base_model

if TYPE_CHECKING:
    from synthspace.node.evaluation.benchmark import AnyItem
    from synthspace.node.evaluation.judged import AnswerJudge
    from synthspace.node.evaluation.publish import CatalogAdapter
    from synthspace.node.publishing import PublishResult

# (label, total items) -> a context yielding the per-item progress callback
ProgressFactory = Callable[[str, int], contextlib.AbstractContextManager[Progress | None]]


@contextlib.contextmanager
def _no_progress(label: str, total: int) -> Iterator[Progress | None]:
    yield None


@dataclass
class EvaluationRun:
    """What one evaluation produced: the summary as OUT/summary.json holds it, and the runs."""

    summary: dict[str, Any]
    runs: list[EvalResult]
    catalog_adapter: CatalogAdapter | None
    published: PublishResult | None


def check_benchmark(benchmark: Path, judge: AnswerJudge | None) -> list[AnyItem]:
    """The benchmark's validated items; BenchmarkError when it is bad or has judged items and
    no judge (checked before any model loads, and by `federate run` before the run starts)."""
    items = load_benchmark(benchmark)
    judged = sum(1 for it in items if isinstance(it, JudgedItem))
    if judged and judge is None:
        raise BenchmarkError(
            f"{benchmark}: {judged} judged item(s) need a judge: pass --judge-backend "
            "(openai|vllm|transformers) with --judge-model and, for openai, --judge-base-url"
        )
    return items


def run_evaluation(
    benchmark: Path,
    out: Path,
    *,
    command: list[str],
    model_name: str = "embedded",
    adapter_ref: str | None = None,
    compare_base: bool = False,
    batch_size: int = 32,
    publish: bool = False,
    title: str | None = None,
    home: Path | None = None,
    threads: int | None = None,
    judge: AnswerJudge | None = None,
    progress: ProgressFactory = _no_progress,
    status: Callable[[str], contextlib.AbstractContextManager[Any]] = lambda _: (
        contextlib.nullcontext()
    ),
    log: Callable[[str], None] = lambda _: None,
) -> EvaluationRun:
    """Score `benchmark`; `command` is the argv after `synthspace` (recorded, paths reduced).

    `judge` scores the benchmark's judged (free-answer) items; a benchmark with judged items
    and no judge is refused (BenchmarkError) before any model is loaded.

    Raises SynthspaceError (BenchmarkError for a bad benchmark or adapter folder) on bad input.
    """
    started = datetime.now(UTC).replace(microsecond=0)
    catalog_adapter: CatalogAdapter | None = None
    adapter: Path | None = None
    if compare_base and adapter_ref is None:
        raise SynthspaceError("--compare-base needs --adapter")
    from_catalog = (
        adapter_ref is not None and is_artifact_id(adapter_ref) and not Path(adapter_ref).exists()
    )
    if publish and not from_catalog:
        raise SynthspaceError(
            "--publish needs --adapter ARTIFACT_ID: an evaluation's parent is a catalog adapter"
        )
    if publish and (out / PUBLISH_DIR / "envelope.json").is_file():
        raise SynthspaceError(
            f"{out / PUBLISH_DIR} already holds a published evaluation; choose a new --out"
        )
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    compare_base = compare_base or publish
    items = check_benchmark(benchmark, judge)
    judged = sum(1 for it in items if isinstance(it, JudgedItem))
    judge_record = judge.describe(judged) if judge is not None and judged else None
    adapter_digest = None
    if adapter_ref is not None and from_catalog:
        with status(f"pulling and verifying adapter {adapter_ref[:16]}…"):
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
    runs: list[EvalResult] = []
    if adapter is None or compare_base:
        with progress("base", len(items)) as advance:
            runs.append(
                evaluate(
                    base.model,
                    base.tokenizer,
                    items,
                    label="base",
                    batch_size=batch_size,
                    progress=advance,
                    judge=judge,
                )
            )
    if adapter is not None:
        tuned = apply_adapter(base.model, adapter)
        with progress("adapter", len(items)) as advance:
            runs.append(
                evaluate(
                    tuned,
                    base.tokenizer,
                    items,
                    label="adapter",
                    batch_size=batch_size,
                    progress=advance,
                    judge=judge,
                )
            )
    out.mkdir(parents=True, exist_ok=True)
    with (out / "results.jsonl").open("w", encoding="utf-8") as fh:
        for run in runs:
            for r in run.items:
                fh.write(json.dumps({"model": run.label, **r.as_dict()}, ensure_ascii=False) + "\n")
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
        "judge": judge_record,
        "command": shlex.join(["synthspace", *command]),
    }
    if len(runs) == 2:
        mean, low, high = paired_delta_interval(
            [r.correct for r in runs[0].items], [r.correct for r in runs[1].items]
        )
        summary["delta"] = {"adapter_minus_base": mean, "ci95": [low, high]}
    (out / "summary.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    result: PublishResult | None = None
    if publish and catalog_adapter is not None:
        # What leaves the node: no local paths (benchmark, adapter folder, --out, --home).
        public = {**summary, "command": public_command(command)}
        public["benchmark"] = {k: v for k, v in summary["benchmark"].items() if k != "path"}
        public["adapter"] = {k: v for k, v in summary["adapter"].items() if k != "path"}
        rows = [{"model": run.label, **r.as_dict()} for run in runs for r in run.items]
        result = publish_evaluation(
            open_home(home),
            out,
            public,
            rows,
            catalog_adapter,
            started=started,
            finished=datetime.now(UTC).replace(microsecond=0),
            title=title,
            progress=log,
        )
        summary["published"] = {
            "artifact_id": result.artifact_id,
            "log_index": result.log_index,
            "bundle": str(result.bundle_dir),
        }
    return EvaluationRun(summary, runs, catalog_adapter, result)


def evaluate_published_adapter(
    benchmark: Path,
    artifact_id: str,
    *,
    home: Path | None,
    command: list[str],
    model_name: str = "embedded",
    out: Path | None = None,
    title: str | None = None,
    judge: AnswerJudge | None = None,
    threads: int | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> EvaluationRun:
    """What a federated run that names a benchmark does once its adapter is published: the node
    at `home` pulls the adapter verified, scores the base model and base + adapter
    (`--compare-base`) and publishes the signed `evaluation` whose parent is the adapter, through
    `run_evaluation` like `synthspace eval --adapter ID --publish`. `out` defaults to
    HOME/evaluations/<first 16 hex of the adapter id>."""
    if out is None:
        out = open_home(home).path / "evaluations" / artifact_id[:16]
    return run_evaluation(
        benchmark,
        out,
        command=command,
        model_name=model_name,
        adapter_ref=artifact_id,
        compare_base=True,
        publish=True,
        title=title,
        home=home,
        threads=threads,
        judge=judge,
        log=log,
    )
