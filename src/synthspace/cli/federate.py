"""`synthspace federate ...` commands, and `synthspace node join`.

Options are parsed here; the work is done by `synthspace.coordinator.federated.federation`
(SuperLink, key registry, runs) and `synthspace.node.federated.supernode` (joining).
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any

import typer

from synthspace.cli.eval import JUDGE_HELP, answer_judge
from synthspace.cli.node import app as node_app
from synthspace.federated_run_config import NodeTrainingOptions, ServerRunOptions

app = typer.Typer(no_args_is_help=True)

HOME_HELP = "Coordinator home (created by `synthspace coordinator init`)."
_SERVER = ServerRunOptions()  # option defaults come from the run config's one definition
_NODE = NodeTrainingOptions()


@app.callback()
def _group() -> None:
    """Federated LoRA fine-tuning with Flower (SuperLink, runs, status)."""


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class _Supervised:
    """SIGTERM becomes KeyboardInterrupt from the start, so a process started inside is always stopped."""

    def __enter__(self) -> _Supervised:
        self.previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        self.proc: Any = None
        return self

    def wait(self, proc: Any, what: str) -> None:
        """Block until Ctrl-C / SIGTERM or until the process dies."""
        from synthspace.cli.errors import fail

        self.proc = proc
        try:
            while proc.running():
                time.sleep(0.5)
        except KeyboardInterrupt:
            typer.echo(f"stopping {what} ...")
            return
        raise fail(f"{what} exited with code {proc.process.returncode}; see {proc.log_path}")

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        try:
            if self.proc is not None:
                self.proc.stop()
        finally:
            signal.signal(signal.SIGTERM, self.previous)
        return exc_type is KeyboardInterrupt  # interrupted while starting: stopped, exit 0


@app.command("superlink")
def superlink(
    home: Path = typer.Option(..., "--home", help=HOME_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (0.0.0.0 for other hosts)."),
    port: int = typer.Option(9092, "--port", help="Port of the Fleet, Control and Runtime APIs."),
    server_name: list[str] = typer.Option(
        [], "--server-name", help="Extra DNS name or IP for the TLS certificate (repeatable)."
    ),
) -> None:
    """Start Flower's SuperLink with TLS and SuperNode authentication; runs until Ctrl-C."""
    from synthspace.coordinator.federated.federation import load_registry, start_superlink
    from synthspace.coordinator.federated.pki import TLSFiles

    with _Supervised() as supervised:
        link = start_superlink(home, host=host, port=port, server_names=tuple(server_name))
        supervised.proc = link
        fed = Path(home).expanduser().resolve() / "federation" / "ca"
        tls = TLSFiles(fed / "ca.crt", fed / "superlink.crt", fed / "superlink.key")
        typer.echo(f"SuperLink running on {link.address} (pid {link.pid}), TLS + SuperNode authentication")
        typer.echo(f"federation CA certificate: {tls.ca_cert}  sha256 {tls.ca_fingerprint()}")
        orgs = sorted({v["org"] for v in load_registry(home).values()})
        typer.echo(f"registered SuperNodes: {', '.join(orgs) or 'none yet (enrol nodes with a SuperNode key)'}")
        supervised.wait(link, "SuperLink")


@app.command("sync-keys")
def sync_keys(home: Path = typer.Option(..., "--home", help=HOME_HELP)) -> None:
    """Register enrolled SuperNode keys with the running SuperLink (and drop revoked ones)."""
    from synthspace.coordinator.federated.federation import sync_supernode_keys

    report = sync_supernode_keys(home)
    typer.echo(
        f"registered: {', '.join(report.registered) or '-'}; unchanged: {', '.join(report.unchanged) or '-'}; "
        f"unregistered: {', '.join(report.unregistered) or '-'}"
    )
    if report.errors:
        from synthspace.cli.errors import fail

        raise fail("; ".join(report.errors))


