"""`synthspace audit ID|DIR` and `synthspace audit log [--follow]`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from synthspace.node.audit import AuditReport, LogAuditReport

_MARK = {"pass": "[green]✓ pass[/green]", "fail": "[red]✗ FAIL[/red]", "skip": "[dim]– skip[/dim]"}


def _print_report(report: AuditReport, indent: int = 0) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    pad = " " * indent
    title = report.statement.predicate.title if report.statement else report.target
    console.print(f"{pad}[bold]{title}[/bold]  {report.artifact_id or report.target}")
    table = Table(show_header=False, box=None, padding=(0, 1, 0, indent + 2))
    for check in report.ordered():
        table.add_row(check.name, _MARK.get(check.status, check.status), check.detail)
    console.print(table)
    for parent in report.parents:
        _print_report(parent, indent + 4)


def _print_log(report: LogAuditReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    counts = ", ".join(f"{n} {t}" for t, n in sorted(report.counts.items()))
    console.print(f"[bold]log[/bold] size {report.size}, root {report.root_hex[:16]}…  ({counts})")
    table = Table(show_header=False, box=None, padding=(0, 1, 0, 2))
    for check in report.checks:
        table.add_row(check.name, _MARK.get(check.status, check.status), check.detail)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the `audit` command to the root app."""

    @app.command("audit")
    def audit(
        target: str = typer.Argument(
            ...,
            help="An artifact id, a bundle directory (from publish or pull), or the word 'log' to audit the whole log.",
        ),
        home: Path | None = typer.Option(
            None, "--home", help="Node home to audit as (signed requests, pinned log key, its auditor state)."
        ),
        coordinator: str | None = typer.Option(
            None, "--coordinator", help="Coordinator URL, to audit without a node home."
        ),
        state: Path | None = typer.Option(
            None, "--state", help="Auditor state directory (last checkpoint seen, log mirror)."
        ),
        verifier_key: str | None = typer.Option(
            None, "--verifier-key", help="The coordinator's log verifier key to pin (else trusted on first use)."
        ),
        no_lineage: bool = typer.Option(False, "--no-lineage", help="Do not walk the parents."),
        witness_policy: Path | None = typer.Option(
            None, "--witness-policy",
            help="C2SP tlog-policy file: checkpoints must carry its quorum of witness cosignatures "
            "(default: HOME/witness-policy when the node home has one).",
        ),
        offline: bool = typer.Option(
            False, "--offline", help="No network: check a bundle against the log as this auditor last verified it."
        ),
        follow: bool = typer.Option(
            False, "--follow",
            help="With 'log': keep monitoring new checkpoints (and say which of this node's pulled or "
            "published artifacts a new retraction or policy withdrawal affects).",
        ),
        interval: float = typer.Option(10.0, "--interval", min=0.1, help="With --follow: seconds between polls."),
        max_polls: int | None = typer.Option(None, "--max-polls", min=1, help="With --follow: stop after N polls."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Verify an artifact end to end, or the whole transparency log; exit 1 naming the first failed check."""
        import json
        import time

        from synthspace.cli.errors import fail
        from synthspace.node.cli_support import open_auditor

        if offline and target == "log":
            raise fail("`audit log` checks the live log; --offline applies to bundle directories")
        auditor = open_auditor(
            home=home, coordinator=coordinator, state=state, verifier_key=verifier_key, offline=offline,
            witness_policy=witness_policy,
        )
        if target == "log":
            polls = 0
            last_size = -1
            try:
                while True:
                    auditor.refresh()
                    log_report = auditor.audit_log()
                    polls += 1
                    if as_json:
                        typer.echo(json.dumps(log_report.to_dict()))
                    else:
                        if log_report.size != last_size or not log_report.ok:
                            _print_log(log_report)
                        for notice in log_report.affected:  # new withdrawals hitting this node
                            typer.secho(notice, fg=typer.colors.RED)
                    last_size = log_report.size
                    first = log_report.first_failure()
                    if first is not None:
                        raise fail(f"log audit failed at check {first.name}: {first.detail}")
                    if not follow or (max_polls is not None and polls >= max_polls):
                        return
                    time.sleep(interval)
            except KeyboardInterrupt:
                return
        if follow:
            raise fail("--follow only applies to `audit log`")
        path = Path(target)
        if path.is_dir():
            report = auditor.audit_bundle(path, lineage=not no_lineage)
        elif len(target) == 64 and all(c in "0123456789abcdef" for c in target):
            report = auditor.audit_artifact(target, lineage=not no_lineage)
        else:
            raise fail(f"{target!r} is neither a bundle directory nor a 64-hex artifact id (nor 'log')")
        if as_json:
            typer.echo(json.dumps(report.to_dict(), indent=2))
        else:
            _print_report(report)
            if offline and report.ok:
                typer.echo("ok offline, against the log as last verified online (newer retractions are not seen)")
        first = report.first_failure()
        if first is not None:
            raise fail(f"audit failed at check {first.name}: {first.detail}")
