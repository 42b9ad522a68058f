"""`federate run --benchmark`: what is checked before any run starts, and what the run config
records (the end-to-end path is in test_deployment.py's shared run)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthspace.cli.main import app
from synthspace.coordinator.federated.federation import FederationRunError, RunOptions

JUDGED = {"id": "j", "kind": "judged", "question": "q", "answer": "a"}
CHOICE = {"id": "c", "kind": "choice", "question": "q", "options": ["a", "b"], "answer": 0}


def _bench(tmp_path: Path, *items: dict[str, object]) -> Path:
    path = tmp_path / "bench.jsonl"
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    return path


def _run(tmp_path: Path, *args: str) -> tuple[int, str]:
    # --home names no coordinator: anything that got past the checks would fail there instead
    result = CliRunner().invoke(app, ["federate", "run", "--home", str(tmp_path / "no-coord"), *args])
    return result.exit_code, result.output


def test_a_bad_benchmark_or_missing_judge_is_refused_before_the_run(tmp_path: Path) -> None:
    code, out = _run(tmp_path, "--benchmark", str(_bench(tmp_path, {"id": "x", "kind": "choice"})))
    assert code == 2 and "bench.jsonl:1: invalid item" in out
    code, out = _run(tmp_path, "--benchmark", str(_bench(tmp_path, CHOICE, JUDGED)))
    assert code == 2 and "1 judged item(s) need a judge" in out
    code, out = _run(tmp_path, "--eval-home", str(tmp_path))
    assert code == 2 and "need --benchmark" in out


def test_the_evaluating_node_home_must_exist_before_the_run(tmp_path: Path) -> None:
    code, out = _run(tmp_path, "--benchmark", str(_bench(tmp_path, CHOICE)), "--eval-home", str(tmp_path / "nohome"))
    assert code == 1 and "no node home at" in out


def test_the_run_config_names_the_benchmark_by_name_and_digest(tmp_path: Path) -> None:
    bench = _bench(tmp_path, CHOICE)
    cfg = RunOptions(benchmark=str(bench)).run_config(tmp_path)
    assert cfg["benchmark"] == f"bench.jsonl sha256:{hashlib.sha256(bench.read_bytes()).hexdigest()}"
    assert str(tmp_path) not in cfg["benchmark"]
    assert "benchmark" not in RunOptions().run_config(tmp_path)  # runs without one are as before
    with pytest.raises(FederationRunError, match="--benchmark needs --publish"):
        RunOptions(benchmark=str(bench), publish=False).validate()
    with pytest.raises(FederationRunError, match="does not exist"):
        RunOptions(benchmark=str(tmp_path / "gone.jsonl")).validate()