@app.command("run")
def run(
    home: Path = typer.Option(..., "--home", help=HOME_HELP),
    rounds: int = typer.Option(_SERVER.rounds, "--rounds", help="Federated rounds."),
    min_nodes: int = typer.Option(_SERVER.min_nodes, "--min-nodes", help="Fewest nodes that must reply in every round."),
    strategy: str = typer.Option(_SERVER.strategy, "--strategy", help="fedavg, fedprox or fedadam."),
    proximal_mu: float = typer.Option(_SERVER.proximal_mu, "--proximal-mu", help="FedProx proximal term."),
    local_steps: int = typer.Option(_NODE.local_steps, "--local-steps", help="Optimizer steps per node per round."),
    batch_size: int = typer.Option(_NODE.batch_size, "--batch-size", help="Examples per step."),
    lr: float = typer.Option(_NODE.lr, "--lr", help="Local learning rate (AdamW)."),
    max_seq_len: int = typer.Option(_NODE.max_seq_len, "--max-seq-len", help="Tokens per example (truncated)."),
    base_model: str = typer.Option(_NODE.base_model, "--base-model", help="'embedded' or a model folder present on every node."),
    lora_rank: int = typer.Option(_NODE.lora_rank, "--lora-rank", help="LoRA rank (q_proj, v_proj)."),
    round_timeout: float = typer.Option(_SERVER.round_timeout, "--round-timeout", help="Seconds to wait for a round's replies."),
    start_timeout: float = typer.Option(_SERVER.start_timeout, "--start-timeout", help="Seconds to wait for min-nodes to be online."),
    evaluate: str = typer.Option(_SERVER.evaluate, "--evaluate", help="final, every or none."),
    dp_noise: float = typer.Option(_SERVER.dp_noise_multiplier, "--dp-noise", help="Server-side DP noise multiplier (0 = off)."),
    dp_clip: float = typer.Option(_SERVER.dp_clipping_norm, "--dp-clip", help="Server-side DP clipping norm."),
    dp_delta: float = typer.Option(_SERVER.dp_delta, "--dp-delta", help="Delta of the (epsilon, delta) the accountant reports."),
    secure_aggregation: bool = typer.Option(
        _SERVER.secure_aggregation, "--secure-aggregation", help="Flower SecAgg+: the coordinator learns only the average of the updates."
    ),
    publish: bool = typer.Option(_SERVER.publish, "--publish/--no-publish", help="Publish the adapter to the catalog."),
    title: str = typer.Option(_SERVER.title, "--title", help="Catalog title of the adapter."),
    timeout: float | None = typer.Option(None, "--timeout", help="Stop the run after this many seconds."),
    benchmark: Path | None = typer.Option(
        None, "--benchmark",
        help="Evaluate the published adapter on this benchmark JSONL (base vs adapter) and publish the signed "
        "evaluation, as the node --eval-home (see docs/federation.md).",
    ),
    eval_home: Path | None = typer.Option(
        None, "--eval-home", help="Node home that evaluates and signs (default: $SYNTHSPACE_HOME, else ~/.synthspace/node)."
    ),
    eval_out: Path | None = typer.Option(
        None, "--eval-out", help="Folder for the evaluation's results (default: EVAL_HOME/evaluations/<adapter id>)."
    ),
    eval_threads: int | None = typer.Option(None, "--eval-threads", min=1, help="CPU threads for scoring."),
    judge_backend: str | None = typer.Option(None, "--judge-backend", help=JUDGE_HELP["backend"]),
    judge_model: str | None = typer.Option(None, "--judge-model", help=JUDGE_HELP["model"]),
    judge_base_url: str | None = typer.Option(None, "--judge-base-url", help=JUDGE_HELP["base_url"]),
    judge_min_score: int = typer.Option(4, "--judge-min-score", min=1, max=5, help=JUDGE_HELP["min_score"]),
) -> None:
    """Start a federated LoRA run on the SuperLink and stream its progress; with --benchmark,
    evaluate the published adapter and publish the evaluation."""
    from rich.console import Console

    from synthspace.cli.errors import fail
    from synthspace.coordinator.federated.federation import RunEvent, RunOptions, run_federation
    from synthspace.errors import SynthspaceError

    judge = None
    if benchmark is not None:  # checked before the run starts, not after an hour of training
        from synthspace.node.cli_support import open_home
        from synthspace.node.evaluation.benchmark import BenchmarkError
        from synthspace.node.evaluation.run import check_benchmark

        judge = answer_judge(judge_backend, judge_model, judge_base_url, judge_min_score)
        try:
            check_benchmark(benchmark, judge)
            open_home(eval_home).config()
        except SynthspaceError as exc:
            raise fail(str(exc), 2 if isinstance(exc, BenchmarkError) else 1) from None
    elif eval_home is not None or eval_out is not None or judge_backend is not None:
        raise fail("--eval-home, --eval-out and --judge-* need --benchmark", 2)

    options = RunOptions(
        rounds=rounds, min_nodes=min_nodes, strategy=strategy, proximal_mu=proximal_mu,
        local_steps=local_steps, batch_size=batch_size, lr=lr, max_seq_len=max_seq_len,
        base_model=base_model, lora_rank=lora_rank, lora_alpha=2 * lora_rank,
        round_timeout=round_timeout, start_timeout=start_timeout, evaluate=evaluate,
        dp_noise_multiplier=dp_noise, dp_clipping_norm=dp_clip, dp_delta=dp_delta, secure_aggregation=secure_aggregation, publish=publish, title=title,
        benchmark=str(benchmark) if benchmark is not None else "",
    )  # fmt: skip
    console = Console(stderr=True)
    status = console.status(f"submitting run ({rounds} rounds, {strategy})")
    status.start()

    def on_event(event: RunEvent) -> None:
        if event.kind == "round":
            console.print(event.message)
        elif event.kind == "status":
            status.update(f"run {event.run_id}: {event.status}")

    try:
        record = run_federation(home, options, on_event=on_event, timeout=timeout)
    finally:
        status.stop()
    typer.echo(f"run {record['run_id']} completed: {record['status_detail']}")
    if record.get("artifact_id"):
        typer.echo(f"adapter artifact {record['artifact_id']} (log index {record['log_index']})")
    if benchmark is not None:
        _evaluate_run_adapter(record, benchmark, base_model, eval_home, eval_out, eval_threads, judge, console)


