"""Benchmark 2: transformers backend tokens/s as a fraction of a bare `model.generate` loop.

Same embedded model (SmolLM2-135M-Instruct), same chat-templated left-padded prompts, same
batch size and token budget. Reported: the backend's free-text path (our per-row sampling
processor), its grammar-constrained JSON path (xgrammar mask every step), and a full
`run_generation` (prompt rendering, validation, Parquet shards) — each as a fraction of the
bare loop's generated tokens per second.

    python benchmarks/generation_transformers.py [--batch 8] [--max-tokens 64] [--rounds 4]

Benchmark 3 (`--batching`): static vs continuous batching on the demo's two plans
(src/synthspace/demo/plans.py: its recipes, seeds and personas; 8 slots and 1 torch thread as the
demo on 2 cores): a full `run_generation` of the same plan (same seeds, personas, sampling, seed
per record) with each schedule, alternating, reporting records/s, generated tokens/s, CPU
seconds, schema-valid records and retries. Round r samples with the recipe's sampling seed
+ 1000 r (as the demo's r-th retry of a refused run does), so each round is a fresh draw of which
outputs fail validation and are generated again, the same draw for both schedules; one run of a
plan is deterministic enough that repeating the same seed would only repeat its retries.

    python benchmarks/generation_transformers.py --batching [--records 8] [--batch 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.node.generate.conftest import SEEDS, TINY_RECIPE  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for every path (1 avoids OpenMP oversubscription on a shared CPU)")
    ap.add_argument("--batching", action="store_true", help="compare static and continuous batching on the demo recipes")
    ap.add_argument("--records", type=int, default=8, help="--batching: records per run and recipe (--limit)")
    a = ap.parse_args()
    if a.batching:
        batching_benchmark(a)
        return

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


def batching_benchmark(a: argparse.Namespace) -> None:
    """Static vs continuous batching: full runs of the demo's two plans (its recipes, seeds and
    ja_JP personas, as `synthspace demo` runs them), alternating the schedule per round."""
    import torch

    from synthspace.demo.plans import ORGS, demo_recipe
    from synthspace.node.generate import get_backend, run_generation
    from synthspace.node.personas.persona_sets import create_persona_set

    torch.set_num_threads(a.threads)
    backends = {b: get_backend("transformers", device="cpu", batch_size=a.batch, threads=a.threads, batching=b)
                for b in ("static", "continuous")}
    backends["static"].load()
    backends["continuous"]._model, backends["continuous"]._tok = backends["static"].load()  # one copy of the weights
    tmpd = tempfile.TemporaryDirectory()
    tmp = Path(tmpd.name)
    # (seconds, CPU seconds, records, tokens, retries, dropped) per run
    rows: dict[tuple[str, str], list[tuple[float, float, int, int, int, int]]] = {}
    for plan in ORGS:
        name = plan.recipe.stem
        personas = tmp / f"{plan.org}-personas.parquet"
        create_persona_set("ja_JP", max(8, a.records), personas, seed=plan.persona_seed)  # as the demo does
        for r in range(a.rounds):
            recipe = demo_recipe(plan, tmp / f"{name}-{r}.yaml", sampling_seed_offset=r)
            for b in (("static", "continuous") if r % 2 == 0 else ("continuous", "static")):
                out = tmp / f"{name}-{b}-{r}"
                t0, c0 = time.perf_counter(), time.process_time()
                m = run_generation(recipe, plan.seeds, out, personas=personas,
                                   backend=backends[b], limit=a.records, home=tmp / "home")
                dt, cpu = time.perf_counter() - t0, time.process_time() - c0
                rows.setdefault((name, b), []).append((dt, cpu, m.completed, m.completion_tokens, m.retries, m.dropped_total))
                print(f"{name} {b} round {r} (sampling seed +{1000 * r}): {dt:.1f} s, CPU {cpu:.1f} s, {m.completed} records, "
                      f"{m.completion_tokens} tokens, {m.retries} retries, {m.dropped_total} dropped", file=sys.stderr)
    tmpd.cleanup()
    print(f"\n--records {a.records} (the run plans overgenerate x1.7), slots/batch {a.batch}, torch threads {a.threads}, "
          f"{a.rounds} alternating rounds (round r: sampling seed + 1000 r); all rounds together")
    print("| recipe | batching | records/s | tokens/s | CPU s per record | valid records | retries | dropped | "
          "continuous / static records/s | median of per-round ratios |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for plan in ORGS:
        name = plan.recipe.stem
        tot = {b: [sum(x[i] for x in rows[(name, b)]) for i in range(6)] for b in ("static", "continuous")}
        median = statistics.median(c[2] / c[0] / (s[2] / s[0]) for s, c in zip(rows[(name, "static")], rows[(name, "continuous")], strict=True))
        for b in ("static", "continuous"):
            dt, cpu, done, tokens, retries, dropped = tot[b]
            ratio = f"{(tot['continuous'][2] / tot['continuous'][0]) / (tot['static'][2] / tot['static'][0]):.2f}x" if b == "continuous" else ""
            med = f"{median:.2f}x" if b == "continuous" else ""
            print(f"| {name} | {b} | {done / dt:.3f} | {tokens / dt:.1f} | {cpu / max(done, 1):.2f} | {done} | {retries} | {dropped} | {ratio} | {med} |")


if __name__ == "__main__":
    main()
