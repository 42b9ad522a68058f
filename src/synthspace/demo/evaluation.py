"""The demo's evaluation step: the federated adapter scored against the shipped benchmark.

kanagawa-legal (whose recipe writes Q&A about the fictional statutes) evaluates the adapter the
federation published on `en_statutes`, the shipped benchmark about those same statutes, with
the base model alongside (`--compare-base`), through the same `run_evaluation` as
`synthspace eval --adapter ARTIFACT_ID --publish`, and publishes the signed `evaluation`
artifact. It scores a fixed subset: the benchmark's first DEMO_ITEMS lines (the original items;
later ones are appended after them), or with `--small` its first SMALL_ITEMS, written verbatim
to a file of their own, so the published benchmark digest is that of exactly what was scored.
The numbers are reported whatever they are: only real errors fail the step.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

from synthspace.demo.display import Steps
from synthspace.demo.options import DemoOptions
from synthspace.demo.plans import ORGS
from synthspace.demo.summary import EvaluationSummary, FederationResult
from synthspace.node.audit import Auditor
from synthspace.node.evaluation.benchmark import shipped_benchmark
from synthspace.node.evaluation.run import run_evaluation

BENCHMARK = "en_statutes"
SMALL_ITEMS = 12
# The benchmark's original items, the ones the README's figures are for; `synthspace eval` on the
# shipped file scores all of them (benchmarks/value_of_data.py does).
DEMO_ITEMS = 36


def demo_benchmark(workdir: Path, small: bool) -> Path:
    """The shipped benchmark's first DEMO_ITEMS lines (SMALL_ITEMS with `small`), copied verbatim."""
    count = SMALL_ITEMS if small else DEMO_ITEMS
    shipped = shipped_benchmark(BENCHMARK)
    lines = [
        ln for ln in shipped.read_text(encoding="utf-8").splitlines(keepends=True) if ln.strip()
    ]
    subset = workdir / "eval" / f"{BENCHMARK}-first{count}.jsonl"
    subset.parent.mkdir(parents=True, exist_ok=True)
    subset.write_text("".join(lines[:count]), encoding="utf-8")
    return subset


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def evaluate_adapter(
    options: DemoOptions,
    homes: dict[str, Any],
    federation: FederationResult,
    workdir: Path,
    steps: Steps,
) -> EvaluationSummary:
    org = ORGS[0].org
    benchmark = demo_benchmark(workdir, options.small)
    out = workdir / "eval" / federation.artifact_id[:16]
    # The demo's own folder: a --keep-workdir rerun evaluates its new adapter from a clean one.
    shutil.rmtree(out, ignore_errors=True)
    home = homes[org].path
    command = ["eval", "--benchmark", str(benchmark), "--adapter", federation.artifact_id,
               "--compare-base", "--publish", "--home", str(home), "--out", str(out)]  # fmt: skip
    # Nothing else computes during this step, so torch may use every core unless --threads says.
    threads = options.threads if options.threads is not None else (os.cpu_count() or 1)
    with steps.step(
        f"{org}: evaluate the adapter vs the base model on {benchmark.name} and publish"
    ) as say:

        def progress(label: str, total: int) -> Any:
            @contextlib.contextmanager
            def advance() -> Any:
                done = [0]

                def tick(n: int) -> None:
                    done[0] += n
                    say(f"{label}: {done[0]}/{total} items")

                yield tick

            return advance()

        with warnings.catch_warnings():  # peft's call of a deprecated transformers property
            warnings.simplefilter("ignore", FutureWarning)
            result = run_evaluation(
                benchmark, out, command=command, adapter_ref=federation.artifact_id, compare_base=True,
                publish=True, home=home, threads=threads, progress=progress, log=say,
                title=f"Demo LoRA adapter on {benchmark.name}",
            )  # fmt: skip
    assert result.published is not None  # publish=True with a catalog adapter
    summary = result.summary
    base, tuned = summary["metrics"]["base"], summary["metrics"]["adapter"]
    delta = summary["delta"]
    evaluation = EvaluationSummary(
        artifact_id=result.published.artifact_id,
        log_index=result.published.log_index,
        org=org,
        adapter_artifact_id=federation.artifact_id,
        benchmark=benchmark.name,
        benchmark_digest=summary["benchmark"]["digest"],
        items=int(summary["benchmark"]["items"]),
        base_accuracy=float(base["accuracy"]),
        base_ci95=[float(x) for x in base["ci95"]],
        adapter_accuracy=float(tuned["accuracy"]),
        adapter_ci95=[float(x) for x in tuned["ci95"]],
        delta=float(delta["adapter_minus_base"]),
        delta_ci95=[float(x) for x in delta["ci95"]],
        items_per_second=float(tuned["items_per_second"] or 0.0),
        out_dir=str(out),
        envelope_path=str(result.published.bundle_dir / "envelope.json"),
    )
    steps.note(
        f"{benchmark.name}, {evaluation.items} items: base {_pct(evaluation.base_accuracy)} "
        f"(95% CI {_pct(base['ci95'][0])}-{_pct(base['ci95'][1])}), adapter {_pct(evaluation.adapter_accuracy)} "
        f"(95% CI {_pct(tuned['ci95'][0])}-{_pct(tuned['ci95'][1])}), delta {100 * evaluation.delta:+.1f} points "
        f"(95% CI {100 * delta['ci95'][0]:+.1f} to {100 * delta['ci95'][1]:+.1f})"
    )
    steps.note(
        f"[dim]an adapter from {options.rounds} rounds × {options.steps_per_round} local steps on a few "
        "synthetic records is not expected to beat the base model, and this run claims no "
        "improvement: the step shows the loop (score, sign, publish, audit), not a better model[/dim]"
    )
    auditor_org = ORGS[1].org
    with steps.step(f"{auditor_org}: audit the evaluation and its lineage (adapter, datasets)"):
        auditor = Auditor.for_home(homes[auditor_org])
        auditor.refresh()
        report = auditor.audit_artifact(evaluation.artifact_id, lineage=True)
    first = report.first_failure()
    evaluation.audit_ok, evaluation.audit_first_failure = report.ok, first.name if first else None
    steps.note(
        f"evaluation {evaluation.artifact_id} (log index {evaluation.log_index}) audit "
        f"{'[green]passed[/green]' if report.ok else '[red]FAILED[/red]'}; parent: adapter {federation.artifact_id[:16]}…"
    )
    return evaluation
