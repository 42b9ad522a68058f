"""Federation benchmark: wall time per Flower round split into training and overhead, and
adapter bytes per round against the full model's weights.

Real deployment engine on 127.0.0.1: a SuperLink (TLS + SuperNode auth) and two SuperNodes as
processes, the embedded SmolLM2-135M-Instruct by default. For reference it also times the same
local steps in ONE process with the model loaded once (what a node would spend without Flower's
per-message ClientApp processes).

    python benchmarks/federation_rounds.py --rounds 2 --local-steps 4 [--base-model embedded] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd


def qa_rows(org: str, offset: int, n: int = 32) -> list[dict[str, str]]:
    return [
        {
            "record_id": f"{org}-{i}",
            "question": f"Which status code answers request number {offset + i}?",
            "answer": f"Status {200 + (offset + i) % 5}.",
            "persona_id": f"p{i % 4}",
        }
        for i in range(n)
    ]


def setup(root: Path) -> tuple[Path, dict[str, Path]]:
    """A coordinator home and two enrolled node homes (enrolled through the catalog services)."""
    from synthspace import keys
    from synthspace.coordinator.home import init_home
    from synthspace.coordinator.runtime import Coordinator
    from synthspace.coordinator.services.orgs import create_invite, enrol_org
    from synthspace.node.home import NodeHome

    coord_home = root / "coord"
    settings = init_home(coord_home, log_origin="bench.federation/log")
    data: dict[str, Path] = {}
    for i, org in enumerate(("org-a", "org-b")):
        home = NodeHome.init(root / org, org, "http://127.0.0.1:1")
        coord = Coordinator.open(settings, migrate=False, verify=False)
        try:
            with coord.session() as s:
                token, _ = create_invite(s, org, 3600)
                enrol_org(
                    s, coord.log, token=token, org=org,
                    artifact_public_key=keys.public_key_pem(home.artifact_key()),
                    request_public_key=keys.public_key_pem(home.request_key()),
                    supernode_public_key=home.supernode_public_key(),
                )  # fmt: skip
        finally:
            coord.close()
        path = root / f"{org}.parquet"
        pd.DataFrame(qa_rows(org, 100 * i)).to_parquet(path)
        data[org] = path
    return coord_home, data


def full_model_bytes(base_model: str) -> int:
    """Bytes of the base model's weights as fp32 tensors (what FedAvg over full weights sends)."""
    from safetensors import safe_open

    from synthspace.node.models.embedded import cached_model_dir

    folder = cached_model_dir() if base_model == "embedded" else Path(base_model)
    total = 0
    for f in sorted(folder.glob("*.safetensors")):
        with safe_open(str(f), framework="np") as st:
            for k in st.keys():
                t = st.get_slice(k)
                n = 1
                for d in t.get_shape():
                    n *= d
                total += n * 4
    return total


def local_reference(base_model: str, data: dict[str, Path], steps: int, batch: int, seq: int, rounds: int) -> dict[str, float]:
    """The same local steps for both orgs in one process, model loaded once."""
    from synthspace.node.federated.lora import (
        LoraSettings,
        attach_lora,
        load_base_model,
        train_steps,
    )
    from synthspace.node.federated.training_data import load_training_data

    t0 = time.perf_counter()
    base = load_base_model(base_model)
    model = attach_lora(base.model, LoraSettings())
    load = time.perf_counter() - t0
    train = 0.0
    for _ in range(rounds):
        for org, path in data.items():
            td = load_training_data([str(path)])
            res = train_steps(model, base.tokenizer, td.train, steps=steps, batch_size=batch, lr=5e-4, max_len=seq, seed=hash(org) % 1000)
            train += res.seconds
    return {"load_seconds": load, "train_seconds": train}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--local-steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--max-seq-len", type=int, default=64)
    parser.add_argument("--base-model", default="embedded")
    parser.add_argument("--torch-threads", type=int, default=1, help="threads per ClientApp process")
    parser.add_argument("--no-reference", action="store_true", help="skip the one-process reference")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from synthspace.coordinator.federated.federation import (
        RunOptions,
        run_federation,
        start_superlink,
    )
    from synthspace.coordinator.federated.superlink import FlowerControl
    from synthspace.node.federated.supernode import free_port, join

    with tempfile.TemporaryDirectory(prefix="fedbench-") as tmp:
        root = Path(tmp)
        coord_home, data = setup(root)
        t0 = time.perf_counter()
        link = start_superlink(coord_home, port=free_port())
        superlink_start = time.perf_counter() - t0
        nodes = []
        try:
            t1 = time.perf_counter()
            for org, path in data.items():
                nodes.append(join(root / org, superlink=link.address, ca_cert=link.ca_cert, data=[str(path)], torch_threads=args.torch_threads))
            join_seconds = time.perf_counter() - t1
            options = RunOptions(
                rounds=args.rounds, local_steps=args.local_steps, batch_size=args.batch_size,
                max_seq_len=args.max_seq_len, base_model=args.base_model, evaluate="none", publish=False,
                round_timeout=1800, start_timeout=120,
            )  # fmt: skip
            t2 = time.perf_counter()
            record = run_federation(coord_home, options, on_event=lambda e: print(e.message, file=sys.stderr, flush=True))
            run_wall = time.perf_counter() - t2
            flower = FlowerControl(coord_home).run_info(int(record["run_id"]))
        finally:
            for n in nodes:
                n.stop()
            link.stop()
        reference = None
        if not args.no_reference:  # after the federation is down, so nothing competes for the CPU
            reference = local_reference(
                args.base_model, data, args.local_steps, args.batch_size, args.max_seq_len, args.rounds
            )

    rounds = []
    for r in record.get("rounds", []):
        if r["kind"] != "train":
            continue
        per = [e["metrics"] for e in r["per_org"].values()]
        train = max(m["train-seconds"] for m in per)
        load = max(m["load-seconds"] for m in per)
        clientapp = max(m["process-seconds"] for m in per)
        wall = r["wall_seconds"]
        rounds.append(
            {
                "round": r["round"],
                "wall_seconds": wall,
                "train_seconds": train,
                "clientapp_model_load_seconds": load,
                "clientapp_other_seconds": clientapp - load - train,
                "flower_overhead_seconds": wall - clientapp,
                "aggregate_seconds": r["aggregate_seconds"],
                "adapter_bytes_per_node": next(iter(r["per_org"].values()))["adapter_bytes"],
                "bytes_sent": r["bytes_sent"],
                "bytes_received": r["bytes_received"],
            }
        )
    model_bytes = full_model_bytes(args.base_model)
    adapter = rounds[0]["adapter_bytes_per_node"] if rounds else 0
    result: dict[str, Any] = {
        "base_model": args.base_model,
        "rounds": args.rounds,
        "local_steps": args.local_steps,
        "batch_size": args.batch_size,
        "max_seq_len": args.max_seq_len,
        "superlink_start_seconds": superlink_start,
        "join_two_nodes_seconds": join_seconds,
        "run_wall_seconds": run_wall,
        "per_round": rounds,
        "mean_round_wall_seconds": statistics.mean(r["wall_seconds"] for r in rounds),
        "mean_round_train_seconds": statistics.mean(r["train_seconds"] for r in rounds),
        "adapter_bytes": adapter,
        "full_model_fp32_bytes": model_bytes,
        "full_over_adapter": model_bytes / adapter if adapter else None,
        "flower_network_traffic": flower.get("network-traffic"),
        "flower_compute_time": flower.get("compute-time"),
    }
    result["one_process_reference"] = reference
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
