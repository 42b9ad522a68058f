"""`synthspace audit` command."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `audit` command to the root app."""

    @app.command("audit")
    def _audit() -> None:
        """(not implemented yet)"""
        from synthspace.cli.errors import fail

        raise fail("'audit' is not implemented yet")
