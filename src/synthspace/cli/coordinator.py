"""`synthspace coordinator ...`: set up, run and operate the catalog coordinator.

Options are parsed here; the work happens in synthspace.coordinator (home, runtime, services).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)

DEFAULT_HOME = "~/.synthspace/coordinator"
HomeOpt = typer.Option(
    Path(os.environ.get("SYNTHSPACE_COORDINATOR_HOME", DEFAULT_HOME)),
    "--home",
    help="Coordinator home (keys/, blobs/, config.json, coordinator.db). Env: SYNTHSPACE_COORDINATOR_HOME.",
)


@app.callback()
def _group() -> None:
    """Run the catalog coordinator: init, serve, invite orgs, retract artifacts, revoke keys."""


@app.command("init")
def init(
    home: Path = HomeOpt,
    origin: str | None = typer.Option(
        None,
        "--origin",
        help="Log origin / checkpoint key name (default: HOSTNAME/synthspace-log).",
    ),
    operator_org: str | None = typer.Option(
        None, "--operator-org", help="Name of the coordinator's own org (default: federation)."
    ),
    public_url: str | None = typer.Option(
        None, "--public-url", help="Externally visible base URL when behind a proxy."
    ),
) -> None:
    """Create the home: log signing key, operator org keys, database (migrated) and blob store."""
    from synthspace.coordinator.home import init_home

    settings = init_home(
        home.expanduser(), log_origin=origin, operator_org=operator_org, public_url=public_url
    )
    typer.echo(f"coordinator home ready: {settings.home}")
    typer.echo(f"  database: {_safe_url(settings.resolved_database_url())}")
    typer.echo(f"  log origin: {settings.log_origin}")
    typer.echo(f"  operator org: {settings.operator_org} (keys in {settings.keys_dir})")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command("serve")
def serve(
    home: Path = HomeOpt,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8600, "--port", min=0, max=65535, help="TCP port."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve the HTTP API (applies pending migrations and verifies the log first)."""
    import uvicorn

    from synthspace.coordinator.app import create_app
    from synthspace.coordinator.settings import CoordinatorSettings

    settings = CoordinatorSettings.load(home.expanduser())
    bind_url = None
    if host not in ("0.0.0.0", "::", "") and port != 0:  # a definite address clients can sign for
        bind_url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    if settings.public_url is None and bind_url is None:
        raise typer.BadParameter(
            "listening on every interface (or port 0) needs public_url in config.json "
            "(coordinator init --public-url): signatures cover the URL clients use",
            param_hint="--host/--port",
        )
    typer.echo(f"verifying the transparency log ({settings.startup_verify}) ...", err=True)
    application = create_app(settings, bind_url=bind_url)
    typer.echo(f"serving on http://{host}:{port} (home {settings.home})", err=True)
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level=log_level,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=10,
        limit_concurrency=256,
    )


@app.command("invite")
def invite(
    org: str = typer.Argument(
        ..., help="Organisation name to invite (lowercase letters, digits, '-')."
    ),
    home: Path = HomeOpt,
    ttl_hours: float | None = typer.Option(
        None, "--ttl-hours", help="Token lifetime in hours (default from config: 72)."
    ),
) -> None:
    """Print a one-time, expiring enrolment token for ORG (only its hash is stored)."""
    from synthspace.coordinator.runtime import Coordinator
    from synthspace.coordinator.services.orgs import create_invite
    from synthspace.coordinator.settings import CoordinatorSettings

    settings = CoordinatorSettings.load(home.expanduser())
    ttl = int(ttl_hours * 3600) if ttl_hours is not None else settings.invite_ttl_s
    coord = Coordinator.open(settings, verify=False)
    try:
        with coord.session() as session:
            token, expires = create_invite(session, org, ttl)
    finally:
        coord.close()
    typer.echo(token)
    typer.echo(
        f"one-time enrolment token for {org!r}, expires {expires.isoformat(timespec='seconds')}",
        err=True,
    )


@app.command("retract")
def retract(
    artifact_id: str = typer.Argument(..., help="Artifact id to retract."),
    reason: str = typer.Option(..., "--reason", help="Why it is withdrawn (recorded in the log)."),
    home: Path = HomeOpt,
) -> None:
    """Retract any artifact as the operator (a new log entry; nothing is deleted)."""
    from synthspace.coordinator.runtime import Coordinator
    from synthspace.coordinator.services.retraction import retract_artifact
    from synthspace.coordinator.settings import CoordinatorSettings

    coord = Coordinator.open(CoordinatorSettings.load(home.expanduser()), verify=False)
    try:
        with coord.session() as session:
            row = retract_artifact(session, coord.log, artifact_id, reason, by="operator")
            typer.echo(f"retracted {row.artifact_id} (log index {row.retract_log_index})")
    finally:
        coord.close()


