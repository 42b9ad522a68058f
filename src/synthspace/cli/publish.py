"""`synthspace publish` command."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `publish` command to the root app."""

    @app.command("publish")
    def _publish() -> None:
        """(not implemented yet)"""
        from synthspace.cli.errors import fail

        raise fail("'publish' is not implemented yet")
