"""`synthspace publish PATH`: sign and publish a run, a derivation or a signed bundle."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the `publish` command to the root app."""

    @app.command("publish")
    def publish(
        path: Path = typer.Argument(
            ..., help="A generation run directory, a derivation directory (catalog derive), or a signed bundle."
        ),
        home: Path | None = typer.Option(
            None, "--home", help="Node home (default: $SYNTHSPACE_HOME, else ~/.synthspace/node)."
        ),
        title: str | None = typer.Option(None, "--title", help="Title (default: '<task> (<org>)')."),
        description: str | None = typer.Option(None, "--description", help="Description (default: the recipe's)."),
        tag: list[str] = typer.Option([], "--tag", help="A tag for search; repeat for more."),
        license: str | None = typer.Option(None, "--license", help="SPDX license id (default: the recipe's)."),
        gates_config: Path | None = typer.Option(
            None, "--gates-config", help="Gate thresholds (YAML); re-runs the gates with them."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Gate, package, sign (DSSE), upload (RFC 9421) and verify the receipt of an artifact."""
        import json

        from rich.console import Console

        from synthspace.cli.errors import fail
        from synthspace.node.cli_support import open_home
        from synthspace.node.publishing import publish_path

        node = open_home(home)
        if not path.exists():
            raise fail(f"{path} does not exist")
        console = Console(stderr=True, log_path=False)
        with console.status("publishing ...") as status:

            def progress(message: str) -> None:
                status.update(message)
                console.log(message)

            result = publish_path(
                node,
                path,
                title=title,
                description=description,
                tags=tag,
                license=license,
                gates_config=gates_config,
                progress=progress,
            )
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "artifact_id": result.artifact_id,
                        "log_index": result.log_index,
                        "checkpoint_size": result.checkpoint_size,
                        "bundle": str(result.bundle_dir),
                        "already_published": result.already_published,
                    },
                    indent=2,
                )
            )
            return
        verb = "already published" if result.already_published else "published"
        typer.echo(f"{verb} artifact {result.artifact_id}")
        typer.echo(f"  log index {result.log_index}, included in the signed checkpoint of size {result.checkpoint_size}")
        typer.echo(f"  records: {result.statement.predicate.record_count}  kind: {result.statement.predicate.kind}")
        typer.echo(f"  receipt, envelope and data: {result.bundle_dir}")
