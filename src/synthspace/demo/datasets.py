"""Steps 3-8 of the demo: each organisation generates, gates and publishes its dataset; each
pulls and audits the other's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.markup import escape

from synthspace.demo.display import Steps, _gen_progress
from synthspace.demo.options import GENERATION_ATTEMPTS, DemoError
from synthspace.demo.plans import ORGS, demo_recipe
from synthspace.demo.summary import OrgResult, PullResult
from synthspace.node.audit import Auditor
from synthspace.node.catalog import Consumer, pull
from synthspace.node.gates import run_gates
from synthspace.node.generate import run_generation
from synthspace.node.generate.backends import get_backend
from synthspace.node.personas import create_persona_set
from synthspace.node.publishing import publish_run


def _dropped_note(report: Any, generated: int) -> str:
    kept = report.kept if report.kept is not None else generated - len(report.exclude_record_ids)
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(report.dropped_by_reason.items())) or "none"
    return f"kept {kept} of {report.records} records; dropped by reason: {reasons}"


def sample_records(data_path: Path, count: int = 2) -> list[dict[str, Any]]:
    """The first `count` records of a published Parquet file, output fields only."""
    import pyarrow.parquet as pq

    rows = pq.read_table(data_path).slice(0, count).to_pylist()
    return [{k: v for k, v in r.items() if not k.startswith("_") and k != "record_id"} for r in rows]


def _generate_and_publish(homes: dict[str, Any], workdir: Path, n: int, threads: int, steps: Steps) -> list[OrgResult]:
    persona_count = max(8, n)
    personas: dict[str, Any] = {}
    with steps.step(f"sample {persona_count} ja_JP personas per organisation (census Bayesian network)"):
        for plan in ORGS:
            out = workdir / "nodes" / plan.org / "work" / "personas-ja_JP.parquet"
            out.parent.mkdir(parents=True, exist_ok=True)
            personas[plan.org] = create_persona_set("ja_JP", persona_count, out, seed=plan.persona_seed)
    with steps.step("load the bundled model (SmolLM2-135M-Instruct, transformers, CPU)"):
        # One loaded copy serves both orgs: they share this machine in the demo.
        backend = get_backend("transformers", device="cpu", batch_size=8, threads=threads)
        info = backend.info()
    steps.note(f"model {info.model_id} {str(getattr(info, 'model_digest', '') or '')[:23]}")
    results: list[OrgResult] = []
    for plan in ORGS:
        home = homes[plan.org]
        work = workdir / "nodes" / plan.org / "work"
        blocked: list[dict[str, Any]] = []
        for attempt in range(1, GENERATION_ATTEMPTS + 1):
            # A refused run never leaves the node; the next attempt draws new samples (new seed).
            run_dir = work / ("run" if attempt == 1 else f"run-{attempt}")
            recipe = demo_recipe(plan, work / f"attempt-{attempt}-{plan.recipe.name}", sampling_seed_offset=attempt - 1)
            again = f" (attempt {attempt}/{GENERATION_ATTEMPTS}, new sampling seed)" if attempt > 1 else ""
            title = f"{plan.org}: generate {n} records, overgenerating for the gates ({plan.recipe.name}, private seeds {plan.seeds.name}){again}"
            with steps.step(title) as say:
                manifest = run_generation(
                    recipe, plan.seeds, run_dir, personas=personas[plan.org].path,
                    backend=backend, limit=n, home=home.path, flush_interval=5.0,
                    progress=_gen_progress(say),
                )  # fmt: skip
            steps.note(f"{manifest.completed}/{manifest.requested} records in {run_dir}" + (
                f", dropped {dict(manifest.dropped)}" if manifest.dropped else ""))  # fmt: skip
            if manifest.completed == 0:
                blocked.append({"run_dir": str(run_dir), "failed": ["no valid record"]})
                steps.note("[yellow]refused[/yellow]: the model produced no valid record; trying a new seed")
                continue
            with steps.step(f"{plan.org}: privacy, usefulness and quality gates (record-level filtering)") as say:
                report = run_gates(run_dir, progress=say, home=home.path)
            verdicts = {
                g.name: "pass" if g.passed else ("FAIL" if g.blocking else "warn") for g in report.gates
            }
            steps.note(", ".join(f"{k} {v}" for k, v in verdicts.items()))
            steps.note(_dropped_note(report, manifest.completed))
            if report.passed and (report.kept is None or report.kept > 0):
                break
            blocked.append({"run_dir": str(run_dir), "failed": list(report.failed_blocking) or ["no record kept"]})
            steps.note(
                f"[yellow]refused[/yellow]: {', '.join(blocked[-1]['failed'])}, so this run stays on the "
                f"node (see {run_dir / 'gate-report.json'}); trying a new seed"
            )
        else:
            raise DemoError(
                f"{plan.org}: every one of {GENERATION_ATTEMPTS} runs was refused "
                f"({'; '.join(', '.join(b['failed']) for b in blocked)}); nothing was published "
                f"(see {work}/run*/gate-report.json)"
            )
        with steps.step(f"{plan.org}: sign (DSSE) and publish the kept records to the catalog (RFC 9421)") as say:
            result = publish_run(home, run_dir, title=plan.title, tags=["demo"], progress=say)
        data_path = Path(result.data_path)
        samples = sample_records(data_path)
        shown = "its published record" if len(samples) == 1 else f"{len(samples)} of its published records"
        steps.note(f"artifact {result.artifact_id} at log index {result.log_index}; {shown}:")
        for rec in samples:
            steps.note("  " + escape(json.dumps(rec, ensure_ascii=False)))
        results.append(
            OrgResult(
                org=plan.org, home=str(home.path), recipe=plan.recipe.name,
                personas_path=str(personas[plan.org].path), personas=personas[plan.org].source.count,
                run_dir=str(run_dir), records=result.statement.predicate.record_count or 0,
                dropped=dict(manifest.dropped), gates_passed=report.passed, gates=verdicts, blocked_runs=blocked,
                artifact_id=result.artifact_id, log_index=result.log_index, bundle_dir=str(result.bundle_dir),
                data_path=str(data_path), envelope_path=str(Path(result.bundle_dir) / "envelope.json"),
                subject_sha256=result.statement.subject[0].digest.sha256,
                generated=manifest.completed, gate_dropped=dict(report.dropped_by_reason), samples=samples,
            )
        )  # fmt: skip
    return results


def _checks(report: Any) -> dict[str, str]:
    return {c.name: c.status for c in report.ordered()}


def _pull_and_audit(homes: dict[str, Any], orgs: list[OrgResult], workdir: Path, steps: Steps) -> list[PullResult]:
    pulls: list[PullResult] = []
    for me, other in ((orgs[0], orgs[1]), (orgs[1], orgs[0])):
        out = workdir / "nodes" / me.org / "pulled" / other.artifact_id[:16]
        with steps.step(f"{me.org}: pull and audit {other.org}'s artifact") as say:
            auditor = Auditor.for_home(homes[me.org])
            say("verifying signature, key, digest, log inclusion, checkpoint")
            say("signing an agreement to its usage policy (purpose: train), logged as a consumption receipt")
            pulled = pull(
                auditor, other.artifact_id, out, purpose="train", action="train",
                consumer=Consumer.for_home(homes[me.org]),
            )
            say("auditing with its lineage")
            report = auditor.audit_artifact(other.artifact_id, lineage=True)
        assert pulled.statement is not None
        first = report.first_failure()
        pulls.append(
            PullResult(
                by=me.org, artifact_id=other.artifact_id, publisher=other.org, bundle_dir=str(out),
                data_path=str(out / pulled.statement.subject[0].name), audit_ok=report.ok,
                first_failure=first.name if first else None, checks=_checks(report),
            )
        )  # fmt: skip
        steps.note(
            f"audit {'[green]passed[/green]' if report.ok else '[red]FAILED[/red]'}: "
            + ", ".join(f"{k} {v}" for k, v in _checks(report).items())
        )
    return pulls
