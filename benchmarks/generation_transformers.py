"""Benchmark 2: transformers backend tokens/s as a fraction of a bare `model.generate` loop.

Same embedded model (SmolLM2-135M-Instruct), same chat-templated left-padded prompts, same
batch size and token budget. Reported: the backend's free-text path (our per-row sampling
processor), its grammar-constrained JSON path (xgrammar mask every step), and a full
`run_generation` (prompt rendering, validation, Parquet shards) — each as a fraction of the
bare loop's generated tokens per second.

    python benchmarks/generation_transformers.py [--batch 8] [--max-tokens 64] [--rounds 4]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.generation.conftest import SEEDS, TINY_RECIPE  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for every path (1 avoids OpenMP oversubscription on a shared CPU)")
    a = ap.parse_args()

    import torch

    from synthspace.node.generate import get_backend, run_generation
    from synthspace.node.generate.backends import GenerationRequest
    from synthspace.node.recipes import PromptRenderer, parse_recipe

    torch.manual_seed(0)
    recipe_text = TINY_RECIPE.replace("max_tokens: 96", f"max_tokens: {a.max_tokens}").replace(
        "temperature: {kind: range, low: 0.5, high: 0.9}", "temperature: {kind: fixed, value: 0.7}")
    recipe = parse_recipe(recipe_text)
    renderer = PromptRenderer(recipe)
    seeds = [SEEDS[i % len(SEEDS)] for i in range(a.batch)]
    reqs = [GenerationRequest(key=str(i), messages=renderer.render(s, None), temperature=0.7, top_p=0.95,
                              max_tokens=a.max_tokens, seed=i) for i, s in enumerate(seeds)]
    be = get_backend("transformers", device="cpu", batch_size=a.batch, threads=a.threads)
    model, tok = be.load()
    texts = be.prompts(reqs)

    def bare() -> tuple[int, float]:
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=a.max_tokens, do_sample=True, temperature=0.7, top_p=0.95,
                                 pad_token_id=tok.pad_token_id)
        dt = time.perf_counter() - t0
        gen = out[:, enc["input_ids"].shape[1]:]
        n = 0
        for row in gen.tolist():
            n += next((j + 1 for j, t in enumerate(row) if t == tok.eos_token_id), len(row))
        return n, dt

    def backend_path(schema: dict | None) -> tuple[int, float]:
        t0 = time.perf_counter()
        comps = be.generate_batch(reqs, schema)
        return sum(c.completion_tokens for c in comps), time.perf_counter() - t0

    schema = recipe.output_json_schema()
    be.generate_batch(reqs[:1], schema)  # warm-up: grammar compile, first forward
    tmpd = tempfile.TemporaryDirectory()
    tmp = Path(tmpd.name)
    (tmp / "r.yaml").write_text(recipe_text)
    (tmp / "s.jsonl").write_text("".join(json.dumps(s) + "\n" for s in SEEDS))
    runs = iter(range(1000))

    def full_run() -> tuple[int, float]:
        t0 = time.perf_counter()
        m = run_generation(tmp / "r.yaml", tmp / "s.jsonl", tmp / f"run{next(runs)}", backend=be, limit=a.batch, home=tmp / "h")
        return m.completion_tokens, time.perf_counter() - t0

    paths = {"bare_generate": bare, "backend_text": lambda: backend_path(None),
             "backend_json_grammar": lambda: backend_path(schema), "run_generation_json": full_run}
    results = dict.fromkeys(paths, 0.0)
    # Rounds interleave the paths so load drift on a shared machine hits all of them alike.
    for _ in range(a.rounds):
        for name, fn in paths.items():
            n, dt = fn()
            results[name] = max(results[name], n / dt)
    tmpd.cleanup()
    base = results["bare_generate"]
    print(json.dumps(results))
    print(f"\nbatch {a.batch}, max_new_tokens {a.max_tokens}, torch threads {a.threads}, best of {a.rounds}")
    print("| path | tokens/s | fraction of bare generate |\n|---|---|---|")
    for k, v in results.items():
        print(f"| {k} | {v:.1f} | {v / base:.2f} |")


if __name__ == "__main__":
    main()
