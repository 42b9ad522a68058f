"""Runs through the real CLI: kill -9 at arbitrary moments and resume to exactly the requested
records; seeds and their salt never appear in any file of the run directory; clean CLI errors."""

from __future__ import annotations

import json
import random
import subprocess
import time
import unicodedata
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from synthspace.node.generate import read_records
from synthspace.node.generate.manifest import load_manifest
from synthspace.node.generate.planning import build_plan
from synthspace.node.recipes import load_recipe, recipe_digest
from tests.node.generate.conftest import (
    SEEDS,
    StubServer,
    env_without_proxy,
    start_stub,
    stop_stub,
    synthspace_cli,
    wait_until,
)


def _cmd(tiny: dict[str, Path], base_url: str, *extra: str) -> list[str]:
    return [*synthspace_cli(), "generate", "--recipe", str(tiny["recipe"]), "--seeds", str(tiny["seeds"]),
            "--out", str(tiny["out"]), "--home", str(tiny["home"]), "--backend", "openai", "--model", "stub",
            "--base-url", base_url, "--quiet", *extra]


@pytest.fixture()
def slow_stub() -> StubServer:
    server = start_stub(latency=0.01)
    yield server  # type: ignore[misc]
    stop_stub(server)


@pytest.mark.slow
def test_kill_9_and_resume_gives_exactly_the_requested_records(tiny: dict[str, Path], slow_stub: StubServer) -> None:
    # 60 seeds x 3 outputs = 180 records, tiny shards flushed often so kills land mid-write too.
    seeds = [{"topic": f"topic {i}", "fact": f"private fact number {i}"} for i in range(60)]
    tiny["seeds"].write_text("".join(json.dumps(s) + "\n" for s in seeds))
    # 0.15 s per request keeps the whole run ~15 s of generation, so several kills land mid-run
    # even when process start-up is slow on a loaded machine.
    slow_stub.configure(latency=0.15, invalid_every=7)  # some outputs fail validation and are retried
    cmd = _cmd(tiny, slow_stub.base_url, "--concurrency", "2", "--shard-size", "5", "--flush-interval", "0.05")
    rng = random.Random(1234)
    shards = tiny["out"] / "shards"

    def shard_count() -> int:
        return len(list(shards.glob("part-*.parquet"))) if shards.is_dir() else 0

    kills_mid_run = 0
    for _ in range(8):
        before = shard_count()
        proc = subprocess.Popen(cmd, env=env_without_proxy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Let this process make progress (a new shard), then SIGKILL it at a random moment while
        # requests are in flight and the next shards are being written.
        wait_until(lambda p=proc, b=before: p.poll() is not None or shard_count() > b, timeout=120)  # type: ignore[misc]
        if proc.poll() is not None:
            break
        time.sleep(rng.uniform(0.0, 0.4))
        proc.kill()  # no cleanup handlers run
        proc.wait()
        on_disk = len(read_records(tiny["out"]))
        kills_mid_run += 0 < on_disk < 180
    final = subprocess.run(cmd, env=env_without_proxy(), capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert kills_mid_run >= 2
    m = load_manifest(tiny["out"])
    df = read_records(tiny["out"])
    recipe = load_recipe(tiny["recipe"])
    plan = build_plan(recipe, recipe_digest(recipe), m.seed_commitment.root, 60, [], None)
    assert m.status == "complete" and m.requested == 180
    assert df["record_id"].is_unique
    assert set(df["record_id"]) | set(m.dropped_record_ids) == {t.record_id for t in plan}
    assert m.completed == len(df) and m.completed + sum(m.dropped.values()) == 180
    assert m.resumes >= kills_mid_run
    assert sum(s.rows for s in m.shards) == len(df)
    assert not [p for p in (tiny["out"] / "shards").iterdir() if not p.name.startswith("part-")]
    # Rerunning a complete run changes nothing.
    again = subprocess.run(cmd, env=env_without_proxy(), capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and len(read_records(tiny["out"])) == len(df)


def test_seeds_and_salt_never_reach_the_run_directory(tiny: dict[str, Path], stub: StubServer) -> None:
    res = subprocess.run(_cmd(tiny, stub.base_url), env=env_without_proxy(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "15/15 records" in res.stdout
    files = [p for p in tiny["out"].rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files) and (tiny["out"] / "manifest.json") in files
    needles: list[bytes] = []
    for s in SEEDS:
        for v in s.values():
            for form in {v, unicodedata.normalize("NFKC", v)}:
                needles += [form.encode(), json.dumps(form).encode()]
    salts = [p.read_bytes() for p in (tiny["home"] / "private" / "salts").iterdir()]
    assert salts
    needles += salts + [s.hex().encode() for s in salts]
    for p in files:
        data = p.read_bytes()
        if p.suffix == ".parquet":  # also check decoded values, whatever the compression
            data += json.dumps(pq.read_table(p).to_pylist(), default=str).encode()
        for n in needles:
            assert n not in data, f"{n[:40]!r} leaked into {p}"
    m = load_manifest(tiny["out"])
    assert m.seed_commitment.count == 5 and m.seeds_path == str(tiny["seeds"].resolve())
    assert m.generator.backend == "openai" and m.generator.model_id == "stub"
    assert m.recipe_digest.startswith("sha256:") and m.finished is not None and m.persona_source.kind == "none"
    df = read_records(tiny["out"], include_private=False)
    assert list(df.columns) == ["record_id", "question", "answer", "level", "score", "persona_id"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--recipe", "missing.yaml"], "recipe file not found"),
        (["--seeds", "missing.jsonl"], "seed file not found"),
        (["--backend", "nope"], "unknown backend"),
        (["--personas", "missing.parquet"], "persona file not found"),
    ],
)
def test_cli_errors_are_one_line(tiny: dict[str, Path], stub: StubServer, args: list[str], needle: str) -> None:
    cmd = _cmd(tiny, stub.base_url)
    for flag, value in zip(args[::2], args[1::2], strict=True):
        if flag in cmd:
            cmd[cmd.index(flag) + 1] = str(tiny["out"].parent / value) if "." in value else value
        else:
            cmd += [flag, str(tiny["out"].parent / value)]
    res = subprocess.run(cmd, env=env_without_proxy(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert res.stderr.startswith("error: ") and needle in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
