"""Benchmark 1: generation orchestration against an OpenAI-compatible endpoint with fixed latency.

Starts tests/node/generate/openai_stub_server.py (50 ms per request) on 127.0.0.1 and, at each
number of requests in flight (16, 64, 256 by default), measures in ONE run:

- peer: a bare aiohttp loop (one session, N worker coroutines) that sends the same request
  bodies synthspace sends (same rendered prompts, sampling values, seeds and JSON schema),
  serialising each with json.dumps, and parses each answer down to the record's JSON: the
  least a client producing these records has to do;
- synthspace: a full `run_generation` with the `openai` backend and its default HTTP client
  (`--client`, default auto = the lean HTTP/1.1 client): seed commitment, planning, prompt
  rendering, requests, validation, Parquet shards, manifest;
- NeMo Data Designer 0.9.6 (`data-designer`, telemetry off, its own venv) on the same endpoint,
  prompt, JSON schema and concurrency, when `--dd-python` names an existing interpreter.

Each with records/s and client CPU ms per record: the process CPU time (user + system, every
thread) of the client alone. The peer and synthspace run in this process and are measured with
time.process_time around the run; Data Designer's worker measures its own process the same way.
The stub server is a separate process and is not counted. Each peer and synthspace run starts
after a full garbage collection (the same for both). `--compete` runs a busy-loop process
(`while True: pass`) for the whole benchmark, so the clients compete for the cores.

    python benchmarks/generation_orchestration.py [--compete] [--dd-python /work/bench-venvs/dd/bin/python]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synthspace.node.generate import get_backend, run_generation  # noqa: E402
from synthspace.node.generate.backends import GenerationRequest  # noqa: E402
from synthspace.node.generate.backends.openai_backend import OpenAIBackend  # noqa: E402
from synthspace.node.generate.execution import Prompts  # noqa: E402
from synthspace.node.generate.planning import NO_PERSONAS, build_plan  # noqa: E402
from synthspace.node.private_store import PrivateStore  # noqa: E402
from synthspace.node.recipes import PromptRenderer, load_recipe, parse_recipe, recipe_digest  # noqa: E402
from synthspace.node.seeds import commit_seeds, load_seeds  # noqa: E402
from tests.node.generate.conftest import TINY_RECIPE  # noqa: E402

LATENCY = 0.05
N_SEEDS = 64
# Data Designer's prompt: the same text the recipe renders (it has no personas here either).
PROMPT = "Topic: {{ topic }}. Fact: {{ fact }}.\nWrite one short question and answer about the topic as JSON."
HEADERS = {"content-type": "application/json"}


@dataclass
class Measure:
    records: int
    seconds: float
    cpu_seconds: float

    @property
    def rps(self) -> float:
        return self.records / self.seconds

    @property
    def cpu_ms(self) -> float:
        return 1000.0 * self.cpu_seconds / self.records


def start_stub(latency: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests/node/generate/openai_stub_server.py"), "--latency", str(latency)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the server listens
    return proc, f"http://127.0.0.1:{line.split()[1]}/v1"


class Inputs:
    """The recipe and seed files every point uses, and the request bodies synthspace will send."""

    def __init__(self, tmp: Path, n_max: int) -> None:
        self.tmp = tmp
        self.recipe = tmp / "r.yaml"
        self.recipe.write_text(TINY_RECIPE.replace("outputs_per_seed: 3", f"outputs_per_seed: {n_max // N_SEEDS + 1}"))
        self.seeds = tmp / "s.jsonl"
        self.seeds.write_text("".join(json.dumps({"topic": f"topic {i}", "fact": f"fact number {i}"}) + "\n"
                                      for i in range(N_SEEDS)))
        self.home = tmp / "home"
        self.schema = load_recipe(self.recipe).output_json_schema()

    def requests(self, n: int) -> list[GenerationRequest]:
        """The first attempt of each of the run's first `n` records, as the run plans and renders them."""
        recipe = load_recipe(self.recipe)
        seed_set = load_seeds(self.seeds, recipe.seed_fields)
        root = commit_seeds(seed_set, PrivateStore.for_home(self.home)).root
        plan = build_plan(recipe, recipe_digest(recipe), root, len(seed_set), [], n)
        prompts = Prompts(PromptRenderer(recipe), seed_set, NO_PERSONAS, recipe.sampling.max_tokens)
        return [prompts.request(task, 0) for task in plan]

    def bodies(self, n: int) -> list[dict[str, Any]]:
        """The request bodies of `requests(n)` as a plain client writes them."""
        fmt = {"type": "json_schema", "json_schema": {"name": "record", "schema": self.schema, "strict": True}}
        return [{"model": "stub", "messages": r.messages, "max_tokens": r.max_tokens, "temperature": r.temperature,
                 "top_p": r.top_p, "seed": r.seed, "response_format": fmt} for r in self.requests(n)]

    def check_bodies(self, base_url: str) -> None:
        """The peer's bodies are exactly what the backend sends (guards the comparison)."""
        be = OpenAIBackend(model="stub", base_url=base_url, concurrency=4)
        for req, body in zip(self.requests(100), self.bodies(100), strict=True):
            sent = json.loads(be._payload(req, self.schema))
            assert sent == body, (sent, body)