@app.command("revoke-key")
def revoke_key(
    org: str = typer.Argument(..., help="Organisation that owns the key."),
    key_id: str = typer.Argument(..., help="Key id to revoke."),
    reason: str = typer.Option(
        "revoked by operator", "--reason", help="Why (recorded in the log)."
    ),
    home: Path = HomeOpt,
) -> None:
    """Revoke an org's key as the operator (e.g. a compromised key); logged."""
    from synthspace.coordinator.runtime import Coordinator
    from synthspace.coordinator.services.orgs import revoke_key as revoke
    from synthspace.coordinator.settings import CoordinatorSettings

    coord = Coordinator.open(CoordinatorSettings.load(home.expanduser()), verify=False)
    try:
        with coord.session() as session:
            key = revoke(session, coord.log, org, key_id, reason, operator=True)
            typer.echo(
                f"revoked {key.purpose} key {key.key_id} of {org} (log index {key.revoked_log_index})"
            )
    finally:
        coord.close()


@app.command("verify")
def verify(home: Path = HomeOpt) -> None:
    """Rehash the log, then recompute rows, keys, subtree hashes and blobs from it; name each inconsistency."""
    from synthspace.coordinator.runtime import Coordinator
    from synthspace.coordinator.settings import CoordinatorSettings

    coord = Coordinator.open(CoordinatorSettings.load(home.expanduser()), verify=False)
    try:
        size = coord.verify_integrity("full")
    finally:
        coord.close()
    typer.echo(
        f"log verified: {size} entries, root matches; catalog rows, keys, retractions, subtree hashes "
        "and blobs agree with the log and the signed envelopes"
    )


@app.command("add-witness")
def add_witness(
    home: Path = HomeOpt,
    url: str | None = typer.Option(
        None, "--url", help="Witness base URL (POST <url>/add-checkpoint); with --org, default: the URL it registered."
    ),
    key: str | None = typer.Option(None, "--key", help="The witness key (`synthspace node witness --print-key`)."),
    org: str | None = typer.Option(None, "--org", help="Use the witness key this enrolled org registered instead of --key."),
) -> None:
    """Ask a witness to cosign every new checkpoint (takes effect when the server restarts)."""
    from pydantic import ValidationError

    from synthspace.cli.errors import fail
    from synthspace.coordinator.settings import CoordinatorSettings, WitnessEndpoint

    settings = CoordinatorSettings.load(home.expanduser())
    if (key is None) == (org is None):
        raise fail("give exactly one of --key KEY or --org ORG", 2)
    if org is not None:
        from synthspace.coordinator.runtime import Coordinator
        from synthspace.coordinator.services import orgs as org_service

        coord = Coordinator.open(settings, verify=False)
        try:
            with coord.session() as session:
                row = org_service.active_witness(session, org)
                key = org_service.witness_vkey(row.org_name, row.public_key_pem)
                url = url or row.witness_url
        finally:
            coord.close()
    if url is None or key is None:
        raise fail("--url is needed with --key", 2)
    try:
        endpoint = WitnessEndpoint(url=url, key=key)
    except ValidationError as exc:
        raise fail(f"witness: {exc.errors()[0]['msg']}", 2) from None
    settings.witnesses = [w for w in settings.witnesses if w.key != endpoint.key] + [endpoint]
    settings.save()
    typer.echo(f"witness {endpoint.key.split('+', 1)[0]} at {endpoint.url} added ({len(settings.witnesses)} configured)")


@app.command("cosign")
def cosign(home: Path = HomeOpt) -> None:
    """Collect witness cosignatures on the current checkpoint now (servers also do it by themselves)."""
    from synthspace.cli.errors import fail
    from synthspace.coordinator.runtime import Coordinator
    from synthspace.coordinator.settings import CoordinatorSettings
    from synthspace.coordinator.witnessing import CosignatureCollector

    settings = CoordinatorSettings.load(home.expanduser())
    if not settings.witnesses:
        raise fail("no witnesses configured: `synthspace coordinator add-witness --url URL --key KEY`")
    coord = Coordinator.open(settings, verify=False)
    try:
        res = CosignatureCollector(coord).collect()
    finally:
        coord.close()
    typer.echo(f"checkpoint at size {res.size} cosigned by {', '.join(res.cosigned_by) or 'no witness'}")
    for name, why in res.refused.items():
        typer.echo(f"  {name}: {why}", err=True)
    if res.refused:
        raise typer.Exit(1)
