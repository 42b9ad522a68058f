"""Issue 14 item 5: a gate report edited by hand must not make the node publish leaked seed text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.node.conftest import Coordinator, generate_run, make_node


def _lie(run: Path) -> None:
    """Rewrite gate-report.json the way a careless or malicious operator would: all passed."""
    path = run / "gate-report.json"
    report = json.loads(path.read_text())
    report["passed"] = True
    for gate in report["gates"]:
        gate["passed"] = True
    path.write_text(json.dumps(report))


def test_hand_edited_report_does_not_publish_leaked_seeds(
    tmp_path: Path, coordinator: Coordinator, leaky_llm: Any
) -> None:
    from synthspace.node.gates import load_report, run_gates
    from synthspace.node.publishing import GatesFailedError, publish_run

    home = make_node(tmp_path, coordinator, "bind")
    run = generate_run(tmp_path / "leaky", home, leaky_llm, limit=6)
    honest = run_gates(run, home=home.path)  # `synthspace gate RUN_DIR`: no binding yet
    assert not honest.passed and "seed_leakage" in honest.failed_blocking  # positive control
    _lie(run)
    assert load_report(run).passed  # the file on disk now says pass
    with pytest.raises(GatesFailedError) as info:
        publish_run(home, run)
    assert "seed_leakage" in info.value.failed
    assert not (run / "publish" / "envelope.json").exists()
    # publish re-ran and bound the honest report; editing it again is caught by the binding
    assert not load_report(run).passed
    _lie(run)
    with pytest.raises(GatesFailedError):
        publish_run(home, run)
    assert not (run / "publish" / "envelope.json").exists()


def test_bound_report_is_reused_and_binding_detects_changes(
    tmp_path: Path, coordinator: Coordinator, fake_llm: Any
) -> None:
    from synthspace.node.gate_binding import bind_report, binding_problem
    from synthspace.node.gates import run_gates
    from synthspace.node.generate.run_dir import shard_paths

    home = make_node(tmp_path, coordinator, "bind2")
    run = generate_run(tmp_path / "clean", home, fake_llm, limit=4)
    run_gates(run, home=home.path)
    report, shards = run / "gate-report.json", shard_paths(run)
    assert binding_problem(home, run, report, shards) == "no gate binding"
    bind_report(home, run, report, shards)
    assert binding_problem(home, run, report, shards) is None
    report.write_bytes(report.read_bytes() + b" ")
    assert binding_problem(home, run, report, shards) == "the gate report changed since the gates ran"
    bind_report(home, run, report, shards)
    binding = run / "private" / "gate-binding.json"
    body = json.loads(binding.read_text())
    body["gates_code"] = "0" * 64
    binding.write_text(json.dumps(body))
    assert binding_problem(home, run, report, shards) == "the gate binding's signature does not verify"
    other = make_node(tmp_path, coordinator, "bind3")  # another node's key cannot vouch for it
    bind_report(other, run, report, shards)
    assert binding_problem(home, run, report, shards) == "the gate binding's signature does not verify"
