"""NeMo Data Designer side of benchmarks/generation_orchestration.py (runs in Data Designer's own venv).

Usage: DD_PYTHON benchmarks/generation_dd_worker.py BASE_URL CONCURRENCY NUM_RECORDS
Prints one JSON line: {"records": n, "seconds": s, "cpu_seconds": c, "create_seconds": s2}, where
`cpu_seconds` is this process's CPU time (every thread) over the same span as `seconds`. Telemetry is off (NEMO_TELEMETRY_ENABLED=false).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

os.environ["NEMO_TELEMETRY_ENABLED"] = "false"

import data_designer.config as dd
import pandas as pd
from data_designer.interface import DataDesigner

SCHEMA = json.loads(os.environ["BENCH_SCHEMA"])
PROMPT = os.environ["BENCH_PROMPT"]


def main() -> None:
    base_url, concurrency, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    seeds = pd.DataFrame([{"topic": f"topic {i}", "fact": f"fact number {i}"} for i in range(64)])
    provider = dd.ModelProvider(name="stub", endpoint=base_url, provider_type="openai", api_key="not-needed")
    model = dd.ModelConfig(
        alias="m",
        model="stub",
        provider="stub",
        skip_health_check=True,
        inference_parameters=dd.ChatCompletionInferenceParams(
            temperature=0.7, top_p=0.95, max_tokens=96, max_parallel_requests=concurrency
        ),
    )
    builder = dd.DataDesignerConfigBuilder(model_configs=[model])
    builder.with_seed_dataset(dd.DataFrameSeedSource(df=seeds))
    builder.add_column(dd.LLMStructuredColumnConfig(name="record", prompt=PROMPT, output_format=SCHEMA, model_alias="m"))
    with tempfile.TemporaryDirectory() as tmp:
        designer = DataDesigner(artifact_path=tmp, model_providers=[provider])
        done: list[tuple[float, float]] = []
        c0, t0 = time.process_time(), time.perf_counter()
        result = designer.create(
            builder, num_records=n, on_batch_complete=lambda _p: done.append((time.perf_counter(), time.process_time()))
        )
        total, cpu_total = time.perf_counter() - t0, time.process_time() - c0
        df = result.load_dataset()
    # `seconds` ends when the last batch is written, before Data Designer's dataset profiling
    # (which tries to download a tokenizer here and fails): generation time only, like ours.
    seconds, cpu = (done[-1][0] - t0, done[-1][1] - c0) if done else (total, cpu_total)
    print(json.dumps({"records": int(len(df)), "seconds": seconds, "cpu_seconds": cpu, "create_seconds": total}))


if __name__ == "__main__":
    main()
