"""`synthspace eval --adapter ARTIFACT_ID --publish`: a signed `evaluation` artifact in the catalog.

A real coordinator on 127.0.0.1 (SQLite, then PostgreSQL: the pages' evaluation queries run on
both); org alpha publishes a generated dataset, then a LoRA adapter
(for a tiny 2-layer Llama) whose lineage names that dataset as training data; the real CLI pulls
the adapter verified, scores base and adapter on a small benchmark and publishes the results.
The evaluation then audits clean, fails audit when its results file or its parent changes, is
refused by the coordinator with an unknown or mismatched parent, and shows on the adapter's and
the dataset's web pages.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.federated import conftest as federation_fixtures
from tests.node.conftest import Coordinator, Space, cli, cli_subprocess
from tests.node.test_node_postgres import PG_ADMIN_URL

tiny_model = federation_fixtures.tiny_model  # the tiny 2-layer Llama folder (session fixture)

pytestmark = pytest.mark.slow


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def coordinator(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Coordinator]:
    """The node tests' coordinator, once per catalog backend (overrides conftest's)."""
    from sqlalchemy import create_engine, text

    if request.param == "sqlite":
        coord = Coordinator.create(tmp_path_factory.mktemp("coordinator")).start()
        try:
            yield coord
        finally:
            coord.stop()
        return
    name = f"ss_eval_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    pg: Coordinator | None = None
    try:
        url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
        pg = Coordinator.create(tmp_path_factory.mktemp("pg-coordinator"), database_url=url).start()
        yield pg
    finally:
        if pg is not None:
            pg.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


BENCH = [
    {"id": "q1", "kind": "choice", "question": "What status code means not found?", "options": ["404", "200", "500"], "answer": 0},
    {"id": "q2", "kind": "choice", "question": "Which status code means OK?", "options": ["301", "200"], "answer": 1},
    {"id": "q3", "kind": "choice", "question": "Which code is a server error?", "options": ["503", "204", "302"], "answer": 0},
    {"id": "q4", "kind": "exact", "question": "Reply with the word yes.", "answer": "yes"},
    {"id": "q5", "kind": "choice", "question": "Which status is a redirect?", "options": ["418", "302"], "answer": 1},
]  # fmt: skip


@dataclass
class Published:
    space: Space
    adapter_id: str
    adapter_sha256: str
    dataset_id: str
    out: Path
    summary: dict[str, Any]
    eval_id: str


def _publish_adapter(space: Space, tiny: Path, folder: Path) -> Any:
    """A LoRA adapter for `tiny`, nudged off zero so it differs from the base, published by
    alpha as a model-adapter whose training data is alpha's published dataset."""
    import torch
    from safetensors.torch import save_file

    from synthspace.lineage import DigestSet, LineagePredicate, Parent, Times, Training
    from synthspace.node.federated.lora import (
        LoraSettings,
        adapter_state,
        attach_lora,
        load_base_model,
    )
    from synthspace.node.publishing import producer_for, publish_file

    base = load_base_model(str(tiny))
    settings = LoraSettings(rank=4, alpha=8)
    peft_model = attach_lora(base.model, settings)
    state = adapter_state(peft_model)
    gen = torch.Generator().manual_seed(1)
    state = {k: v + 2.0 * torch.randn(v.shape, generator=gen) for k, v in state.items()}
    folder.mkdir()
    save_file(state, str(folder / "adapter.safetensors"))
    lora = json.loads(json.dumps(settings.peft_config().to_dict(), default=list))
    dataset = space.published
    now = datetime.now(UTC).replace(microsecond=0)
    predicate = LineagePredicate(
        kind="model-adapter",
        title="Tiny support adapter",
        producer=producer_for(space.alpha),
        parents=[
            Parent(
                artifact_id=dataset.artifact_id,
                digest=dataset.statement.subject[0].digest,
                role="training-data",
            )
        ],
        training=Training(
            strategy="FedAvg",
            base_model=base.model_id,
            base_model_digest=base.digest,
            rounds=1,
            participants=[space.alpha.config().org],
            training_artifacts={
                space.alpha.config().org: [dataset.statement.subject[0].digest.sha256]
            },
            metrics={"lora": lora},
        ),
        times=Times(started=now, finished=now, signed=now),
    )
    assert isinstance(dataset.statement.subject[0].digest, DigestSet)
    return publish_file(
        space.alpha, folder / "adapter.safetensors", predicate, bundle_dir=folder / "publish"
    )


