"""Benchmark: LLM-as-judge orchestration against an OpenAI-compatible endpoint with fixed latency.

Starts tests/node/generate/openai_stub_server.py (50 ms per request; it answers JSON that fits
the request's schema, so every verdict parses) on 127.0.0.1 and scores N records with
`synthspace.node.quality.judge.judge_records` (the judge gate's code path: prompts with the
rubric, structured-output requests through the openai backend, parsing, per-criterion verdicts)
at concurrency 16, 64 and 256. The peer in the same run is a bare aiohttp loop that sends the
same request bodies at the same concurrency and only reads the replies: the most a client can
get from this endpoint. Reports records/s, the ratio to the bare loop, and CPU ms per record
(this process; the stub runs in its own process).

    python benchmarks/judge_throughput.py [--records 3000] [--latency 0.05] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

TASK = "support_exchange"
CRITERIA = [
    {"name": "helpfulness", "description": "5: the reply solves the customer's problem; 1: it does not.", "min_score": 3},
    {"name": "fluency", "description": "5: natural, correct English; 1: broken text.", "min_score": 3},
    {"name": "faithfulness", "description": "5: nothing invented beyond the record; 1: invented facts.", "min_score": 3},
]


def start_stub(latency: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/node/generate/openai_stub_server.py"), "--latency", str(latency)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the server listens
    return proc, f"http://127.0.0.1:{line.split()[1]}/v1"


def records(n: int) -> list[dict[str, Any]]:
    rng = random.Random(0)
    products = ["AuroraBoil kettle", "CloudPress coffee maker", "Nimbus Toaster Duo", "Nimbus Blender Mini"]
    issues = ["arrived broken", "charged twice", "refund not received", "wrong colour delivered"]
    return [
        {
            "customer": f"Hello, my {rng.choice(products)} {rng.choice(issues)}. Order {i}. Can you help?",
            "agent": f"Sorry about that. I have opened case {i} and will send a replacement today.",
            "category": rng.choice(["billing", "shipping", "returns"]),
        }
        for i in range(n)
    ]


def synthspace_judge(base_url: str, concurrency: int, recs: list[dict[str, Any]]) -> dict[str, float]:
    from synthspace.node.generate import get_backend
    from synthspace.node.quality.judge import judge_records
    from synthspace.node.recipes.gate_rules import JudgeConfig

    cfg = JudgeConfig.model_validate({"enabled": True, "model": "stub", "base_url": base_url, "criteria": CRITERIA})
    backend = get_backend("openai", base_url=base_url, model="stub", concurrency=concurrency)
    c0, t0 = time.process_time(), time.perf_counter()
    verdicts = judge_records(cfg, TASK, recs, backend=backend)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    unread = sum(1 for s in verdicts.scores if s is None)
    assert unread == 0, f"{unread} verdicts did not parse"
    return {"records_per_s": len(recs) / wall, "cpu_ms_per_record": 1000 * cpu / len(recs), "wall_s": wall}


def bare_bodies(recs: list[dict[str, Any]]) -> list[bytes]:
    """The same request bodies the judge sends (prompt, schema, sampling), serialised up front."""
    from synthspace.node.quality.judge import prompt, verdict_schema
    from synthspace.node.recipes.gate_rules import JudgeConfig

    cfg = JudgeConfig.model_validate({"enabled": True, "criteria": CRITERIA})
    schema = verdict_schema(cfg)
    return [
        json.dumps({
            "model": "stub", "messages": prompt(cfg, TASK, r), "temperature": 0.0, "top_p": 1.0,
            "max_tokens": cfg.max_tokens, "seed": 0,
            "response_format": {"type": "json_schema", "json_schema": {"name": "verdict", "schema": schema}},
        }).encode()
        for r in recs
    ]  # fmt: skip


def bare_loop(base_url: str, concurrency: int, bodies: list[bytes]) -> dict[str, float]:
    import aiohttp

    async def main() -> None:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for b in bodies:
            queue.put_nowait(b)
        conn = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=conn) as session:

            async def worker() -> None:
                while not queue.empty():
                    body = queue.get_nowait()
                    async with session.post(
                        f"{base_url}/chat/completions", data=body, headers={"Content-Type": "application/json"}
                    ) as resp:
                        json.loads((await resp.json())["choices"][0]["message"]["content"])

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    c0, t0 = time.process_time(), time.perf_counter()
    asyncio.run(main())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"records_per_s": len(bodies) / wall, "cpu_ms_per_record": 1000 * cpu / len(bodies), "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=3000)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    recs = records(args.records)
    bodies = bare_bodies(recs)
    proc, url = start_stub(args.latency)
    rows = []
    try:
        for c in args.concurrency:
            n = min(args.records, max(200, c * 12))
            bare = bare_loop(url, c, bodies[:n])
            ours = synthspace_judge(url, c, recs[:n])
            row = {
                "concurrency": c, "records": n, "ideal_records_per_s": c / args.latency,
                "bare": bare, "synthspace": ours,
                "ratio_vs_bare": ours["records_per_s"] / bare["records_per_s"],
            }  # fmt: skip
            rows.append(row)
            print(
                f"concurrency {c:>3} ({n} records): bare {bare['records_per_s']:.0f} rec/s "
                f"({bare['cpu_ms_per_record']:.2f} CPU ms/rec), synthspace judge "
                f"{ours['records_per_s']:.0f} rec/s ({ours['cpu_ms_per_record']:.2f} CPU ms/rec), "
                f"ratio {row['ratio_vs_bare']:.2f}",
                flush=True,
            )
    finally:
        proc.terminate()
        proc.wait()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
