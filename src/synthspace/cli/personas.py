"""`synthspace personas ...` commands: parse options, call `synthspace.node.personas`, print."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Sample census-grounded synthetic personas, describe locale specs, check persona sets."""


@app.command("sample")
def sample(
    locale: str = typer.Option("ja_JP", "--locale", "-l", help="Locale spec (ja_JP, en_US) or a spec .json path."),
    n: int = typer.Option(..., "-n", "--count", min=1, help="Number of personas."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same file."),
    out: Path = typer.Option(..., "--out", "-o", help="Parquet file to write."),
    where: list[str] = typer.Option(
        [], "--where", "-w", help="Condition k=v (repeatable; v may be a,b; age=35 or age=30-34)."
    ),
    narratives: str = typer.Option("template", "--narratives", help="template | llm | none."),
    backend: str = typer.Option("transformers", "--backend", help="Generation backend for --narratives llm."),
    model: str | None = typer.Option(None, "--model", help="Model for the backend (default: embedded)."),
    base_url: str | None = typer.Option(None, "--base-url", help="Endpoint for the openai backend."),
    max_tokens: int = typer.Option(160, "--max-tokens", min=8, help="Token budget of each LLM narrative."),
    temperature: float = typer.Option(0.7, "--temperature", min=0.0, help="Sampling temperature of LLM narratives."),
) -> None:
    """Sample N personas from a locale's Bayesian network and write them as Parquet."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    from synthspace.node.personas import create_persona_set
    from synthspace.node.personas.persona_sets import check_request

    check_request(locale, where, narratives)  # bad input fails before the progress display starts
    console = Console(stderr=True)
    options = {"model": model, "base_url": base_url} if narratives == "llm" else {}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
        console=console, transient=True,
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, advance: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"{stage:<10}", total=total)
            bar.advance(tasks[stage], advance)  # type: ignore[arg-type]

        result = create_persona_set(
            locale, n, out, seed=seed, where=where, narratives=narratives, backend_name=backend,
            backend_options=options, progress=progress, narrative_max_tokens=max_tokens,
            narrative_temperature=temperature,
        )
    typer.echo(f"wrote {result.source.count:,} personas to {result.path} in {result.seconds:.1f}s")
    typer.echo(f"set_digest  {result.source.set_digest}")
    typer.echo(f"spec_digest {result.source.spec_digest}")
    if result.narrative_fallbacks:
        typer.echo(f"{result.narrative_fallbacks} empty LLM narratives were replaced by the template")


@app.command("describe")
def describe(
    locale: str = typer.Option("ja_JP", "--locale", "-l", help="Locale spec (ja_JP, en_US) or a spec .json path."),
    states: int = typer.Option(8, "--states", help="How many states to show per variable."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole spec summary as JSON."),
) -> None:
    """Show a locale spec's variables, parents, states and cited sources."""
    import json

    from rich.console import Console
    from rich.table import Table

    from synthspace.node.personas import load_spec

    spec = load_spec(locale)
    if as_json:
        summary = {
            "locale": spec.locale, "digest": spec.digest, "title": spec.title,
            "variables": [
                {"name": v.name, "parents": v.parents, "states": len(v.states), "sources": v.sources,
                 "approximate": v.approximate} for v in spec.variables
            ],
            "sources": {k: s.model_dump() for k, s in spec.sources.items()},
        }
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    console = Console()
    console.print(f"[bold]{spec.locale}[/bold]  {spec.title}")
    console.print(f"digest {spec.digest}  reference date {spec.reference_date}")
    table = Table("variable", "parents", "#", "states", "sources", "approx.")
    for v in spec.variables:
        shown = ", ".join(v.states[:states]) + (" …" if len(v.states) > states else "")
        table.add_row(v.name, ", ".join(v.parents) or "-", str(len(v.states)), shown, ", ".join(v.sources),
                      "yes" if v.approximate else "no")
    for d in spec.derived:
        table.add_row(d.name, f"(derived from {d.source_variable})", "", d.kind, ", ".join(d.sources),
                      "yes" if d.approximate else "no")
    console.print(table)
    for key, s in spec.sources.items():
        official = "" if s.official else " [not an official statistic]"
        console.print(f"[bold]{key}[/bold]: {s.title} — {s.publisher}{official} {s.url or ''}")


@app.command("stats")
def stats(
    path: Path = typer.Argument(..., help="Persona set Parquet file."),
    locale: str | None = typer.Option(None, "--locale", "-l", help="Spec to compare with (default: the set's)."),
    top: int = typer.Option(5, "--top", help="States to show per variable."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Compare a persona set's marginals with the exact distribution of its spec."""
    from rich.console import Console
    from rich.table import Table

    from synthspace.node.personas import persona_set_stats

    report = persona_set_stats(path, locale=locale, top=top)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    console = Console()
    src = report.source
    console.print(f"{report.path}: {src.count:,} personas, kind {src.kind}, locale {src.locale}")
    console.print(f"set_digest {src.set_digest}")
    console.print(
        f"compared with spec {report.spec_locale}"
        + (" (same spec digest)" if report.spec_matches else " (set not sampled from this spec)")
        + (f" under {', '.join(report.where)}" if report.where else "")
    )
    table = Table("variable", "chi2", "dof", "p", "TVD", "top states: observed / expected")
    for v in report.variables:
        tops = "; ".join(f"{s.state} {s.observed:.3f}/{s.expected:.3f}" for s in v.top)
        table.add_row(v.variable, f"{v.chi2:.1f}", str(v.dof), f"{v.p_value:.3g}", f"{v.tvd:.4f}", tops)
    console.print(table)
