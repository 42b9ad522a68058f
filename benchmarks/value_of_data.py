"""Value of data, in miniature: does LoRA SFT on gated synthetic data move held-out accuracy?

The reference experiment of the project, at a size a laptop CPU finishes in about a quarter of an
hour with the bundled SmolLM2-135M-Instruct:

1. generate English Q&A records from the fictional statutes of
   src/synthspace/node/examples/en_legal_qa_seeds.jsonl (the demo's legal recipe, its leakage
   allow-list widened to these statutes) and run the node's gates; the records the gates keep are
   packaged exactly as `synthspace publish` packages them (run_packaging.package_run_data);
2. score, with `synthspace eval`'s scoring (option log-likelihoods, Wilson 95% intervals), the
   held-out statute benchmarks (node/examples/benchmarks/{en,ja}_statutes.jsonl; no item is a
   training text) for:
   - base: the model as shipped;
   - seeds: LoRA SFT on the seed file's own example Q&A alone;
   - synthetic: LoRA SFT on the gated synthetic records (one node);
   - federated: the same records split between two nodes by statute, FedAvg of the LoRA adapters
     over --rounds rounds, in one process (the node's train_steps and pack/unpack_adapter; the
     weighted mean is the rule Flower's FedAvg applies in `synthspace federate`);
   every SFT condition gets the same number of optimiser steps, batch size and learning rate.

    python benchmarks/value_of_data.py --records 40 --steps 60 --rounds 3 --json value.json

Writes a JSON result (--json) and prints a Markdown table (docs/benchmarks.md quotes one; that
run took 19.5 min on a shared 2-core CPU: 6 min generating 68 records, 1-1.5 min per scoring of
both benchmarks, 2-4.5 min per SFT condition).
"""

from __future__ import annotations

import argparse
import gc
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "src/synthspace/node/examples"
SEEDS = EXAMPLES / "en_legal_qa_seeds.jsonl"
DEMO_RECIPE = ROOT / "src/synthspace/demo/recipes/legal_en.yaml"

