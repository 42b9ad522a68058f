"""Benchmark 1: generation orchestration against an OpenAI-compatible endpoint with fixed latency.

Starts tests/node/generate/openai_stub_server.py (50 ms per request) on 127.0.0.1 and measures
records/s of a full `run_generation` (seed commitment, prompt rendering, requests, validation,
Parquet shards, manifest) at concurrency 1, 16 and 64, as a fraction of the ideal
concurrency / latency; with the httpx and the aiohttp client; and NeMo Data Designer
(`data-designer`, telemetry off, its own venv) on the same endpoint, concurrency, prompt and
JSON schema, in the same run.

    python benchmarks/generation_orchestration.py [--dd-python /work/bench-venvs/dd/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.node.generate.conftest import TINY_RECIPE  # noqa: E402

LATENCY = 0.05
PROMPT = "Topic: {{ topic }}. Fact: {{ fact }}. Write one short question and answer about the topic as JSON."


def start_stub(latency: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests/node/generate/openai_stub_server.py"), "--latency", str(latency)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the server listens
    return proc, f"http://127.0.0.1:{line.split()[1]}/v1"


def synthspace_run(base_url: str, concurrency: int, n: int, client: str, tmp: Path) -> float:
    from synthspace.node.generate import get_backend, run_generation

    recipe = tmp / "r.yaml"
    recipe.write_text(TINY_RECIPE.replace("outputs_per_seed: 3", f"outputs_per_seed: {n // 64 + 1}"))
    seeds = tmp / "s.jsonl"
    seeds.write_text("".join(json.dumps({"topic": f"topic {i}", "fact": f"fact number {i}"}) + "\n" for i in range(64)))
    out = tmp / f"run-{client}-{concurrency}-{time.time_ns()}"
    be = get_backend("openai", base_url=base_url, model="stub", concurrency=concurrency, client=client)
    t0 = time.perf_counter()
    m = run_generation(recipe, seeds, out, backend=be, limit=n, home=tmp / "home")
    seconds = time.perf_counter() - t0
    assert m.completed == n, m
    return n / seconds


def dd_run(dd_python: str, base_url: str, concurrency: int, n: int, schema: dict) -> float | None:
    env = {**os.environ, "NEMO_TELEMETRY_ENABLED": "false", "BENCH_SCHEMA": json.dumps(schema), "BENCH_PROMPT": PROMPT}
    res = subprocess.run([dd_python, str(ROOT / "benchmarks/generation_dd_worker.py"), base_url, str(concurrency), str(n)],
                         capture_output=True, text=True, env=env, timeout=900)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        print("data-designer failed:", res.stderr[-2000:], file=sys.stderr)
        return None
    r = json.loads(lines[-1])
    if r["records"] != n:
        print(f"data-designer produced {r['records']}/{n} records", file=sys.stderr)
    return r["records"] / r["seconds"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dd-python", default="/work/bench-venvs/dd/bin/python")
    ap.add_argument("--seconds", type=float, default=3.0, help="ideal run length per point (sets the record count)")
    ap.add_argument("--concurrency", default="1,16,64")
    a = ap.parse_args()
    from synthspace.node.recipes import parse_recipe

    schema = parse_recipe(TINY_RECIPE).output_json_schema()
    proc, base_url = start_stub(LATENCY)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmpd:
            tmp = Path(tmpd)
            for client in ("httpx", "aiohttp"):  # warm-up: imports, first connections
                synthspace_run(base_url, 4, 20, client, tmp)
            for c in [int(x) for x in a.concurrency.split(",")]:
                ideal = c / LATENCY
                n = max(20, int(ideal * a.seconds))
                row = {"concurrency": c, "records": n, "ideal_rps": ideal}
                for client in ("httpx", "aiohttp"):
                    row[f"synthspace_{client}_rps"] = synthspace_run(base_url, c, n, client, tmp)
                row["data_designer_rps"] = dd_run(a.dd_python, base_url, c, n, schema) if Path(a.dd_python).exists() else None
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        proc.terminate()
        proc.wait()
    print("\n| concurrency | records | ideal rec/s | synthspace httpx | synthspace aiohttp | Data Designer | best synthspace / DD |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        ideal = r["ideal_rps"]
        dd = r["data_designer_rps"]
        best = max(r["synthspace_httpx_rps"], r["synthspace_aiohttp_rps"])

        def cell(v: float | None, ideal: float = ideal) -> str:
            return "failed" if v is None else f"{v:.1f} ({v / ideal:.2f})"

        ratio = f"{best / dd:.2f}x" if dd else "n/a"
        print(f"| {r['concurrency']} | {r['records']} | {ideal:.0f} | {cell(r['synthspace_httpx_rps'])} | "
              f"{cell(r['synthspace_aiohttp_rps'])} | {cell(dd)} | {ratio} |")


if __name__ == "__main__":
    main()
