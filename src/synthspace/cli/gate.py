"""`synthspace gate` command."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `gate` command to the root app."""

    @app.command("gate")
    def _gate() -> None:
        """(not implemented yet)"""
        from synthspace.cli.errors import fail

        raise fail("'gate' is not implemented yet")