# Law-name prefixes of the first node in the federated split; the second node holds the rest.
NODE_A_LAWS = (
    "Fictional Citizen Data Handling Ordinance",
    "Fictional E-Scooter Traffic Act",
    "Fictional Vacant House Management Act",
    "Fictional Pet-Friendly Housing Act",
)


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load_seeds(path: Path = SEEDS) -> list[dict[str, str]]:
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def recipe_for(seeds: list[dict[str, str]], out: Path, sampling_seed: int) -> Path:
    """The demo's legal recipe for these seeds: their statutes and article texts are the public
    law the answers cite (leakage allow-list), law names may hold a hyphen, and the sampling seed
    is ours. Written to `out` so the run's lineage records exactly this recipe."""
    import yaml

    from synthspace.node.recipes.loading import load_recipe
    from synthspace.node.recipes.models import Recipe

    data = load_recipe(DEMO_RECIPE).model_dump(mode="json", exclude_none=True)
    data["sampling"]["seed"] = sampling_seed
    data["gates"]["leakage"]["allowlist"] = [s["statute"] for s in seeds] + [
        s["article_text"] for s in seeds
    ]
    for field in data["output_fields"]:
        if field["name"] == "cited_article":
            field["pattern"] = "^Fictional [A-Za-z -]{4,60}, Article [0-9]{1,2}$"
    Recipe.model_validate(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


def generate_gated(work: Path, records: int, threads: int, sampling_seed: int) -> dict[str, Any]:
    """Generate `records` (the recipe overgenerates for the gates), gate, package the kept ones."""
    from synthspace.node.gates import run_gates
    from synthspace.node.generate import run_generation
    from synthspace.node.generate.backends import get_backend
    from synthspace.node.run_packaging import package_run_data

    seeds = load_seeds()
    recipe = recipe_for(seeds, work / "recipe.yaml", sampling_seed)
    home = work / "home"
    run_dir = work / "run"
    backend = get_backend("transformers", device="cpu", batch_size=8, threads=threads)
    t0 = time.perf_counter()
    last = [0.0]

    def progress(event: Any) -> None:
        now = time.perf_counter()
        if now - last[0] > 20:
            last[0] = now
            say(f"generating: {event.completed}/{event.requested} records, {event.dropped} dropped ({now - t0:.0f} s)")

    manifest = run_generation(
        recipe, SEEDS, run_dir, backend=backend, limit=records, home=home, flush_interval=5.0,
        progress=progress,
    )  # fmt: skip
    gen_seconds = time.perf_counter() - t0
    say(f"generated {manifest.completed}/{manifest.requested} records in {gen_seconds:.0f} s")
    del backend
    gc.collect()
    t1 = time.perf_counter()
    report = run_gates(run_dir, home=home)
    redacted = None
    if report.redaction is not None:
        from synthspace.node.gates.redaction import load_redactions

        redacted = load_redactions(run_dir, report.redactions_sha256 or "", report.redaction.records)
    data = work / "kept.parquet"
    kept = package_run_data(
        run_dir, data, exclude_record_ids=report.exclude_record_ids, redacted=redacted
    )
    verdicts = {g.name: ("pass" if g.passed else ("FAIL" if g.blocking else "warn")) for g in report.gates}
    say(f"gates: {verdicts}; kept {kept} records; dropped {dict(report.dropped_by_reason)}")
    return {
        "data": data,
        "generated": manifest.completed,
        "requested": manifest.requested,
        "kept": kept,
        "gates_passed": report.passed,
        "gates": verdicts,
        "dropped_by_reason": dict(report.dropped_by_reason),
        "generation_seconds": round(gen_seconds, 1),
        "gate_seconds": round(time.perf_counter() - t1, 1),
    }


def seed_examples(seeds: list[dict[str, str]]) -> list[Any]:
    """The seeds as a node would train on them: their example question/answer pairs."""
    import pandas as pd

    from synthspace.node.federated.training_data import record_examples

    return record_examples(pd.DataFrame(seeds))


def parquet_examples(path: Path) -> tuple[list[Any], Any]:
    from synthspace.node.federated.training_data import read_source, record_examples

    frame, _ = read_source(path)
    return record_examples(frame), frame


def split_by_law(frame: Any) -> tuple[list[Any], list[Any]]:
    """Two nodes' shares of the synthetic records: node A the records citing NODE_A_LAWS."""
    from synthspace.node.federated.training_data import record_examples

    if "cited_article" not in frame.columns:
        half = len(frame) // 2
        return record_examples(frame.iloc[:half]), record_examples(frame.iloc[half:])
    mask = frame["cited_article"].astype(str).str.startswith(NODE_A_LAWS)
    a, b = frame[mask], frame[~mask]
    if len(a) == 0 or len(b) == 0:  # one law family only: alternate records instead
        a, b = frame.iloc[::2], frame.iloc[1::2]
    return record_examples(a), record_examples(b)


def fedavg(states: list[dict[str, Any]], weights: list[int]) -> dict[str, Any]:
    """Example-weighted mean of adapter states (FedAvg) over the packed flat vectors."""
    import torch

    from synthspace.node.federated.lora import pack_adapter, unpack_adapter

    packed = [pack_adapter(s) for s in states]
    layout = packed[0][1]
    total = float(sum(weights))
    mean = sum(flat * (w / total) for (flat, _), w in zip(packed, weights, strict=True))
    return {k: torch.as_tensor(v) for k, v in unpack_adapter(mean, layout).items()}


def format_table(result: dict[str, Any]) -> str:
    """Markdown: one row per condition, one accuracy column per benchmark."""
    langs = list(result["benchmarks"])
    head = "| condition | training examples | steps | " + " | ".join(
        f"{lang} accuracy (95% CI), n={result['benchmarks'][lang]['items']}" for lang in langs
    ) + " |"
    sep = "|" + "---|" * (3 + len(langs))
    rows = [head, sep]
    for cond in result["conditions"]:
        cells = []
        for lang in langs:
            m = cond["metrics"][lang]
            low, high = m["ci95"]
            delta = cond.get("delta_vs_base", {}).get(lang)
            d = "" if delta is None else f"; Δ {delta['mean']:+.3f} [{delta['ci95'][0]:+.2f}, {delta['ci95'][1]:+.2f}]"
            cells.append(f"{m['correct']}/{m['items']} = {m['accuracy']:.3f} [{low:.3f}, {high:.3f}]{d}")
        steps = "–" if cond["steps"] is None else str(cond["steps"])
        ex = "–" if cond["examples"] is None else str(cond["examples"])
        rows.append(f"| {cond['name']} | {ex} | {steps} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def run(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    import torch

    from synthspace.node.evaluation.benchmark import file_digest, load_benchmark, shipped_benchmark
    from synthspace.node.evaluation.scoring import evaluate
    from synthspace.node.evaluation.stats import paired_delta_interval
    from synthspace.node.federated.lora import (
        LoraSettings,
        adapter_state,
        attach_lora,
        load_adapter_state,
        load_base_model,
        train_steps,
    )

    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    langs = [x for x in args.langs.split(",") if x]
    benches = {}
    for lang in langs:
        path = shipped_benchmark(f"{lang}_statutes")
        items = load_benchmark(path)
        benches[lang] = (path, items[: args.items] if args.items else items)

    seeds = load_seeds()
    with tempfile.TemporaryDirectory(prefix="value-of-data-") as tmp:
        work = Path(args.workdir) if args.workdir else Path(tmp)
        if args.synthetic_data:
            say(f"using the synthetic records of {args.synthetic_data} (no generation)")
            synth: dict[str, Any] = {"data": Path(args.synthetic_data), "generated": None, "kept": None}
        else:
            say(f"generating {args.records} records from {len(seeds)} seed articles, then gating")
            synth = generate_gated(work, args.records, args.threads, args.sampling_seed)
        synth_examples, frame = parquet_examples(Path(synth["data"]))
        node_a, node_b = split_by_law(frame)
        synth["kept"] = len(frame)
        if not synth_examples:
            raise SystemExit(f"no usable synthetic record in {synth['data']}: generate more (--records)")
        samples = [
            {k: v for k, v in r.items() if k in ("question", "answer", "cited_article")}
            for r in frame.head(3).to_dict(orient="records")
        ]

        say("loading the base model")
        base = load_base_model(args.base_model)
        settings = LoraSettings(rank=args.rank, alpha=2 * args.rank, seed=args.seed)

        def score(model: Any, label: str) -> dict[str, Any]:
            out = {}
            for lang, (_path, items) in benches.items():
                t = time.perf_counter()
                res = evaluate(model, base.tokenizer, items, label=label, batch_size=args.eval_batch_size)
                out[lang] = res
                m = res.metrics()
                say(f"{label} on {lang}: {m['correct']}/{m['items']} ({time.perf_counter() - t:.0f} s)")
            return out

        conditions: list[dict[str, Any]] = []
        say("scoring the base model")
        base_runs = score(base.model, "base")
        conditions.append({"name": "base", "examples": None, "steps": None, "runs": base_runs})

        model = attach_lora(base.model, settings)
        init = adapter_state(model)
        train = {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
                 "max_len": args.max_seq_len}  # fmt: skip

        def sft(name: str, examples: list[Any]) -> None:
            load_adapter_state(model, init)
            say(f"SFT '{name}': {args.steps} steps on {len(examples)} examples")
            res = train_steps(
                model, base.tokenizer, examples, steps=args.steps, batch_size=args.batch_size,
                lr=args.lr, max_len=args.max_seq_len, seed=args.seed,
            )  # fmt: skip
            conditions.append({
                "name": name, "examples": len(examples), "steps": args.steps,
                "loss_first": res.losses[0], "loss_last": res.losses[-1],
                "train_seconds": round(res.seconds, 1), "runs": score(model, name),
            })  # fmt: skip

        sft("seeds only", seed_examples(seeds))
        sft("gated synthetic (one node)", synth_examples)
        if args.rounds > 0 and node_a and node_b:
            local = max(1, args.steps // (2 * args.rounds))
            say(f"federated: {args.rounds} rounds x {local} local steps, nodes of {len(node_a)} and {len(node_b)} examples")
            global_state = init
            t = time.perf_counter()
            losses: list[float] = []
            for rnd in range(1, args.rounds + 1):
                states, weights = [], []
                for i, examples in enumerate((node_a, node_b)):
                    load_adapter_state(model, global_state)
                    res = train_steps(
                        model, base.tokenizer, examples, steps=local, batch_size=args.batch_size,
                        lr=args.lr, max_len=args.max_seq_len, seed=args.seed + 1000 * rnd + i,
                    )  # fmt: skip
                    losses += res.losses
                    states.append(adapter_state(model))
                    weights.append(len(examples))
                global_state = fedavg(states, weights)
                say(f"round {rnd}: aggregated")
            load_adapter_state(model, global_state)
            conditions.append({
                "name": f"gated synthetic, federated (2 nodes, {args.rounds} rounds)",
                "examples": len(node_a) + len(node_b), "steps": 2 * args.rounds * local,
                "node_examples": [len(node_a), len(node_b)], "local_steps": local,
                "loss_first": losses[0], "loss_last": losses[-1],
                "train_seconds": round(time.perf_counter() - t, 1), "runs": score(model, "federated"),
            })  # fmt: skip

    for cond in conditions:
        runs = cond.pop("runs")
        cond["metrics"] = {lang: r.metrics() for lang, r in runs.items()}
        if cond["name"] != "base":
            cond["delta_vs_base"] = {}
            for lang, r in runs.items():
                mean, low, high = paired_delta_interval(
                    [x.correct for x in base_runs[lang].items], [x.correct for x in r.items]
                )
                cond["delta_vs_base"][lang] = {"mean": mean, "ci95": [low, high]}
    result: dict[str, Any] = {
        "command": shlex.join(["python", "benchmarks/value_of_data.py", *argv]),
        "model": {"id": base.model_id, "digest": base.digest},
        "benchmarks": {
            lang: {"name": path.name, "digest": file_digest(path), "items": len(items)}
            for lang, (path, items) in benches.items()
        },
        "seeds": {"path": str(SEEDS.relative_to(ROOT)), "articles": len(seeds)},
        "synthetic": {k: (str(v) if isinstance(v, Path) else v) for k, v in synth.items()},
        "synthetic_samples": samples,
        "lora": {"rank": settings.rank, "alpha": settings.alpha, "targets": list(settings.targets)},
        "training": train,
        "threads": args.threads,
        "conditions": conditions,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    result["table"] = format_table(result)
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=40, help="synthetic records wanted (the recipe overgenerates 1.7x for the gates)")
    p.add_argument("--synthetic-data", default=None, help="a Parquet of records to use instead of generating")
    p.add_argument("--steps", type=int, default=60, help="optimiser steps of every SFT condition")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--rank", type=int, default=4, help="LoRA rank (alpha = 2 x rank)")
    p.add_argument("--max-seq-len", type=int, default=256)
    p.add_argument("--rounds", type=int, default=3, help="federated rounds (0: skip the federated condition)")
    p.add_argument("--langs", default="en,ja", help="benchmarks to score: en, ja or both")
    p.add_argument("--items", type=int, default=0, help="score only the first N items of each benchmark (0: all)")
    p.add_argument("--eval-batch-size", type=int, default=32)
    p.add_argument("--base-model", default="embedded")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sampling-seed", type=int, default=2026)
    p.add_argument("--workdir", default=None, help="keep the run here instead of a temporary folder")
    p.add_argument("--json", type=Path, default=None)
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    result = run(args, argv)
    print(result["table"])
    print(f"\nwall {result['wall_seconds']} s; {result['command']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