def _evaluate_run_adapter(
    record: dict[str, Any], benchmark: Path, base_model: str, eval_home: Path | None, eval_out: Path | None,
    threads: int | None, judge: Any, console: Any,
) -> None:
    """The node at `eval_home` scores the run's published adapter and publishes the evaluation."""
    from synthspace.cli.errors import fail
    from synthspace.errors import SynthspaceError
    from synthspace.node.evaluation.run import evaluate_published_adapter

    artifact_id = record.get("artifact_id")
    if not artifact_id:
        raise fail(f"run {record['run_id']} published no adapter, so there is nothing to evaluate")
    command = ["eval", "--benchmark", str(benchmark), "--model", base_model, "--adapter", artifact_id,
               "--compare-base", "--publish"]  # fmt: skip
    try:
        with console.status(f"evaluating adapter {artifact_id[:16]}… on {benchmark.name} (base vs adapter)"):
            result = evaluate_published_adapter(
                benchmark, artifact_id, home=eval_home, command=command, model_name=base_model, out=eval_out,
                judge=judge, threads=threads,
            )  # fmt: skip
    except SynthspaceError as exc:
        raise fail(f"run {record['run_id']} completed and its adapter {artifact_id} is published, "
                   f"but its evaluation failed: {exc}") from None  # fmt: skip
    assert result.published is not None
    m, d = result.summary["metrics"], result.summary["delta"]
    typer.echo(
        f"evaluation {result.published.artifact_id} (log index {result.published.log_index}): {benchmark.name}, "
        f"base {100 * m['base']['accuracy']:.1f}%, adapter {100 * m['adapter']['accuracy']:.1f}%, "
        f"delta {100 * d['adapter_minus_base']:+.1f} points (95% CI {100 * d['ci95'][0]:+.1f} to {100 * d['ci95'][1]:+.1f})"
    )


