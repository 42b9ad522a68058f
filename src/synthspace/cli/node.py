"""`synthspace node ...`: create a node home, enrol it, show its status."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)

HomeOpt = typer.Option(
    None, "--home", help="Node home directory (default: $SYNTHSPACE_HOME, else ~/.synthspace/node)."
)


@app.callback()
def _group() -> None:
    """Set up an organisation's node: keys, enrolment with the coordinator, status."""


@app.command("init")
def init(
    home: Path | None = HomeOpt,
    org: str = typer.Option(..., "--org", help="Your organisation's name (lowercase, digits, '-')."),
    coordinator: str = typer.Option(..., "--coordinator", help="Coordinator base URL, e.g. http://127.0.0.1:8600."),
    supernode_key: bool = typer.Option(
        True, "--supernode-key/--no-supernode-key", help="Also create a Flower SuperNode key pair."
    ),
) -> None:
    """Create the node home: two Ed25519 keys (artifact, request), node.json, private/."""
    from synthspace.node.cli_support import open_home
    from synthspace.node.home import NodeHome

    node = NodeHome.init(open_home(home).path, org, coordinator, supernode_key=supernode_key)
    config = node.config()
    typer.echo(f"node home ready: {node.path}")
    typer.echo(f"  org:              {config.org}")
    typer.echo(f"  coordinator:      {config.coordinator_url}")
    typer.echo(f"  artifact key id:  {config.artifact_key_id}")
    typer.echo(f"  request key id:   {config.request_key_id}")
    typer.echo("next: synthspace node enroll --home DIR --token TOKEN (ask the coordinator operator for a token)")


@app.command("enroll")
def enroll(
    home: Path | None = HomeOpt,
    token: str = typer.Option(..., "--token", help="One-time enrolment token from the coordinator operator."),
    verifier_key: str | None = typer.Option(
        None,
        "--verifier-key",
        help="The coordinator's log verifier key, if the operator gave it to you (pinned; else trusted on first use).",
    ),
    witness_url: str | None = typer.Option(
        None,
        "--witness-url",
        help="Also enrol this node's witness key (named <org>/witness) and the URL its `synthspace node witness` answers on.",
    ),
) -> None:
    """Register this node's public keys with the coordinator and pin its log key."""
    from synthspace.node.cli_support import open_home
    from synthspace.node.enrolment import enroll as do_enroll

    node = open_home(home)
    record = do_enroll(node, token, verifier_key=verifier_key, witness_url=witness_url)
    config = node.config()
    typer.echo(f"enrolled {record.org!r} with {config.coordinator_url}")
    for key in record.keys:
        typer.echo(f"  {key.purpose:<9} key {key.key_id}  (log index {key.added_log_index})")
    typer.echo(f"  pinned log verifier key: {config.log_verifier_key}")


