"""A node with a witness policy: pulls need the quorum's cosignatures, keep proof.tlog, and an
offline audit verifies it with no network (real coordinator and witness servers on 127.0.0.1)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from synthspace import keys
from synthspace.checkpoint import verifier_for
from tests.coordinator.test_witnessed_log import WitnessProcess
from tests.node.conftest import Coordinator, FakeLLM, auditor_for, generate_run, make_node

CLI = [sys.executable, "-m", "synthspace.cli.main"]
pytestmark = pytest.mark.slow


def _policy(log_key: str, witnesses: list[WitnessProcess], quorum: str) -> str:
    lines = [f"log {log_key}"] + [f"witness w{i} {w.key} {w.url}" for i, w in enumerate(witnesses)]
    return "\n".join([*lines, "group both all w0 w1", f"quorum {quorum}"]) + "\n"


def test_witnessed_pull_and_offline_proof(tmp_path: Path, fake_llm: FakeLLM) -> None:
    from synthspace.node.audit import AuditFailed
    from synthspace.node.catalog import pull
    from synthspace.node.cli_support import open_auditor
    from synthspace.node.publishing import publish_run

    coord = Coordinator.create(tmp_path / "coord")
    log_key = verifier_for("test.node/log", keys.load_private_key(coord.home / "keys" / "log.pem")).to_string()
    witnesses = [WitnessProcess(tmp_path, f"w{i}", log_key) for i in range(2)]
    try:
        for w in witnesses:
            subprocess.run([*CLI, "coordinator", "add-witness", "--home", str(coord.home), "--url", w.url, "--key", w.key],
                           check=True, capture_output=True)
        coord.start()
        alpha = make_node(tmp_path, coord, "alpha")
        beta = make_node(tmp_path, coord, "beta")
        published = publish_run(alpha, generate_run(tmp_path / "run", alpha, fake_llm, limit=6), title="Witnessed set")
        aid = published.artifact_id
        (beta.path / "witness-policy").write_text(_policy(log_key, witnesses, "both"))
        out = tmp_path / "pulled"
        deadline = time.monotonic() + 60
        while True:  # the coordinator collects cosignatures in the background, within about a second
            try:
                report = pull(auditor_for(beta), aid, out, purpose="research")
                break
            except AuditFailed as exc:
                # Until the first round of cosigning lands there is no cosigned checkpoint at all
                # (404 not_cosigned); after it, one that may not cover the new entry yet.
                pending = "not covered yet" in str(exc) or "not_cosigned" in str(exc)
                assert pending and time.monotonic() < deadline, str(exc)
                time.sleep(0.5)
        witnessed = report.check("witnessed")
        assert witnessed is not None and witnessed.status == "pass" and "w0, w1" in witnessed.detail
        proof = (out / "proof.tlog").read_text()
        assert proof.startswith("c2sp.org/tlog-proof@v1\n") and proof.count("\u2014 ") == 3  # log + 2 witnesses

        coord.stop()  # the network is gone: the offline audit needs none of it
        offline = open_auditor(home=beta.path, offline=True)
        ok = offline.audit_bundle(out, lineage=False)
        assert ok.ok and ok.check("witnessed").status == "pass"  # type: ignore[union-attr]
        (out / "proof.tlog").write_text(proof.replace("index ", "index 9", 1))
        bad = open_auditor(home=beta.path, offline=True).audit_bundle(out, lineage=False)
        assert not bad.ok and bad.first_failure().name == "witnessed"  # type: ignore[union-attr]
        cli = subprocess.run([*CLI, "audit", str(out), "--home", str(beta.path), "--offline", "--no-lineage"],
                             capture_output=True, text=True)
        assert cli.returncode == 1 and "witnessed" in cli.stdout + cli.stderr
        (out / "proof.tlog").write_text(proof)
        cli = subprocess.run([*CLI, "audit", str(out), "--home", str(beta.path), "--offline", "--no-lineage"],
                             capture_output=True, text=True)
        assert cli.returncode == 0, cli.stdout + cli.stderr

        # A policy naming a witness that never cosigns this log refuses the pull online.
        coord.start()
        stranger = keys.generate_private_key()
        from synthspace.witness import WitnessKey

        other = WitnessKey.for_key("stranger.example/witness", stranger).to_string()
        (beta.path / "witness-policy").write_text(f"log {log_key}\nwitness s {other}\nquorum s\n")
        with pytest.raises(AuditFailed, match="witnessed"):
            pull(auditor_for(beta), aid, tmp_path / "pulled-again", purpose="research")
    finally:
        coord.stop()
        for w in witnesses:
            w.stop()
