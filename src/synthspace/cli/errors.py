"""How the CLI reports errors: one line, non-zero exit, never a traceback."""

from __future__ import annotations

import sys

import click
import typer

from synthspace.errors import SynthspaceError


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` as one error line and return the Exit to raise."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def run_app(app: typer.Typer, argv: list[str]) -> None:
    """Run a Typer app, turning SynthspaceError into a one-line message and exit code 1."""
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=argv, prog_name="synthspace", standalone_mode=False)
    except SynthspaceError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(1)
    except click.exceptions.Abort:
        typer.secho("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)