def bare_loop(base_url: str, bodies: list[dict[str, Any]], concurrency: int) -> Measure:
    """The peer: a plain aiohttp client over the same bodies."""
    url = base_url + "/chat/completions"

    async def go() -> int:
        records: list[Any] = []
        todo = iter(bodies)
        connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker() -> None:
                for body in todo:  # one shared iterator: each body is sent once
                    async with session.post(url, data=json.dumps(body).encode(), headers=HEADERS) as r:
                        data = await r.read()
                        if r.status != 200:
                            raise RuntimeError(f"HTTP {r.status}: {data[:200]!r}")
                    doc = json.loads(data)
                    records.append(json.loads(doc["choices"][0]["message"]["content"]))

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(records)

    c0, t0 = time.process_time(), time.perf_counter()
    n = asyncio.run(go())
    m = Measure(n, time.perf_counter() - t0, time.process_time() - c0)
    assert n == len(bodies), n
    return m


def synthspace_run(inputs: Inputs, base_url: str, concurrency: int, n: int, client: str = "auto") -> Measure:
    out = inputs.tmp / f"run-{concurrency}-{time.time_ns()}"
    c0, t0 = time.process_time(), time.perf_counter()
    be = get_backend("openai", base_url=base_url, model="stub", concurrency=concurrency, client=client)
    manifest = run_generation(inputs.recipe, inputs.seeds, out, backend=be, limit=n, home=inputs.home)
    m = Measure(manifest.completed, time.perf_counter() - t0, time.process_time() - c0)
    assert manifest.completed == n and not manifest.dropped and not manifest.retries, manifest
    return m


def dd_run(dd_python: str, base_url: str, concurrency: int, n: int, schema: dict[str, Any]) -> Measure | None:
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
    return Measure(r["records"], r["seconds"], r["cpu_seconds"])


