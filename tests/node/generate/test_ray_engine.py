"""`--engine ray` on a real local Ray cluster (a head and one worker node on 127.0.0.1): the same
records as the local engine, and exactly the planned record set after a killed driver or a killed
worker node, with the stub OpenAI endpoint and the embedded transformers model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from synthspace.node.generate import get_backend, read_records, run_generation
from synthspace.node.generate.manifest import load_manifest
from synthspace.node.generate.planning import build_plan
from synthspace.node.generate.ray_engine import RayConfig
from synthspace.node.generate.run_dir import RunDirError
from synthspace.node.recipes import load_recipe, recipe_digest
from tests.node.generate.conftest import StubServer, env_without_proxy, synthspace_cli, wait_until
from tests.node.generate.ray_cluster import LocalRayCluster

pytestmark = pytest.mark.slow

N_SEEDS = 24  # x 3 outputs = 72 records
# Kill tests: one request in flight per chunk (two chunks per worker), 0.25 s each: a run of several
# seconds, so the kill lands mid-run.
SLOW = ("--concurrency", "1")


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRayCluster]:
    env = env_without_proxy()
    # A killed node is declared dead after ~2 s instead of Ray's default ~30 s.
    env.update(RAY_health_check_period_ms="500", RAY_health_check_timeout_ms="1000", RAY_health_check_failure_threshold="3")
    c = LocalRayCluster(workers=1, env=env).start()
    yield c
    c.stop()
    time.sleep(1.0)
    assert c.leftover_processes() == []


@pytest.fixture()
def many(tiny: dict[str, Path]) -> dict[str, Path]:
    seeds = [{"topic": f"topic {i}", "fact": f"private fact number {i}"} for i in range(N_SEEDS)]
    tiny["seeds"].write_text("".join(json.dumps(s) + "\n" for s in seeds))
    return tiny


def _cmd(run: dict[str, Path], out: Path, cluster: LocalRayCluster, base_url: str, *extra: str) -> list[str]:
    return [*synthspace_cli(), "generate", "--recipe", str(run["recipe"]), "--seeds", str(run["seeds"]),
            "--out", str(out), "--home", str(run["home"]), "--backend", "openai", "--model", "stub",
            "--base-url", base_url, "--quiet", "--engine", "ray", "--ray-address", cluster.address,
            "--ray-workers", "2", "--ray-chunk-size", "4", "--shard-size", "4", "--flush-interval", "0.05", *extra]


def _planned_ids(run: dict[str, Path], out: Path) -> set[str]:
    m = load_manifest(out)
    recipe = load_recipe(run["recipe"])
    return {t.record_id for t in build_plan(recipe, recipe_digest(recipe), m.seed_commitment.root, N_SEEDS, [], None)}


def _assert_exact(run: dict[str, Path], out: Path) -> pd.DataFrame:
    m = load_manifest(out)
    df = read_records(out)
    assert m.status == "complete" and m.requested == 3 * N_SEEDS
    assert df["record_id"].is_unique, "a record was written twice"
    assert set(df["record_id"]) == _planned_ids(run, out), "records lost or beyond the plan"
    assert m.completed == len(df) == 3 * N_SEEDS
    return df


def _shard_count(out: Path) -> int:
    return len(list((out / "shards").glob("part-*.parquet"))) if (out / "shards").is_dir() else 0


def _env(cluster: LocalRayCluster) -> dict[str, str]:
    return cluster.env


def test_ray_engine_writes_the_same_records_as_the_local_engine(
    many: dict[str, Path], stub: StubServer, cluster: LocalRayCluster, tmp_path: Path
) -> None:
    stub.configure(latency=0.02)
    r = subprocess.run(_cmd(many, tmp_path / "ray", cluster, stub.base_url), env=_env(cluster),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    ray_df = _assert_exact(many, tmp_path / "ray")
    m = load_manifest(tmp_path / "ray")
    assert m.generator.backend == "openai" and m.generator.model_id == "stub"
    assert m.completion_tokens >= int(ray_df["_completion_tokens"].sum()) > 0
    # Same inputs and node home on the local engine: the very same rows (ids, values, sampling).
    run_generation(many["recipe"], many["seeds"], tmp_path / "local", home=many["home"], backend="openai",
                   model="stub", backend_options={"base_url": [stub.base_url]}, shard_size=4)
    local_df = _assert_exact(many, tmp_path / "local")
    cols = [c for c in local_df.columns if c != "_attempts"]
    pd.testing.assert_frame_equal(
        ray_df[cols].sort_values("record_id").reset_index(drop=True),
        local_df[cols].sort_values("record_id").reset_index(drop=True),
    )


def test_killed_driver_then_rerun_gives_exactly_the_planned_records(
    many: dict[str, Path], stub: StubServer, cluster: LocalRayCluster, tmp_path: Path
) -> None:
    stub.configure(latency=0.25, invalid_every=5)  # retries too, on the workers
    out = tmp_path / "run"
    cmd = _cmd(many, out, cluster, stub.base_url, *SLOW)
    proc = subprocess.Popen(cmd, env=_env(cluster), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert wait_until(lambda: proc.poll() is not None or _shard_count(out) >= 2, timeout=180)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)  # no cleanup: its actors die with their owner
    proc.wait()
    on_disk = len(read_records(out))
    assert 0 < on_disk < 3 * N_SEEDS
    r = subprocess.run(cmd, env=_env(cluster), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    _assert_exact(many, out)
    assert load_manifest(out).resumes == 1


def test_killed_worker_node_mid_run_gives_exactly_the_planned_records(
    many: dict[str, Path], stub: StubServer, cluster: LocalRayCluster, tmp_path: Path
) -> None:
    stub.configure(latency=0.25)
    out = tmp_path / "run"
    cmd = _cmd(many, out, cluster, stub.base_url, *SLOW)
    proc = subprocess.Popen(cmd, env=_env(cluster), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: proc.poll() is not None or _shard_count(out) >= 2, timeout=180)
        assert proc.poll() is None, "the run ended before the worker could be killed"
        worker = cluster.nodes.pop()
        LocalRayCluster.kill_node(worker)  # SIGKILL the worker node: raylet, its actor, everything
        assert len(read_records(out)) < 3 * N_SEEDS
        # The driver hands the dead actor's chunks to the head node's actor and finishes the run.
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        assert "a ray worker died" in stderr  # the dead actor's chunks were handed over, not lost
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        cluster.add_worker(len(cluster.nodes) + 1)  # later tests get their two nodes back
        cluster.wait_for_nodes(2)
    _assert_exact(many, out)
    # Rerun: nothing left to do, nothing duplicated.
    r = subprocess.run(cmd, env=_env(cluster), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    _assert_exact(many, out)


def test_embedded_model_on_a_ray_worker(tiny: dict[str, Path], cluster: LocalRayCluster) -> None:
    cmd = [*synthspace_cli(), "generate", "--recipe", str(tiny["recipe"]), "--seeds", str(tiny["seeds"]),
           "--out", str(tiny["out"]), "--home", str(tiny["home"]), "--backend", "transformers", "--device", "cpu",
           "--threads", "1", "--batch-size", "2", "--limit", "2", "--quiet", "--engine", "ray",
           "--ray-address", cluster.address, "--ray-workers", "1"]
    r = subprocess.run(cmd, env=_env(cluster), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    from synthspace.node.models.embedded import EMBEDDED_MODEL_ID, model_digest

    m = load_manifest(tiny["out"])
    assert m.status == "complete" and m.completed == 2 and not m.dropped
    assert m.generator.model_id == EMBEDDED_MODEL_ID and m.generator.model_digest == model_digest()
    df = read_records(tiny["out"])
    assert len(df) == 2 and df["record_id"].is_unique and (df["_completion_tokens"] > 5).all()


def test_a_backend_the_workers_cannot_build_is_a_clean_error(tiny: dict[str, Path], cluster: LocalRayCluster) -> None:
    cmd = [*synthspace_cli(), "generate", "--recipe", str(tiny["recipe"]), "--seeds", str(tiny["seeds"]),
           "--out", str(tiny["out"]), "--home", str(tiny["home"]), "--backend", "transformers",
           "--model", "/nonexistent/model/folder", "--quiet", "--engine", "ray", "--ray-address", cluster.address,
           "--ray-workers", "1"]
    r = subprocess.run(cmd, env=_env(cluster), capture_output=True, text=True, timeout=300)
    assert r.returncode == 1
    assert "cannot build the transformers backend" in r.stderr and "not a local folder" in r.stderr
    assert "Traceback" not in r.stderr


def test_the_api_key_never_travels_to_workers(tiny: dict[str, Path], stub: StubServer, cluster: LocalRayCluster,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from synthspace.node.generate import ray_engine

    shipped: list[dict[str, object]] = []
    real = ray_engine.RayEngine._new_slot

    def spy(self: ray_engine.RayEngine) -> object:
        shipped.append(dict(self.options))
        return real(self)

    monkeypatch.setattr(ray_engine.RayEngine, "_new_slot", spy)
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(k, raising=False)
    m = run_generation(tiny["recipe"], tiny["seeds"], tiny["out"], home=tiny["home"], backend="openai", model="stub",
                       backend_options={"base_url": [stub.base_url], "api_key": "sk-secret-canary"}, limit=3,
                       engine="ray", ray=RayConfig(address=cluster.address, workers=1))
    assert m.completed == 3
    assert shipped and all("api_key" not in o and "sk-secret-canary" not in json.dumps(o) for o in shipped)
    assert shipped[0]["base_url"] == [stub.base_url]


def test_engine_ray_refuses_a_ready_backend_object(tiny: dict[str, Path], stub: StubServer) -> None:
    be = get_backend("openai", model="stub", base_url=stub.base_url)
    with pytest.raises(RunDirError, match="pass a backend name"):
        run_generation(tiny["recipe"], tiny["seeds"], tiny["out"], home=tiny["home"], backend=be, engine="ray")
    assert not os.path.exists(tiny["out"] / "manifest.json")
