"""`synthspace generate` command."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `generate` command to the root app."""

    @app.command("generate")
    def _generate() -> None:
        """(not implemented yet)"""
        from synthspace.cli.errors import fail

        raise fail("'generate' is not implemented yet")
