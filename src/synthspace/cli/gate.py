"""`synthspace gate` command: run the privacy and quality gates over a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# The few metrics worth a column in the summary table, per gate.
_HEADLINE = {
    "seed_leakage": ("failing_records", "review_records", "max_lcs_chars", "max_containment"),
    "pii": ("records_with_pii", "findings_by_type"),
    "pii_replay": ("records_with_replay", "replayed_by_type"),
    "canaries": ("canaries", "records_with_canary"),
    "membership": ("auc", "used_seeds", "holdout_seeds"),
    "near_duplicates": ("exact_duplicates_removed", "near_duplicate_rate", "clusters"),
    "schema_validity": ("rate", "valid", "records"),
    "quality": ("distinct_1", "distinct_2", "compression_ratio"),
    "persona_coverage": ("min_value_coverage", "max_total_variation", "unknown_persona_ids"),
}


def register(app: typer.Typer) -> None:
    """Add the `gate` command to the root app."""

    @app.command("gate")
    def _gate(
        run_dir: Path = typer.Argument(..., help="Run directory written by `synthspace generate`."),
        config: Path | None = typer.Option(
            None,
            "--config",
            "-c",
            help="gates.yaml (or a recipe with a gates: section); overrides the recipe's.",
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the verdict line."),
    ) -> None:
        """Run every privacy and quality gate; write RUN_DIR/gate-report.json.

        Exits 0 only when every blocking gate passes.
        """
        from rich.console import Console
        from rich.table import Table

        from synthspace.cli.errors import fail
        from synthspace.node.gates import load_gates_config, run_gates

        console = Console(stderr=True)
        cfg = load_gates_config(config) if config is not None else None
        with console.status("gates: starting", spinner="dots") as status:
            report = run_gates(run_dir, cfg, progress=lambda msg: status.update(f"gates: {msg}"))
        if not quiet:
            table = Table(
                title=f"gates for {run_dir} ({report.records} records, {report.duration_s:.1f}s)"
            )
            table.add_column("gate")
            table.add_column("blocking")
            table.add_column("result")
            table.add_column("key metrics")
            for g in report.gates:
                keys = _HEADLINE.get(g.name, ())
                shown = ", ".join(f"{k}={_fmt(g.metrics[k])}" for k in keys if k in g.metrics)
                verdict = (
                    "[green]pass[/green]"
                    if g.passed
                    else ("[red]FAIL[/red]" if g.blocking else "[yellow]warn[/yellow]")
                )
                table.add_row(g.name, "yes" if g.blocking else "no", verdict, shown)
            for name, why in report.skipped.items():
                table.add_row(name, "-", "[dim]skipped[/dim]", why)
            Console().print(table)
        if not report.passed:
            raise fail(
                f"blocking gate(s) failed: {', '.join(report.failed_blocking)} (see {run_dir}/gate-report.json)"
            )
        typer.echo(f"all blocking gates passed; report: {Path(run_dir) / 'gate-report.json'}")
