"""Issue 14 finding 6: a coordinator whose log was rolled back (restored from an older backup,
same log key) is reported as the named `checkpoint_consistency` check, with evidence kept, not
as the coordinator's `400 bad_proof_request`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx

from tests.node.conftest import Coordinator, cli


def _enrol_one(coord: Coordinator, org: str) -> None:
    from synthspace import keys

    r = httpx.post(
        f"{coord.url}/v1/enrol",
        json={
            "token": coord.invite(org),
            "org": org,
            "artifact_public_key": keys.public_key_pem(keys.generate_private_key()),
            "request_public_key": keys.public_key_pem(keys.generate_private_key()),
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text


def test_rolled_back_log_fails_checkpoint_consistency_with_evidence(tmp_path: Path) -> None:
    real = Coordinator.create(tmp_path / "real").start()
    backup_home = tmp_path / "backup"
    try:
        _enrol_one(real, "early-org")
        real.stop()
        shutil.copytree(real.home, backup_home)  # the backup: taken while the log was small
        real.start()
        for i in range(3):
            _enrol_one(real, f"later-org-{i}")
        state = tmp_path / "monitor"
        code, out, err = cli("audit", "log", "--coordinator", real.url, "--state", str(state), "--json")
        assert code == 0, err
        seen_size = json.loads(out)["size"]
        real.stop()
    finally:
        real.stop()
    restored = Coordinator(home=backup_home, port=real.port)
    restored.start()  # the operator restores the old backup: same key, same origin, fewer entries
    try:
        assert httpx.get(f"{restored.url}/healthz").json()["log_size"] < seen_size
        code, out, err = cli("audit", "log", "--coordinator", restored.url, "--state", str(state))
        assert code == 1, (out, err)
        assert "log audit failed at check checkpoint_consistency" in err, err
        assert "bad_proof_request" not in err.split("checkpoint_consistency", 1)[0]
        evidence = list((state / "evidence").iterdir())
        assert len(evidence) == 1, evidence
    finally:
        restored.stop()
