"""`synthspace demo` command."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `demo` command to the root app."""

    @app.command("demo")
    def _demo() -> None:
        """(not implemented yet)"""
        from synthspace.cli.errors import fail

        raise fail("'demo' is not implemented yet")