def _privacy_cell(final_metrics: dict[str, Any]) -> str:
    """`ε=… (δ=…)` when the run was accounted, `no DP` otherwise; canary exposure when measured."""
    parts = []
    if "privacy/epsilon" in final_metrics:
        parts.append(f"ε={final_metrics['privacy/epsilon']:.3g} (δ={final_metrics['privacy/delta']:.0e})")
    else:
        parts.append("no DP")
    if "privacy/secure-aggregation" in final_metrics:
        parts.append("SecAgg+")
    exposures = [v for k, v in final_metrics.items() if k.startswith("privacy/canary-exposure/")]
    if exposures:
        parts.append(f"canary exposure ≤ {max(exposures):.2f} bits")
    return "; ".join(parts)


@app.command("status")
def status(
    home: Path = typer.Option(..., "--home", help=HOME_HELP),
    run_id: int | None = typer.Argument(None, help="Show one run with its rounds."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List federated runs and their metrics."""
    from rich.console import Console
    from rich.table import Table

    from synthspace.coordinator.federated.federation import federation_status

    runs = federation_status(home, run_id)
    if as_json:
        typer.echo(json.dumps(runs if run_id is None else runs[0], indent=2))
        return
    table = Table("run", "status", "strategy", "rounds", "participants", "train-loss", "eval-loss", "privacy", "artifact")
    for r in runs:
        fm = r["final_metrics"]
        table.add_row(
            r["run_id"], r["status"], r["strategy"], f"{r['rounds_completed']}/{r['rounds_requested']}",
            ", ".join(r["participants"]), f"{fm.get('train/train-loss', float('nan')):.4f}",
            f"{fm.get('eval/eval-loss', float('nan')):.4f}", _privacy_cell(fm), (r["artifact_id"] or "")[:16],
        )  # fmt: skip
    console = Console()
    console.print(table)
    if run_id is not None:
        r = runs[0]
        console.print(f"status detail: {r['status_detail']}")
        for rd in r["rounds"]:
            console.print(f"  {rd['kind']:<8} {rd['round']:>3}  {rd['replies']} replies  {rd['metrics']}  {rd['errors'] or ''}")


@node_app.command("join")
def join(
    home: Path = typer.Option(..., "--home", help="Node home (created by `synthspace node init`)."),
    superlink: str | None = typer.Option(None, "--superlink", help="SuperLink address HOST:PORT."),
    ca_cert: Path | None = typer.Option(None, "--ca-cert", help="Federation CA certificate (PEM) from the operator."),
    data: list[Path] | None = typer.Option(
        None, "--data", help="Training data: run dir, artifact bundle or .parquet (repeatable)."
    ),
    held_out_percent: int | None = typer.Option(None, "--held-out-percent", help="Share of records held out for evaluation."),
    max_examples: int | None = typer.Option(None, "--max-examples", help="Cap on examples used per round."),
    torch_threads: int | None = typer.Option(None, "--torch-threads", help="CPU threads per training process."),
    canaries: int | None = typer.Option(
        None, "--canaries", help="Plant N Secret Sharer canaries in this node's training data; exposure is reported after the run."
    ),
) -> None:
    """Start this org's Flower SuperNode (TLS, key auth) and keep it in the federation until Ctrl-C."""
    from synthspace.node.federated.supernode import join as join_federation

    with _Supervised() as supervised:
        sn = join_federation(
            home, superlink=superlink, ca_cert=ca_cert, data=[str(d) for d in data] if data else None,
            held_out_percent=held_out_percent, max_examples=max_examples, torch_threads=torch_threads,
            canaries=canaries,
        )  # fmt: skip
        supervised.proc = sn
        typer.echo(f"org {sn.org} joined as SuperNode {sn.node_id} (pid {sn.pid}); Ctrl-C leaves the federation")
        supervised.wait(sn, "SuperNode")
