"""Root of the `synthspace` CLI: assembles the command groups."""

from __future__ import annotations

import sys

import typer

from synthspace import __version__
from synthspace.cli import (
    audit,
    catalog,
    coordinator,
    demo,
    eval,
    federate,
    gate,
    generate,
    node,
    personas,
    publish,
)
from synthspace.cli.errors import run_app

app = typer.Typer(
    name="synthspace",
    help=(
        "synthspace: turn private seeds into verified synthetic data, publish it with signed "
        "lineage to a shared catalog, and co-train models with Flower."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"synthspace {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """synthspace command line."""


app.add_typer(coordinator.app, name="coordinator", help="Run the catalog coordinator.")
app.add_typer(node.app, name="node", help="Set up and run an organisation's node.")
app.add_typer(personas.app, name="personas", help="Sample and inspect synthetic personas.")
generate.register(app)
gate.register(app)
publish.register(app)
app.add_typer(catalog.app, name="catalog", help="Browse and pull artifacts from the catalog.")
audit.register(app)
app.add_typer(federate.app, name="federate", help="Federated LoRA fine-tuning with Flower.")
demo.register(app)
eval.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `synthspace` console script."""
    run_app(app, argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
