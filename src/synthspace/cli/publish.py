"""`synthspace publish PATH`: sign and publish a run, a derivation or a signed bundle."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from synthspace.policy import UsagePolicy


def _expiry(text: str) -> datetime:
    """`--expires`: a date (usable until the end of that day, UTC) or an ISO time (UTC if no zone)."""
    from synthspace.cli.errors import fail

    try:
        if len(text) == 10:
            return datetime.combine(datetime.fromisoformat(text).date(), time(23, 59, 59), tzinfo=UTC)
        when = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"--expires {text!r} is not a date (2027-03-31) or an ISO time (2027-03-31T12:00:00+09:00)", 2) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def policy_from_options(
    policy_file: Path | None, share_with: str | None, permit: str | None, expires: str | None
) -> UsagePolicy | None:
    """The usage policy `publish` signs: from --policy FILE (JSON or YAML, the ODRL profile of
    synthspace.policy), or built by --share-with/--permit/--expires; None when none is given."""
    from pydantic import ValidationError

    from synthspace.cli.errors import fail
    from synthspace.policy import ACTIONS, MEMBERS_GROUP, UsagePolicy, share_policy

    if policy_file is not None:
        if share_with or permit or expires:
            raise fail("give either --policy FILE or --share-with/--permit/--expires, not both", 2)
        import yaml

        try:
            raw = yaml.safe_load(policy_file.read_text(encoding="utf-8"))  # JSON is YAML too
            return UsagePolicy.model_validate(raw)
        except OSError as exc:
            raise fail(f"cannot read --policy {policy_file}: {exc.strerror or exc}", 2) from None
        except yaml.YAMLError as exc:
            raise fail(f"--policy {policy_file} is not JSON or YAML: {str(exc).splitlines()[0]}", 2) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "policy"
            raise fail(f"--policy {policy_file}: {where}: {first['msg']}", 2) from None
    if not (share_with or permit or expires):
        return None
    orgs = [o.strip() for o in (share_with or MEMBERS_GROUP).split(",") if o.strip()]
    actions = [a.strip() for a in (permit or "use,train,evaluate").split(",") if a.strip()]
    unknown = [a for a in actions if a not in ACTIONS]
    if unknown or not actions:
        raise fail(f"--permit takes actions out of {', '.join(ACTIONS)}; got {', '.join(unknown) or 'none'}", 2)
    when = _expiry(expires) if expires else None
    if when is not None and when <= datetime.now(UTC):
        raise fail(f"--expires {expires} has already passed", 2)
    try:
        return share_policy(orgs, actions, when)  # type: ignore[arg-type]  # checked against ACTIONS above
    except ValidationError as exc:
        raise fail(f"--share-with: {exc.errors()[0]['msg']}", 2) from None


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
        policy_file: Path | None = typer.Option(
            None, "--policy", help="Usage policy to sign into the lineage (JSON or YAML, ODRL profile; docs/governance.md)."
        ),
        share_with: str | None = typer.Option(
            None, "--share-with", help="Comma-separated orgs or groups who may use the data (default: members)."
        ),
        permit: str | None = typer.Option(
            None, "--permit", help="Comma-separated actions they may take: use, train, evaluate, derive, redistribute "
            "(default: use,train,evaluate)."
        ),
        expires: str | None = typer.Option(
            None, "--expires", help="Until when: a date (to the end of that day, UTC) or an ISO time."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Gate, package, sign (DSSE), upload (RFC 9421) and verify the receipt of an artifact."""
        import json

        from rich.console import Console

        from synthspace.cli.errors import fail
        from synthspace.node.cli_support import open_home
        from synthspace.node.publishing import publish_path
        from synthspace.policy import describe_policy

        policy = policy_from_options(policy_file, share_with, permit, expires)
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
                policy=policy,
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
        signed_policy = result.statement.predicate.policy
        typer.echo(f"  usage policy: {describe_policy(signed_policy) if signed_policy else 'none signed (the space default applies)'}")
        typer.echo(f"  receipt, envelope and data: {result.bundle_dir}")