@app.command("status")
def status(
    home: Path | None = HomeOpt,
    offline: bool = typer.Option(False, "--offline", help="Do not contact the coordinator."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show org, coordinator, key ids, enrolment, and what the coordinator says about the keys."""
    from synthspace.node.cli_support import open_home
    from synthspace.node.enrolment import node_status

    st = node_status(open_home(home), online=not offline)
    if as_json:
        typer.echo(json.dumps(st.to_dict(), indent=2, default=str))
    else:
        typer.echo(f"home:             {st.home}")
        typer.echo(f"org:              {st.org}")
        typer.echo(f"coordinator:      {st.coordinator_url}")
        typer.echo(f"artifact key id:  {st.artifact_key_id}")
        typer.echo(f"request key id:   {st.request_key_id}")
        typer.echo(f"supernode key:    {'yes' if st.supernode_key else 'no'}")
        typer.echo(f"enrolled:         {'yes, at ' + str(st.enrolled_at) if st.enrolled else 'no'}")
        if st.log_verifier_key:
            typer.echo(f"log verifier key: {st.log_verifier_key}")
        health = st.coordinator.get("health")
        if health:
            typer.echo(f"coordinator says: {health.get('status')} (log size {health.get('log_size')})")
        for problem in st.problems:
            typer.secho(f"problem: {problem}", fg=typer.colors.YELLOW, err=True)
    if st.problems:
        raise typer.Exit(1)


@app.command("rotate-key")
def rotate_key(
    purpose: str = typer.Argument(..., help="Which key: artifact or request."),
    home: Path | None = HomeOpt,
) -> None:
    """Replace a key: enrol a new one, revoke the old one (both logged), swap the key file."""
    from synthspace.node.cli_support import open_home
    from synthspace.node.enrolment import rotate_key as do_rotate

    old_id, new_id = do_rotate(open_home(home), purpose)
    typer.echo(f"rotated the {purpose} key: {old_id} (revoked) -> {new_id}")
    if purpose == "artifact":
        typer.echo("artifacts signed before now stay valid; the old key is kept in keys/retired/")


@app.command("witness")
def witness(
    home: Path | None = HomeOpt,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8700, "--port", min=0, max=65535, help="TCP port."),
    name: str | None = typer.Option(None, "--name", help="Witness name in cosignatures (default: <org>/witness)."),
    log: list[str] = typer.Option(
        [], "--log", help="Verifier key of another log to witness (repeatable); the pinned coordinator log is always witnessed."
    ),
    print_key: bool = typer.Option(False, "--print-key", help="Print the witness key and exit (give it to the coordinator operator)."),
) -> None:
    """Run this node's witness: cosign coordinator checkpoints only when consistent (C2SP tlog-witness)."""
    import uvicorn

    from synthspace.checkpoint import CheckpointError, Verifier
    from synthspace.cli.errors import fail
    from synthspace.node.cli_support import open_home
    from synthspace.node.witness import load_witness
    from synthspace.node.witness.server import witness_app

    node = open_home(home)
    config = node.config()
    keys = ([config.log_verifier_key] if config.log_verifier_key else []) + list(log)
    try:
        logs = {v.name: v for v in (Verifier.from_string(k) for k in keys)}
    except CheckpointError as exc:
        raise fail(f"--log: {exc}", 2) from None
    wit = load_witness(node.path, name or f"{config.org}/witness", logs)
    if print_key:
        typer.echo(wit.key.to_string())
        return
    if not logs:
        raise fail("no log to witness: enrol this node first, or give --log VERIFIER_KEY")
    typer.echo(f"witness key: {wit.key.to_string()}", err=True)
    typer.echo(f"witnessing {', '.join(sorted(logs))} on http://{host}:{port}/add-checkpoint", err=True)
    uvicorn.run(witness_app(wit), host=host, port=port, log_level="warning", timeout_keep_alive=5)


@app.command("register-witness")
def register_witness(
    home: Path | None = HomeOpt,
    url: str = typer.Option(..., "--url", help="Base URL the node's witness answers on (POST <url>/add-checkpoint)."),
) -> None:
    """Enrol this enrolled node's witness key (a logged key with purpose witness); replaces an earlier one."""
    from synthspace.node.cli_support import open_home
    from synthspace.node.enrolment import register_witness as do_register

    vkey, replaced = do_register(open_home(home), url)
    typer.echo(f"witness key enrolled: {vkey}")
    for kid in replaced:
        typer.echo(f"  revoked the earlier witness key {kid}")


@app.command("witness-policy")
def witness_policy(
    home: Path | None = HomeOpt,
    from_coordinator: bool = typer.Option(
        False, "--from-coordinator", help="List the witnesses enrolled at the coordinator, verified against its log."
    ),
    quorum: int = typer.Option(..., "--quorum", min=1, help="How many of them must cosign a checkpoint."),
    exclude_self: bool = typer.Option(False, "--exclude-self", help="Leave this node's own witness out."),
    output: Path | None = typer.Option(None, "--output", help="Where to write it (default: HOME/witness-policy)."),
) -> None:
    """Write a C2SP tlog-policy that audits and pulls of this node then require."""
    from synthspace.atomic_files import atomic_write_text
    from synthspace.cli.errors import fail
    from synthspace.node.audit.auditor_state import AuditorState
    from synthspace.node.audit.log_monitor import resolve_verifier
    from synthspace.node.audit.witnessing import POLICY_FILE, policy_from_coordinator
    from synthspace.node.cli_support import open_home
    from synthspace.node.coordinator_client import CoordinatorClient

    if not from_coordinator:
        raise fail("only --from-coordinator is supported; write a policy by hand otherwise (docs/witnesses.md)", 2)
    node = open_home(home)
    config = node.require_enrolled()
    state = AuditorState(node.auditor_state_dir)
    with CoordinatorClient.for_home(node) as client:
        verifier, _ = resolve_verifier(client, state, config.log_verifier_key)
        text, orgs = policy_from_coordinator(
            client, state, verifier, quorum, exclude=[config.org] if exclude_self else []
        )
    path = output or node.path / POLICY_FILE
    atomic_write_text(path, text)
    typer.echo(f"wrote {path}: {quorum} of {len(orgs)} enrolled witnesses ({', '.join(orgs)})")
