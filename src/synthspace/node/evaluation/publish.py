"""Catalog adapters for `eval`, and publishing an evaluation as a signed `evaluation` artifact.

`pull_adapter` fetches a `model-adapter` artifact through the node's verified pull (every pull
check: signature, publisher key, data digest, log inclusion, checkpoint consistency, retraction,
gates) and writes the LoRA config its signed lineage records beside the weights, so the
scorer can apply it.

`publish_evaluation` writes one results file (`evaluation.json`: the summary and every per-item
result) and publishes it with `publish_file`: the Statement's subject is that file, its
predicate's `evaluation` record names the benchmark digest, the base model and adapter digests
and catalog ids, the metrics with their intervals, the judge (backend, model id and digest, rubric
digest, threshold, judged items; null without judged items) and the command, and its one parent
is the evaluated adapter (role `evaluated-model`), so an audit walks from the evaluation to the
adapter and on to the datasets it was trained on.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthspace.atomic_files import atomic_write_bytes
from synthspace.errors import SynthspaceError
from synthspace.lineage import DigestSet, Evaluation, LineagePredicate, Parent, Times
from synthspace.node.catalog import pull
from synthspace.node.evaluation.scoring import ADAPTER_CONFIG, ADAPTER_FILE
from synthspace.node.publishing import producer_for, publish_file

if TYPE_CHECKING:
    from synthspace.lineage import Statement
    from synthspace.node.audit import Auditor
    from synthspace.node.consumer import Consumer
    from synthspace.node.home import NodeHome
    from synthspace.node.publishing import PublishResult

RESULTS_FILE = "evaluation.json"
PUBLISH_DIR = "publish"
ADAPTER_DIR = "adapter"
SCORING = "choice: highest summed option log-likelihood; exact: greedy answer after normalisation"
SCORING_JUDGED = (
    "; judged: greedy answer scored 1-5 per criterion by the LLM judge against the reference, "
    "correct when every criterion reaches the item's min_score (else the judge's)"
)
_ARTIFACT_ID = re.compile(r"\A[0-9a-f]{64}\Z")


class EvaluationPublishError(SynthspaceError):
    """The adapter cannot be used for, or the evaluation cannot be published as, an artifact."""


def is_artifact_id(ref: str) -> bool:
    """A catalog artifact id (64 lowercase hex) rather than a local path."""
    return bool(_ARTIFACT_ID.match(ref))


@dataclass(frozen=True)
class CatalogAdapter:
    """A verified, pulled `model-adapter` artifact ready to apply."""

    artifact_id: str
    sha256: str
    title: str
    path: Path
    statement: Statement

    @property
    def base_model_digest(self) -> str | None:
        training = self.statement.predicate.training
        return training.base_model_digest if training is not None else None


def pull_adapter(
    auditor: Auditor, artifact_id: str, out_dir: Path, *, consumer: Consumer | None = None
) -> CatalogAdapter:
    """Pull and verify `artifact_id` (a model adapter) into `out_dir`; write its LoRA config.
    Another org's adapter is pulled under a logged agreement for purpose `evaluate`."""
    report = pull(auditor, artifact_id, out_dir, purpose="evaluate", action="evaluate", consumer=consumer)
    statement = report.statement
    assert statement is not None and report.artifact_id is not None
    pred = statement.predicate
    if pred.kind != "model-adapter":
        raise EvaluationPublishError(
            f"artifact {artifact_id} is a {pred.kind}, not a model adapter"
        )
    subject = statement.subject[0]
    lora = (pred.training.metrics.get("lora") if pred.training is not None else None) or {}
    if not isinstance(lora, dict) or not {"r", "lora_alpha", "target_modules"} <= set(lora):
        raise EvaluationPublishError(
            f"adapter {artifact_id} does not record its LoRA config (training.metrics.lora with r, "
            "lora_alpha, target_modules) in its signed lineage"
        )
    weights = out_dir / subject.name
    if subject.name != ADAPTER_FILE:
        raise EvaluationPublishError(
            f"adapter {artifact_id}'s file is {subject.name!r}, not {ADAPTER_FILE}"
        )
    atomic_write_bytes(
        out_dir / ADAPTER_CONFIG, (json.dumps(lora, indent=2, sort_keys=True) + "\n").encode()
    )
    return CatalogAdapter(artifact_id, subject.digest.sha256, pred.title, weights.parent, statement)


def public_command(argv: Sequence[str]) -> str:
    """The command line as published: local paths reduced to their file names."""
    out = []
    for arg in argv:
        if (
            ("/" in arg or "\\" in arg)
            and not arg.startswith("-")
            and Path(arg).expanduser().exists()
        ):
            arg = Path(arg).name
        out.append(arg)
    return shlex.join(["synthspace", *out])


def results_document(summary: Mapping[str, Any], results: Sequence[Mapping[str, Any]]) -> bytes:
    """The published results file: {"summary": ..., "results": [...]}, UTF-8 JSON."""
    doc = {"summary": dict(summary), "results": [dict(r) for r in results]}
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def evaluation_record(
    summary: Mapping[str, Any], adapter_id: str, adapter_sha256: str, command: str
) -> Evaluation:
    """The signed `evaluation` record of a summary as `synthspace eval` writes it."""
    bench, model = summary["benchmark"], summary["model"]
    return Evaluation.model_validate(
        {
            "benchmark_name": bench["name"],
            "benchmark_digest": bench["digest"],
            "items": bench["items"],
            "model": {
                "model_id": model["id"],
                "model_digest": model.get("digest"),
                "adapter_digest": f"sha256:{adapter_sha256}",
                "adapter_artifact_id": adapter_id,
            },
            "metrics": {
                label: {k: m[k] for k in ("items", "correct", "accuracy", "ci95")}
                for label, m in summary["metrics"].items()
            },
            "delta": summary.get("delta"),
            "judge": summary.get("judge"),
            "scoring": SCORING + (SCORING_JUDGED if summary.get("judge") else ""),
            "command": command,
        }
    )


def publish_evaluation(
    home: NodeHome,
    out_dir: Path,
    summary: Mapping[str, Any],
    results: Sequence[Mapping[str, Any]],
    adapter: CatalogAdapter,
    *,
    started: datetime,
    finished: datetime,
    title: str | None = None,
    license: str = "CC-BY-4.0",
    progress: Callable[[str], None] = lambda _: None,
) -> PublishResult:
    """Write OUT/evaluation.json and publish it (bundle in OUT/publish/) as an `evaluation`."""
    record = evaluation_record(
        summary, adapter.artifact_id, adapter.sha256, str(summary["command"])
    )
    results_path = out_dir / RESULTS_FILE
    atomic_write_bytes(results_path, results_document(summary, results))
    bench_stem = Path(record.benchmark_name).stem
    predicate = LineagePredicate(
        kind="evaluation",
        title=(title or f"{adapter.title} on {record.benchmark_name}")[:200],
        description=(
            f"{record.model.model_id} with and without adapter {adapter.artifact_id[:16]}… scored on "
            f"{record.items} items of {record.benchmark_name}; per-item results in {RESULTS_FILE}."
        ),
        license=license,
        tags=list(dict.fromkeys(["evaluation", bench_stem[:64]])),
        producer=producer_for(home),
        parents=[
            Parent(
                artifact_id=adapter.artifact_id,
                digest=DigestSet(sha256=adapter.sha256),
                role="evaluated-model",
            )
        ],
        evaluation=record,
        times=Times(started=started, finished=finished, signed=finished),
    )
    return publish_file(
        home, results_path, predicate, bundle_dir=out_dir / PUBLISH_DIR, progress=progress
    )
