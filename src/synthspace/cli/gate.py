"""`synthspace gate` command: run the privacy and quality gates over a run directory."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from synthspace.cli.errors import fail
from synthspace.errors import ConfigError, SynthspaceError

if TYPE_CHECKING:
    from synthspace.node.gates import GateReport


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# The few metrics worth a column in the summary table, per gate.
_HEADLINE = {
    "seed_leakage": ("failing_records", "review_records", "max_lcs_chars", "max_containment"),
    "pii": ("records_with_pii", "redacted_records", "findings_by_type"),
    "pii_replay": ("records_with_replay", "replayed_by_type"),
    "canaries": ("canaries", "records_with_canary"),
    "membership": ("auc", "used_seeds", "holdout_seeds"),
    "near_duplicates": ("exact_duplicates_removed", "near_duplicate_rate", "clusters"),
    "schema_validity": ("rate", "valid", "records"),
    "quality": ("distinct_1", "distinct_2", "compression_ratio"),
    "persona_coverage": ("min_value_coverage", "max_total_variation", "unknown_persona_ids"),
    "usefulness": ("failing_records", "failing_by_reason"),
    "record_filter": ("kept", "dropped", "kept_share"),
    "diversity": ("distinct_2", "problems"),
}


def _table(title: str, report: GateReport) -> Table:
    table = Table(title=title)
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
    return table


def _echo_redaction(report: GateReport) -> None:
    red = report.redaction
    if red is not None:
        spans = ", ".join(f"{t} {n}" for t, n in sorted(red.spans_by_type.items()))
        typer.echo(f"redacted {red.records} kept record(s) ({red.mode}): {spans}")


def _gate_records(
    records: Path,
    recipe_path: Path | None,
    seeds: Path | None,
    config: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """`gate --records`: exit 0 pass, 1 refused, 2 bad input (one line on stderr)."""
    # The gates load pandas and the dictionaries: imported when the command runs.
    from synthspace.node.gates import gate_records, load_gates_config
    from synthspace.node.recipes.loading import load_recipe

    try:
        if recipe_path is None:
            raise ConfigError("--records needs --recipe (the recipe the records are judged by)")
        recipe = load_recipe(recipe_path)
        cfg = load_gates_config(config) if config is not None else None
        if cfg is None and recipe.gates is not None:
            cfg = recipe.gates.resolve_paths(recipe_path.parent)
        outcome = gate_records(records, recipe, seeds, cfg)
    except SynthspaceError as exc:
        raise fail(str(exc), code=2) from None
    report = outcome.report
    if as_json:
        doc = {
            "records": [
                {"index": i, "kept": not why, "reasons": why}
                # A kept record whose PII was replaced says so: types and counts, never text.
                | ({"redacted": outcome.redacted[i]} if i in outcome.redacted else {})
                for i, why in enumerate(outcome.reasons)
            ],
            "gates": [
                {"name": g.name, "passed": g.passed, "blocking": g.blocking} for g in report.gates
            ],
            "passed": report.passed,
        }
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    elif not quiet:
        Console().print(_table(f"gates for {records} ({report.records} records)", report))
        for reason, count in sorted(report.dropped_by_reason.items()):
            typer.echo(f"dropped {count} record(s): {reason}")
        _echo_redaction(report)
    if not report.passed:
        typer.secho(
            f"error: blocking gate(s) failed: {', '.join(report.failed_blocking)}",
            err=True,
            fg=typer.colors.RED,
        )
        raise typer.Exit(1)
    if not as_json:
        typer.echo(f"passed: {report.kept} of {report.records} records kept")


def register(app: typer.Typer) -> None:
    """Add the `gate` command to the root app."""

    @app.command("gate")
    def _gate(
        run_dir: Path | None = typer.Argument(
            None, help="Run directory written by `synthspace generate` (or use --records)."
        ),
        records: Path | None = typer.Option(
            None, "--records", help="Vet a records file instead: .jsonl or .parquet."
        ),
        recipe: Path | None = typer.Option(
            None, "--recipe", help="With --records: the recipe that judges them."
        ),
        seeds: Path | None = typer.Option(
            None, "--seeds", help="With --records: the seeds (enables leakage and grounding)."
        ),
        as_json: bool = typer.Option(
            False, "--json", help="With --records: print one JSON object to stdout."
        ),
        config: Path | None = typer.Option(
            None,
            "--config",
            "-c",
            help="gates.yaml (or a recipe with a gates: section); overrides the recipe's.",
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the verdict line."),
        home: Path | None = typer.Option(
            None,
            "--home",
            help="Node home that generated the run: its seed salt verifies the seed commitment's "
            "root (without it, the seed count is checked).",
        ),
    ) -> None:
        """Run every privacy, quality and usefulness gate; drop the records they blame.

        On a run directory, writes RUN_DIR/gate-report.json. With --records FILE --recipe R,
        vets any records (exit 0 pass, 1 refused, 2 bad input). Exits 0 only when every
        blocking gate passes.
        """
        if records is not None:
            if run_dir is not None:
                raise fail("give a run directory or --records, not both", code=2)
            _gate_records(records, recipe, seeds, config, as_json, quiet)
            return
        if run_dir is None:
            raise fail("give a run directory, or --records FILE --recipe RECIPE", code=2)
        from synthspace.node.gates import load_gates_config, run_gates

        console = Console(stderr=True)
        cfg = load_gates_config(config) if config is not None else None
        with console.status("gates: starting", spinner="dots") as status:
            report = run_gates(
                run_dir, cfg, progress=lambda msg: status.update(f"gates: {msg}"), home=home
            )
        if not quiet:
            title = f"gates for {run_dir} ({report.records} records, {report.duration_s:.1f}s)"
            Console().print(_table(title, report))
            for reason, count in sorted(report.dropped_by_reason.items()):
                typer.echo(f"dropped {count} record(s): {reason}")
            _echo_redaction(report)
        if not report.passed:
            raise fail(
                f"blocking gate(s) failed: {', '.join(report.failed_blocking)} (see {run_dir}/gate-report.json)"
            )
        typer.echo(
            f"all blocking gates passed ({report.kept} of {report.records} records kept); "
            f"report: {Path(run_dir) / 'gate-report.json'}"
        )
