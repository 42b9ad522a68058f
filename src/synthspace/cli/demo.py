"""`synthspace demo`: the whole data space end to end on one machine (options and output only;
the steps are in `synthspace.demo`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from synthspace.demo import DemoSummary


def _short(value: str, n: int = 16) -> str:
    return value[:n] + "…" if len(value) > n else value


def _verdict(ok: bool) -> str:
    return "[green]✓ verified[/green]" if ok else "[red]✗ FAILED[/red]"


def _print_summary(summary: DemoSummary) -> None:
    from rich.console import Console, Group
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    console = Console()

    def grid(title: str) -> Table:
        t = Table(show_header=False, box=None, title=title, title_justify="left", title_style="bold")
        t.add_column(style="cyan", no_wrap=True)
        t.add_column(overflow="fold")
        return t

    items: list[object] = []
    for o in summary.orgs:
        t = grid(f"{o.org}: published dataset")
        gates = "[green]all blocking gates passed[/green]" if o.gates_passed else "[red]gates FAILED[/red]"
        t.add_row("artifact", f"{o.artifact_id} (log index {o.log_index})")
        t.add_row("records", f"{o.records} from {o.recipe} + {o.personas} ja_JP personas; {gates}")
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(o.gate_dropped.items())) or "none"
        t.add_row("filtered", f"kept {o.records} of {o.generated} generated; dropped by reason: {dropped}")
        if o.blocked_runs:
            t.add_row("refused runs", "; ".join(", ".join(b["failed"]) for b in o.blocked_runs) + " (kept on the node)")
        for i, rec in enumerate(o.samples, 1):
            t.add_row(f"sample {i}", escape(json.dumps(rec, ensure_ascii=False)))
        t.add_row("data file", o.data_path)
        t.add_row("node home", o.home)
        items.append(t)
    pulls = grid("pulled and audited: each org verifies the other's artifact")
    for p in summary.pulls:
        audit = _verdict(p.audit_ok) + ("" if p.audit_ok else f" at {p.first_failure}")
        pulls.add_row(p.by, f"{audit} {_short(p.artifact_id)} from {p.publisher} -> {p.bundle_dir}")
    items.append(pulls)
    f = summary.federation
    if f is not None:
        fed = grid("federated LoRA fine-tune (Flower SuperLink + 2 SuperNodes)")
        loss = f.final_metrics.get("train/train-loss", f.final_metrics.get("train-loss"))
        fed.add_row("run", f"{f.run_id}: {f.status}, {f.rounds} rounds, participants {', '.join(f.participants)}")
        if loss is not None:
            fed.add_row("final train loss", f"{loss:.4f}")
        fed.add_row("adapter artifact", f"{f.artifact_id} (log index {f.log_index})")
        fed.add_row("adapter file", f.adapter_path)
        fed.add_row("lineage parents", ", ".join(_short(p) for p in f.parents) or "-")
        fed.add_row("adapter audit", _verdict(f.audit_ok) + " (signature, log inclusion, lineage walk)")
        items.append(fed)
    e = summary.evaluation
    if e is not None:

        def pct(x: float) -> str:
            return f"{100 * x:.1f}%"

        ev = grid(f"evaluation: the adapter vs the base model on {e.benchmark} ({e.items} items)")
        ev.add_row("base model", f"{pct(e.base_accuracy)} (95% CI {pct(e.base_ci95[0])}-{pct(e.base_ci95[1])})")
        ev.add_row("with adapter", f"{pct(e.adapter_accuracy)} (95% CI {pct(e.adapter_ci95[0])}-{pct(e.adapter_ci95[1])})")
        ev.add_row(
            "delta",
            f"{100 * e.delta:+.1f} points (95% CI {100 * e.delta_ci95[0]:+.1f} to {100 * e.delta_ci95[1]:+.1f}); "
            "a demo-sized fine-tune is not expected to help, no improvement is claimed",
        )
        ev.add_row("evaluation artifact", f"{e.artifact_id} (log index {e.log_index}), published by {e.org}")
        ev.add_row("evaluation audit", _verdict(e.audit_ok) + " (signature, log inclusion, lineage to the adapter)")
        items.append(ev)
    where = grid("where everything is")
    where.add_row("web catalog", f"[link={summary.web_catalog_url}]{summary.web_catalog_url}[/link]")
    where.add_row("coordinator", f"{summary.coordinator_url}  (home {summary.coordinator_home})")
    where.add_row("database", summary.database_url)
    where.add_row("transparency log", f"{summary.log_size} entries; signed checkpoint {summary.checkpoint_path}")
    where.add_row("log verifier key", summary.log_verifier_key)
    where.add_row("work dir", summary.workdir)
    if summary.kept_running:
        running = ", ".join(f"{p.name} (pid {p.pid})" for p in summary.processes)
        where.add_row("still running", running)
        where.add_row("stop them with", summary.stop_command)
    else:
        where.add_row("processes", f"all {len(summary.processes)} stopped (coordinator, SuperLink, SuperNodes)")
    where.add_row("wall time", f"{summary.wall_seconds:.0f} s ({summary.wall_seconds / 60:.1f} min)")
    items.append(where)
    console.print(Panel(Group(*items), title="synthspace demo: done", border_style="green"))  # type: ignore[arg-type]
    if not summary.kept_running:
        console.print(
            "The catalog was served only while the demo ran; rerun with --keep-running to browse "
            f"{summary.web_catalog_url}"
        )


def register(app: typer.Typer) -> None:
    """Add the `demo` command to the root app."""

    @app.command("demo")
    def _demo(
        workdir: Path = typer.Option(Path("demo-out"), "--workdir", help="Work directory (wiped at start unless --keep-workdir)."),
        records: int | None = typer.Option(None, "--records", min=1, help="Records each org generates (default 8; 3 with --small)."),
        small: bool = typer.Option(False, "--small", help="CI size: fewest records, 2 rounds of 1 local step."),
        rounds: int = typer.Option(2, "--rounds", min=1, help="Federated rounds."),
        local_steps: int | None = typer.Option(None, "--local-steps", min=1, help="Optimizer steps per node per round (default 4; 1 with --small)."),
        threads: int | None = typer.Option(None, "--threads", min=1, help="torch threads per process (default: half the cores)."),
        port: int | None = typer.Option(None, "--port", help="Coordinator port on 127.0.0.1 (default: a free one)."),
        keep_running: bool = typer.Option(False, "--keep-running", help="Leave coordinator, SuperLink and SuperNodes running at the end."),
        keep_workdir: bool = typer.Option(False, "--keep-workdir", help="Reuse the work directory's homes and runs instead of wiping it."),
        json_summary: Path | None = typer.Option(None, "--json-summary", help="Also write the summary's claims as JSON to this file."),
        stop: bool = typer.Option(False, "--stop", help="Only stop the processes a --keep-running demo left in --workdir."),
    ) -> None:
        """Run the whole data space on this machine: a coordinator, two organisations that
        generate, gate, publish, pull and audit synthetic data, and a federated LoRA fine-tune
        whose adapter is published, audited, and evaluated against a shipped benchmark (the signed
        evaluation is published and audited too). CPU only, a few minutes."""
        from rich.console import Console

        from synthspace.demo import DemoOptions, run_demo, stop_demo

        if stop:
            stopped = stop_demo(workdir)
            if not stopped:
                typer.echo(f"no demo processes are running from {workdir.resolve()}")
            for p in stopped:
                typer.echo(f"stopped {p.name} (pid {p.pid})")
            return
        options = DemoOptions(
            workdir=workdir, records=records, small=small, rounds=rounds, local_steps=local_steps,
            keep_running=keep_running, keep_workdir=keep_workdir, port=port, json_summary=json_summary,
            threads=threads,
        )  # fmt: skip
        console = Console(stderr=True)
        console.print(
            f"[bold]synthspace demo[/bold] in {workdir.resolve()}: coordinator + 2 organisations, "
            f"{options.records_per_org} records each, {rounds} federated rounds"
        )
        try:
            summary = run_demo(options, console)
        except KeyboardInterrupt:
            import os
            import sys

            console.print("[yellow]interrupted: every process the demo started was stopped[/yellow]")
            # Exit now: the interrupted model batch left an event loop and a worker thread behind
            # whose teardown would only print warnings (the run directory resumes cleanly).
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        _print_summary(summary)