@pytest.fixture(scope="module")
def published(
    space: Space, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Published:
    work = tmp_path_factory.mktemp("eval-publish")
    adapter = _publish_adapter(space, tiny_model, work / "adapter-src")
    bench = work / "bench.jsonl"
    bench.write_text("".join(json.dumps(i) + "\n" for i in BENCH), encoding="utf-8")
    out = work / "eval"
    code, stdout, stderr = cli_subprocess(
        "eval", "--model", str(tiny_model), "--benchmark", str(bench), "--adapter", adapter.artifact_id,
        "--publish", "--home", str(space.alpha.path), "--out", str(out), "--json", "--quiet",
    )  # fmt: skip
    assert code == 0, stderr
    summary = json.loads(stdout)
    return Published(
        space, adapter.artifact_id, adapter.statement.subject[0].digest.sha256, space.published.artifact_id,
        out, summary, summary["published"]["artifact_id"],
    )  # fmt: skip


def test_published_evaluation_records_benchmark_models_metrics_and_parent(
    published: Published, tiny_model: Path
) -> None:
    from synthspace.node.evaluation.benchmark import file_digest

    statement = json.loads((published.out / "publish" / "envelope.json").read_text())
    import base64

    st = json.loads(base64.b64decode(statement["payload"]))
    pred = st["predicate"]
    assert pred["kind"] == "evaluation" and pred["gates"] == []
    assert st["subject"][0]["name"] == "evaluation.json"
    assert pred["parents"] == [
        {
            "artifact_id": published.adapter_id,
            "digest": {"sha256": published.adapter_sha256},
            "role": "evaluated-model",
        }
    ]
    ev = pred["evaluation"]
    bench_path = published.out.parent / "bench.jsonl"
    assert ev["benchmark_digest"] == file_digest(bench_path) and ev["items"] == len(BENCH)
    assert ev["model"]["adapter_artifact_id"] == published.adapter_id
    assert ev["model"]["adapter_digest"] == f"sha256:{published.adapter_sha256}"
    assert ev["model"]["model_digest"] == published.summary["model"]["digest"]
    assert set(ev["metrics"]) == {"base", "adapter"}  # --publish scores the base model too
    # measured with this seed: the perturbed adapter loses one item the base model got right
    assert (ev["metrics"]["base"]["correct"], ev["metrics"]["adapter"]["correct"]) == (2, 1)
    assert ev["delta"]["adapter_minus_base"] == pytest.approx(-0.2)
    for label, m in ev["metrics"].items():
        assert m == {
            k: published.summary["metrics"][label][k]
            for k in ("items", "correct", "accuracy", "ci95")
        }
    assert ev["delta"] == published.summary["delta"] and ev["judge"] is None
    # the command is there, without the node's local paths
    assert (
        "eval" in ev["command"]
        and "--publish" in ev["command"]
        and published.adapter_id in ev["command"]
    )
    assert str(published.out.parent) not in ev["command"] and str(tiny_model) not in ev["command"]
    # the results file holds every per-item result of both runs and the summary, no local paths
    doc = json.loads((published.out / "publish" / "evaluation.json").read_text())
    assert len(doc["results"]) == 2 * len(BENCH)
    assert {r["model"] for r in doc["results"]} == {"base", "adapter"}
    assert doc["summary"]["metrics"]["adapter"]["correct"] == sum(
        r["correct"] for r in doc["results"] if r["model"] == "adapter"
    )
    assert str(published.out.parent) not in json.dumps(doc)


def test_evaluation_audits_clean_through_adapter_to_dataset(published: Published) -> None:
    code, out, err = cli(
        "audit", published.eval_id, "--home", str(published.space.beta.path), "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    checks = {c["name"]: c["status"] for c in report["checks"]}
    assert (
        checks["data_digest"] == "pass"
        and checks["lineage"] == "pass"
        and checks["gates"] == "pass"
    )
    assert checks["evaluation_results"] == "pass"
    # evaluations only: the adapter's audit has no such check
    assert "evaluation_results" not in {c["name"] for c in report["parents"][0]["checks"]}
    adapter_report = report["parents"][0]
    assert adapter_report["artifact_id"] == published.adapter_id
    assert (
        adapter_report["parents"][0]["artifact_id"] == published.dataset_id
    )  # through it, the data
    # the local bundle audits clean too
    code, _, err = cli(
        "audit", str(published.out / "publish"), "--home", str(published.space.beta.path)
    )
    assert code == 0, err


def test_changed_results_file_fails_audit(published: Published, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(published.out / "publish", bundle)
    doc = json.loads((bundle / "evaluation.json").read_text())
    doc["summary"]["metrics"]["adapter"]["accuracy"] = 1.0  # a better-looking result
    (bundle / "evaluation.json").write_text(json.dumps(doc, indent=2) + "\n")
    code, _, err = cli("audit", str(bundle), "--home", str(published.space.beta.path))
    assert code == 1 and "audit failed at check data_digest" in err


def test_results_that_contradict_the_signed_record_fail_audit(
    published: Published, tmp_path: Path
) -> None:
    """Signed anew over edited results (so data_digest passes): the per-item results no longer
    add up to the signed metrics, and evaluation_results names it."""
    from synthspace.node.audit import Auditor

    results = json.loads((published.out / "publish" / "evaluation.json").read_text())
    flipped = next(r for r in results["results"] if r["model"] == "adapter" and not r["correct"])
    flipped["correct"] = True
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    envelope, _ = _signed_evaluation(
        published,
        published.adapter_id,
        published.adapter_sha256,
        json.dumps(results).encode(),
        bundle,
    )
    (bundle / "envelope.json").write_bytes(envelope)
    report = Auditor.for_home(published.space.beta).audit_bundle(bundle)
    checks = {c.name: c for c in report.checks}
    assert checks["data_digest"].status == "pass"
    assert checks["evaluation_results"].status == "fail"
    detail = checks["evaluation_results"].detail
    assert "adapter: 2/5 correct in the per-item results, the signed record says 1/5" in detail


def test_web_pages_show_the_evaluation(published: Published) -> None:
    ev = published.summary
    base, adapter, delta = ev["metrics"]["base"], ev["metrics"]["adapter"], ev["delta"]

    def pct(x: float) -> str:
        return f"{100 * x:.1f}%"

    def points(x: float) -> str:
        return f"{100 * x:+.1f}"

    url = published.space.coord.url
    page = httpx.get(f"{url}/catalog/artifacts/{published.adapter_id}").text
    row = re.search(
        rf'<tr class="evaluation-row" data-evaluation="{published.eval_id}">(.*?)</tr>', page, re.S
    )
    assert row is not None, "the adapter page lists the evaluation"
    cells = row.group(1)
    base_cell = re.search(r'<td class="base">(.*?)</td>', cells, re.S)
    adapter_cell = re.search(r'<td class="adapter">(.*?)</td>', cells, re.S)
    delta_cell = re.search(r'<td class="delta">(.*?)</td>', cells, re.S)
    assert base_cell and adapter_cell and delta_cell
    assert pct(base["accuracy"]) in base_cell.group(
        1
    ) and f"{100 * base['ci95'][0]:.1f}–{100 * base['ci95'][1]:.1f}%" in base_cell.group(1)
    assert pct(adapter["accuracy"]) in adapter_cell.group(1)
    assert f"{100 * adapter['ci95'][0]:.1f}–{100 * adapter['ci95'][1]:.1f}%" in adapter_cell.group(
        1
    )
    assert f"{points(delta['adapter_minus_base'])} points" in delta_cell.group(1)
    assert f"[{points(delta['ci95'][0])}, {points(delta['ci95'][1])}]" in delta_cell.group(1)

    data_page = httpx.get(f"{url}/catalog/artifacts/{published.dataset_id}").text
    row = re.search(rf'data-evaluation="{published.eval_id}">(.*?)</tr>', data_page, re.S)
    assert row is not None, "the dataset page lists the evaluation of the adapter trained on it"
    assert f'href="/catalog/artifacts/{published.adapter_id}"' in row.group(1)

    eval_page = httpx.get(f"{url}/catalog/artifacts/{published.eval_id}").text
    assert 'id="evaluation-results"' in eval_page and "All checks pass" in eval_page
    assert f"{points(delta['adapter_minus_base'])} points" in eval_page
    assert f'href="/catalog/artifacts/{published.adapter_id}"' in eval_page  # its parent


def _signed_evaluation(
    published: Published, parent_id: str, parent_sha: str, results: bytes, tmp: Path
) -> tuple[bytes, Path]:
    """An evaluation envelope signed by alpha with the given parent, and its results file."""
    from synthspace import artifact
    from synthspace.lineage import DigestSet, LineagePredicate, Parent, Statement, Subject, Times
    from synthspace.node.evaluation.publish import evaluation_record
    from synthspace.node.publishing import producer_for

    src = json.loads((published.out / "publish" / "evaluation.json").read_text())
    record = evaluation_record(src["summary"], parent_id, parent_sha, "synthspace eval")
    path = tmp / "evaluation.json"
    path.write_bytes(results)
    import hashlib

    now = datetime.now(UTC).replace(microsecond=0)
    statement = Statement(
        subject=[Subject(name="evaluation.json", digest=DigestSet(sha256=hashlib.sha256(results).hexdigest()))],
        predicate=LineagePredicate(
            kind="evaluation", title="forged parent", producer=producer_for(published.space.alpha),
            parents=[Parent(artifact_id=parent_id, digest=DigestSet(sha256=parent_sha), role="evaluated-model")],
            evaluation=record, times=Times(started=now, finished=now, signed=now),
        ),
    )  # fmt: skip
    return artifact.sign_statement(statement, published.space.alpha.artifact_key()).to_json(), path


def test_coordinator_refuses_unknown_or_changed_parent_and_bad_results(
    published: Published, tmp_path: Path
) -> None:
    from synthspace.node.coordinator_client import CoordinatorClient, CoordinatorError

    results = (published.out / "publish" / "evaluation.json").read_bytes()
    doc = json.loads(results)
    doc["results"] = [r for r in doc["results"] if r["model"] == "base"]  # adapter rows dropped
    forged = json.dumps(doc).encode()
    other = json.loads(results)
    other["summary"]["adapter"]["artifact_id"] = "ab" * 32  # results consistent with that parent
    cases = [
        ("unknown_parent", "ab" * 32, published.adapter_sha256, json.dumps(other).encode()),
        ("parent_digest_mismatch", published.adapter_id, "cd" * 32, results),
        ("invalid_data", published.adapter_id, published.adapter_sha256, b"not json\n"),
        ("evaluation_results_mismatch", published.adapter_id, published.adapter_sha256, forged),
    ]
    with CoordinatorClient.for_home(published.space.alpha) as client:
        for i, (code, parent_id, parent_sha, data) in enumerate(cases):
            d = tmp_path / str(i)
            d.mkdir()
            envelope, path = _signed_evaluation(published, parent_id, parent_sha, data, d)
            with pytest.raises(CoordinatorError) as exc:
                client.publish(envelope, path)
            assert exc.value.code == code, exc.value
        # positive control: the same route takes the genuine parent and results
        envelope, path = _signed_evaluation(
            published, published.adapter_id, published.adapter_sha256, results, tmp_path
        )
        assert client.publish(envelope, path).artifact_id


def test_a_judged_evaluation_signs_its_judge_and_the_catalog_recounts_it(
    published: Published, tiny_model: Path, tmp_path: Path
) -> None:
    """Judged free answers: the signed record names the judge (model id, rubric digest,
    threshold, judged items); the results carry each answer's scores and rationale; the
    evaluation audits clean; a results file calling a low-scored answer correct (counts
    adjusted, so only the judge rule can catch it) is refused by the coordinator."""
    import dataclasses

    from synthspace.node.coordinator_client import CoordinatorClient, CoordinatorError
    from synthspace.node.evaluation.stats import wilson_interval
    from tests.judge_stub import judge_stub

    bench = tmp_path / "judged.jsonl"
    judged = {"id": "j1", "kind": "judged", "question": "Which code means not found?", "answer": "404 Not Found"}
    bench.write_text("".join(json.dumps(i) + "\n" for i in [*BENCH[:2], judged]), encoding="utf-8")
    out = tmp_path / "eval"
    verdict = json.dumps({"correctness": 2, "rationale": "does not name the status code"})
    with judge_stub(lambda body: verdict) as stub:
        code, stdout, stderr = cli(
            "eval", "--model", str(tiny_model), "--benchmark", str(bench), "--adapter", published.adapter_id,
            "--publish", "--home", str(published.space.alpha.path), "--out", str(out), "--json", "--quiet",
            "--judge-backend", "openai", "--judge-model", "stub-judge", "--judge-base-url", stub.url,
        )  # fmt: skip
    assert code == 0, stderr
    assert len(stub.seen) == 2  # the judged item, for base and for adapter
    summary = json.loads(stdout)
    envelope = json.loads((out / "publish" / "envelope.json").read_text())
    import base64

    ev = json.loads(base64.b64decode(envelope["payload"]))["predicate"]["evaluation"]
    assert ev["judge"] == summary["judge"]
    assert ev["judge"]["model_id"] == "stub-judge" and ev["judge"]["backend"] == "openai"
    assert ev["judge"]["items"] == 1 and ev["judge"]["min_score"] == 4
    assert ev["judge"]["rubric_digest"].startswith("sha256:") and "judged:" in ev["scoring"]
    doc = json.loads((out / "publish" / "evaluation.json").read_text())
    rows = [r for r in doc["results"] if r["kind"] == "judged"]
    assert len(rows) == 2 and all(not r["correct"] for r in rows)
    assert rows[0]["judge"] == {"scores": {"correctness": 2}, "rationale": "does not name the status code", "min_score": 4}
    code, report, err = cli("audit", summary["published"]["artifact_id"], "--home", str(published.space.beta.path), "--json")
    assert code == 0, err
    assert {c["name"]: c["status"] for c in json.loads(report)["checks"]}["evaluation_results"] == "pass"

    forged = json.loads(json.dumps(doc))
    row = next(r for r in forged["results"] if r["kind"] == "judged" and r["model"] == "adapter")
    row["correct"] = True
    m = forged["summary"]["metrics"]["adapter"]
    m["correct"] += 1
    m["accuracy"] = m["correct"] / m["items"]
    m["ci95"] = list(wilson_interval(m["correct"], m["items"]))
    forged["summary"]["delta"] = None
    mine = dataclasses.replace(published, out=tmp_path / "forged-src")
    (mine.out / "publish").mkdir(parents=True)
    (mine.out / "publish" / "evaluation.json").write_text(json.dumps(forged))
    with CoordinatorClient.for_home(published.space.alpha) as client:
        sent = tmp_path / "sent"
        sent.mkdir()
        envelope_bytes, path = _signed_evaluation(
            mine, published.adapter_id, published.adapter_sha256, json.dumps(forged).encode(), sent
        )
        with pytest.raises(CoordinatorError) as exc:
            client.publish(envelope_bytes, path)
    assert exc.value.code == "evaluation_results_mismatch", exc.value
    assert "says correct=True but its judge scores say False" in str(exc.value)


def test_publish_needs_a_catalog_adapter(published: Published, tmp_path: Path) -> None:
    bench = published.out.parent / "bench.jsonl"
    code, _, err = cli("eval", "--benchmark", str(bench), "--adapter", str(published.out / "adapter"), "--publish",
                       "--home", str(published.space.alpha.path), "--out", str(tmp_path / "o"))  # fmt: skip
    assert code == 1 and "--publish needs --adapter ARTIFACT_ID" in err


def test_retracted_parent_fails_the_evaluations_audit(published: Published) -> None:
    # Runs last in this module: the adapter stays retracted.
    code, _, err = cli("audit", published.eval_id, "--home", str(published.space.beta.path))
    assert code == 0, err
    code, _, err = cli("catalog", "retract", published.adapter_id, "--reason", "trained on the wrong data",
                       "--home", str(published.space.alpha.path))  # fmt: skip
    assert code == 0, err
    code, out, err = cli(
        "audit", published.eval_id, "--home", str(published.space.beta.path), "--json"
    )
    assert code == 1
    report = json.loads(out)
    lineage = next(c for c in report["checks"] if c["name"] == "lineage")
    assert lineage["status"] == "fail" and "failed retraction" in lineage["detail"]
    # and a retracted adapter is no longer pulled for scoring: refused before any model loads
    bench = published.out.parent / "bench.jsonl"
    code, _, err = cli("eval", "--benchmark", str(bench), "--adapter", published.adapter_id,
                       "--home", str(published.space.beta.path), "--out", str(published.out.parent / "again"))  # fmt: skip
    assert code == 1 and "retraction" in err and "Traceback" not in err
    assert not (published.out.parent / "again" / "adapter" / "adapter.safetensors").exists()