def median_of(runs: list[Measure]) -> tuple[float, float]:
    """(median records/s, median CPU ms per record) over repeats."""
    return statistics.median(m.rps for m in runs), statistics.median(m.cpu_ms for m in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dd-python", default="/work/bench-venvs/dd/bin/python")
    ap.add_argument("--concurrency", default="16,64,256", help="requests in flight, comma-separated")
    ap.add_argument("--records", type=int, default=2000, help="records per peer / synthspace run")
    ap.add_argument("--dd-records", type=int, default=600, help="records per Data Designer run (it is much slower)")
    ap.add_argument("--repeats", type=int, default=3, help="peer and synthspace runs per point, interleaved; medians")
    ap.add_argument("--compete", action="store_true", help="run a busy-loop process for the duration")
    ap.add_argument("--client", default="auto", choices=["auto", "http11", "aiohttp", "httpx"],
                    help="the openai backend's HTTP client for the synthspace runs")
    a = ap.parse_args()
    schema = parse_recipe(TINY_RECIPE).output_json_schema()
    have_dd = Path(a.dd_python).exists()
    if not have_dd:
        print(f"note: {a.dd_python} does not exist: Data Designer skipped "
              '(python -m venv /work/bench-venvs/dd && /work/bench-venvs/dd/bin/pip install "data-designer<0.9.7")')
    print(f"start {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, load average {os.getloadavg()}, cpus {os.cpu_count()}", flush=True)
    proc, base_url = start_stub(LATENCY)
    competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if a.compete else None
    table: list[tuple[int, float, tuple[float, float], tuple[float, float], Measure | None]] = []
    try:
        with tempfile.TemporaryDirectory() as tmpd:
            inputs = Inputs(Path(tmpd), a.records)
            inputs.check_bodies(base_url)
            bodies = inputs.bodies(a.records)
            # Warm-up: imports (pyarrow, pydantic models), first connections.
            bare_loop(base_url, bodies[:50], 8)
            synthspace_run(inputs, base_url, 8, 50, a.client)
            for c in [int(x) for x in a.concurrency.split(",")]:
                peer: list[Measure] = []
                ours: list[Measure] = []
                runs: list[tuple[str, Callable[[], Measure]]] = [
                    ("peer", lambda c=c: bare_loop(base_url, bodies, c)),
                    ("synthspace", lambda c=c: synthspace_run(inputs, base_url, c, a.records, a.client)),
                ]
                for i in range(a.repeats):
                    for name, fn in runs if i % 2 == 0 else runs[::-1]:  # alternate who goes first
                        # A full collection first: otherwise the one the earlier runs' survivors make
                        # due (~60 ms here, 30 us a record) lands in whichever run comes next.
                        gc.collect()
                        m = fn()
                        (peer if name == "peer" else ours).append(m)
                        print(json.dumps({"in_flight": c, "client": name, "records": m.records, "rps": round(m.rps, 1),
                                          "cpu_ms_per_record": round(m.cpu_ms, 3)}), flush=True)
                dd = dd_run(a.dd_python, base_url, c, a.dd_records, schema) if have_dd else None
                if dd is not None:
                    print(json.dumps({"in_flight": c, "client": "data-designer", "records": dd.records,
                                      "rps": round(dd.rps, 1), "cpu_ms_per_record": round(dd.cpu_ms, 3)}), flush=True)
                table.append((c, c / LATENCY, median_of(peer), median_of(ours), dd))
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()
        proc.terminate()
        proc.wait()
    print(f"end {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, load average {os.getloadavg()}")
    print(f"\n{a.records} records per peer/synthspace run, median of {a.repeats}; Data Designer {a.dd_records} records, "
          f"one run; competitor busy loop: {'yes' if a.compete else 'no'}; synthspace client: {a.client}\n")
    print("| in flight | ideal rec/s | bare aiohttp rec/s | synthspace rec/s | rec/s ratio | bare CPU ms/rec | "
          "synthspace CPU ms/rec | CPU ratio | Data Designer rec/s | DD CPU ms/rec |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for c, ideal, (p_rps, p_cpu), (s_rps, s_cpu), dd in table:
        dd_cells = f"{dd.rps:.1f} | {dd.cpu_ms:.2f}" if dd is not None else "n/a | n/a"
        print(f"| {c} | {ideal:.0f} | {p_rps:.1f} | {s_rps:.1f} | {s_rps / p_rps:.2f} | {p_cpu:.3f} | {s_cpu:.3f} | "
              f"{s_cpu / p_cpu:.2f} | {dd_cells} |")


if __name__ == "__main__":
    main()
