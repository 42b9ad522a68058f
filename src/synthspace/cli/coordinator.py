"""`synthspace coordinator ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("todo", hidden=True)
def _todo() -> None:
    """(not implemented yet)"""
    from synthspace.cli.errors import fail

    raise fail("'coordinator' is not implemented yet")


@app.callback()
def _group() -> None:
    """(commands of this group are filled in by their issue)"""
