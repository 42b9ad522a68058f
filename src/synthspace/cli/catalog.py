"""`synthspace catalog ...`: browse, show, pull (verified), derive and retract artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)

HomeOpt = typer.Option(None, "--home", help="Node home (default: $SYNTHSPACE_HOME, else ~/.synthspace/node).")


@app.callback()
def _group() -> None:
    """Browse the catalog, pull verified artifacts, build and publish derived sets."""


@app.command("list")
def list_(
    home: Path | None = HomeOpt,
    org: str | None = typer.Option(None, "--org", help="Publisher org."),
    task: str | None = typer.Option(None, "--task", help="Recipe task."),
    locale: str | None = typer.Option(None, "--locale", help="Content locale, e.g. ja_JP."),
    license: str | None = typer.Option(None, "--license", help="SPDX license id."),
    tag: str | None = typer.Option(None, "--tag", help="Tag."),
    kind: str | None = typer.Option(None, "--kind", help="dataset | derived-dataset | model-adapter | evaluation."),
    q: str | None = typer.Option(None, "--q", "--search", help="Free text over title and description."),
    created_after: str | None = typer.Option(None, "--created-after", help="ISO date/time."),
    created_before: str | None = typer.Option(None, "--created-before", help="ISO date/time."),
    sort: str | None = typer.Option(None, "--sort", help="newest | oldest | title."),
    limit: int = typer.Option(50, "--limit", min=1, help="Show at most this many."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines."),
) -> None:
    """List artifacts in the catalog, newest first, with filters."""
    from rich.console import Console
    from rich.table import Table

    from synthspace.node.cli_support import open_home
    from synthspace.node.coordinator_client import CoordinatorClient

    filters = {
        "org": org,
        "task": task,
        "locale": locale,
        "license": license,
        "tag": tag,
        "kind": kind,
        "q": q,
        "created_after": created_after,
        "created_before": created_before,
        "sort": sort,
        "limit": min(limit, 200),
    }
    with CoordinatorClient.for_home(open_home(home)) as client:
        items = list(client.iter_artifacts(max_items=limit, **filters))
    if as_json:
        for item in items:
            typer.echo(item.model_dump_json())
        return
    table = Table(title=f"{len(items)} artifact(s)")
    for col in ("id", "org", "kind", "title", "task", "locale", "records", "published", "status"):
        table.add_column(col)
    for a in items:
        table.add_row(
            a.artifact_id[:16],
            a.org,
            a.kind,
            a.title,
            a.task or "",
            a.locale or "",
            "" if a.record_count is None else f"{a.record_count:,}",
            a.published_at.strftime("%Y-%m-%d %H:%M"),
            "retracted" if a.retraction else "",
        )
    Console().print(table)


@app.command("show")
def show(
    artifact_id: str = typer.Argument(..., help="Artifact id."),
    home: Path | None = HomeOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the catalog record as JSON."),
) -> None:
    """Show one artifact: lineage, gates, parents and children (as the catalog states them;
    `synthspace audit ID` verifies them)."""
    from synthspace.node.cli_support import open_home
    from synthspace.node.coordinator_client import CoordinatorClient

    with CoordinatorClient.for_home(open_home(home)) as client:
        a = client.artifact(artifact_id)
    if as_json:
        typer.echo(a.model_dump_json(indent=2))
        return
    p = a.statement.get("predicate", {})
    typer.echo(f"{a.title}  [{a.kind}]")
    typer.echo(f"  id:          {a.artifact_id}")
    typer.echo(f"  publisher:   {a.org} (key {a.key_id[:16]}…)")
    typer.echo(f"  published:   {a.published_at.isoformat()} (log index {a.log_index})")
    typer.echo(f"  data:        {a.subject_name}, {a.size_bytes:,} bytes, sha256 {a.subject_sha256}")
    typer.echo(f"  records:     {a.record_count}   task: {a.task}   locale: {a.locale}   license: {a.license}")
    if a.tags:
        typer.echo(f"  tags:        {', '.join(a.tags)}")
    if a.description:
        typer.echo(f"  description: {a.description}")
    gen = p.get("generator") or {}
    if gen:
        typer.echo(f"  generator:   {gen.get('backend')} {gen.get('model_id')}")
    seeds = p.get("seed_commitment") or {}
    if seeds:
        typer.echo(f"  seeds:       {seeds.get('count')} committed (root {str(seeds.get('root'))[:16]}…)")
    for g in a.gates:
        mark = "pass" if g.get("passed") else ("FAIL" if g.get("blocking") else "fail (non-blocking)")
        typer.echo(f"  gate:        {g.get('name')}: {mark}")
    for link in a.parents:
        typer.echo(f"  parent:      {link.artifact_id} ({link.role}) {link.title or ''}")
    for link in a.children:
        typer.echo(f"  child:       {link.artifact_id} ({link.role}) {link.title or ''}")
    if a.retraction:
        typer.secho(
            f"  RETRACTED {a.retraction.retracted_at.isoformat()} by {a.retraction.by}: {a.retraction.reason}",
            fg=typer.colors.RED,
        )
    if a.policy_withdrawn_at is not None:
        typer.secho(f"  POLICY WITHDRAWN {a.policy_withdrawn_at.isoformat()}: nothing may be used, trained on or built on it", fg=typer.colors.RED)
    elif a.policy_version:
        typer.echo(f"  policy restricted by {a.policy_version} logged version(s): `synthspace catalog policy {a.artifact_id}`")
    for w in a.withdrawn_ancestors:
        typer.secho(
            f"  BUILT ON WITHDRAWN DATA: {w.artifact_id} ({w.title}) {w.how} "
            f"{w.retracted_at.isoformat()}: {w.reason}",
            fg=typer.colors.RED,
        )


@app.command("policy")
def policy_cmd(
    artifact_id: str = typer.Argument(..., help="Artifact id."),
    home: Path | None = HomeOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the signed policy, its versions and the policy in force as JSON."),
    policy_file: Path | None = typer.Option(
        None, "--restrict", help="Your artifact: restrict its policy to this one (JSON or YAML, ODRL profile); it may only restrict."
    ),
    share_with: str | None = typer.Option(None, "--share-with", help="Your artifact: restrict to these orgs or groups (comma-separated)."),
    permit: str | None = typer.Option(None, "--permit", help="Your artifact: restrict to these actions (comma-separated)."),
    expires: str | None = typer.Option(None, "--expires", help="Your artifact: restrict until this date or ISO time."),
    withdraw: bool = typer.Option(False, "--withdraw", help="Your artifact: withdraw the policy; nothing is permitted any more (final)."),
    reason: str = typer.Option("", "--reason", help="Why the terms change (logged with the signed update, shown to consumers)."),
) -> None:
    """Show an artifact's usage policy: the one signed into its lineage (or, when none was
    signed, the terms the space applies), every logged version and the policy in force. Its
    publisher may restrict it (--restrict FILE, or --share-with/--permit/--expires) or withdraw it
    (--withdraw): a signed update logged as a `policy` entry that may never widen the terms."""
    import json

    from synthspace.cli.errors import fail
    from synthspace.cli.publish import policy_from_options
    from synthspace.node.catalog import Consumer, update_policy
    from synthspace.node.cli_support import open_home
    from synthspace.node.coordinator_client import CoordinatorClient
    from synthspace.policy import UsagePolicy, describe_policy, describe_rule

    new = policy_from_options(policy_file, share_with, permit, expires)
    if withdraw and new is not None:
        raise fail("give either --withdraw or a restricted policy (--restrict/--share-with/--permit/--expires), not both", 2)
    node = open_home(home)
    with CoordinatorClient.for_home(node) as client:
        if withdraw or new is not None:
            logged = update_policy(client, Consumer.for_home(node), artifact_id, new, reason=reason)
            if as_json:
                typer.echo(json.dumps(logged, indent=2))
                return
            what = "withdrew the policy of" if logged["withdrawn"] else "restricted the policy of"
            typer.echo(f"{what} {artifact_id}: version {logged['version']}, log index {logged['log_index']}")
            typer.echo(f"  policy in force: {logged['policy_sha256']}")
            if not logged["withdrawn"]:
                typer.echo(f"  {describe_policy(UsagePolicy.model_validate(logged['policy']))}")
            return
        a = client.artifact(artifact_id)
        history = client.policy_history(artifact_id)
    raw = a.statement.get("predicate", {}).get("policy")
    signed = UsagePolicy.model_validate(raw) if raw else None
    in_force = UsagePolicy.model_validate(history.in_force)
    if as_json:
        typer.echo(json.dumps({
            "artifact_id": a.artifact_id, "publisher": a.org, "signed": signed is not None,
            "policy": signed.model_dump(mode="json") if signed else None,
            "signed_digest": history.signed_policy_sha256,
            "versions": [v.model_dump(mode="json", exclude={"envelope"}) for v in history.versions],
            "effective": in_force.model_dump(mode="json"), "digest": in_force.digest(),
            "withdrawn_at": history.withdrawn_at.isoformat() if history.withdrawn_at else None,
        }, indent=2))  # fmt: skip
        return
    typer.echo(f"{a.title}  [{a.kind}] by {a.org}")
    typer.echo(f"  policy:    {'signed into the lineage' if signed else 'none signed: the space default applies'}")
    typer.echo(f"  signed:    {history.signed_policy_sha256}")
    for v in history.versions:
        label = "WITHDRAWN" if v.withdrawn else "restricted"
        typer.echo(f"  version {v.version}: {label} {v.logged_at.isoformat()} (log index {v.log_index}){': ' + v.reason if v.reason else ''}")
    if history.withdrawn_at is not None:
        typer.secho(
            f"  WITHDRAWN {history.withdrawn_at.isoformat()}: nothing may be used, trained on or built on it", fg=typer.colors.RED
        )
    typer.echo(f"  in force:  {in_force.digest()}")
    for r in in_force.permission:
        typer.echo(f"  permits:   {describe_rule(r)}")
    for r in in_force.prohibition:
        typer.echo(f"  prohibits: {describe_rule(r)}")
    for name, members in in_force.groups.items():
        typer.echo(f"  group:     {name} = {', '.join(members)}")
    typer.echo("  the publisher may always do everything with its own artifact")


PurposeOpt = typer.Option(
    None, "--purpose", help="Declared purpose of use (e.g. train, evaluate, research); signed into the agreement."
)


@app.command("pull")
def pull(
    artifact_id: str = typer.Argument(..., help="Artifact id."),
    out: Path = typer.Option(..., "--out", help="Directory for the verified bundle."),
    purpose: str | None = PurposeOpt,
    home: Path | None = HomeOpt,
) -> None:
    """Download and verify an artifact (signature, key, digest, log inclusion, checkpoint,
    retraction, gates); writes to --out only if everything holds. Another org's artifact is
    served only under a logged agreement: one is signed for --purpose when none exists yet
    (asked for at a terminal; required otherwise)."""
    import sys

    from rich.console import Console

    from synthspace.node.catalog import AgreementNeeded, Consumer
    from synthspace.node.catalog import pull as do_pull
    from synthspace.node.cli_support import open_auditor, open_home

    auditor = open_auditor(home=home)
    consumer = Consumer.for_home(open_home(home))
    try:
        with Console(stderr=True).status(f"pulling and verifying {artifact_id[:16]}…"):
            report = do_pull(auditor, artifact_id, out, purpose=purpose, consumer=consumer)
    except AgreementNeeded:
        if purpose is not None or not sys.stdin.isatty():
            raise
        purpose = typer.prompt("Purpose of use to sign into the agreement (e.g. train, evaluate, research)")
        report = do_pull(auditor, artifact_id, out, purpose=purpose, consumer=consumer)
    assert report.statement is not None
    subject = report.statement.subject[0]
    typer.echo(f"verified and pulled {report.artifact_id}")
    typer.echo(f"  {out / subject.name} ({report.statement.predicate.record_count} records)")
    typer.echo(f"  log index {report.log_index} in the checkpoint of size {report.checkpoint_size}")
    agreed = report.check("agreement")
    if agreed is not None:
        typer.echo(f"  agreement: {agreed.detail}")


@app.command("agree")
def agree(
    artifact_id: str = typer.Argument(..., help="Artifact id."),
    purpose: str = typer.Option(..., "--purpose", help="Declared purpose of use, e.g. train, evaluate, research."),
    action: str = typer.Option("use", "--action", help="Policy action agreed to: use (what a pull needs), train, evaluate, derive."),
    home: Path | None = HomeOpt,
) -> None:
    """Sign the artifact's usage policy (a DSSE envelope with your artifact key); the coordinator
    checks it against the policy and logs it as an `agreement` entry (a consumption receipt)."""
    from synthspace.agreement import ACTIONS_AGREEABLE, sign_agreement
    from synthspace.node.catalog import Consumer, policy_in_force
    from synthspace.node.cli_support import open_home
    from synthspace.node.coordinator_client import CoordinatorClient

    if action not in ACTIONS_AGREEABLE:
        raise typer.BadParameter(f"--action must be one of {', '.join(ACTIONS_AGREEABLE)}")
    node = open_home(home)
    consumer = Consumer.for_home(node)
    with CoordinatorClient.for_home(node) as client:
        record = client.artifact(artifact_id)
        policy = policy_in_force(record)
        envelope = sign_agreement(
            consumer.artifact_key,
            artifact_id=artifact_id,
            policy_sha256=policy.digest(),
            org=consumer.org,
            purpose=purpose,
            action=action,  # type: ignore[arg-type]
        )
        receipt = client.agree(envelope.to_json())
    typer.echo(f"agreed: {receipt['org']} may {receipt['action']} {artifact_id} for purpose {receipt['purpose']!r}")
    typer.echo(f"  agreement {receipt['agreement_id']} logged at index {receipt['log_index']}")


@app.command("receipts")
def receipts(
    artifact_id: str = typer.Argument(..., help="Artifact id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines."),
    home: Path | None = HomeOpt,
) -> None:
    """Who agreed to use the artifact, for what and when (its publisher sees every agreement;
    other orgs see their own)."""
    from synthspace.node.cli_support import open_home
    from synthspace.node.coordinator_client import CoordinatorClient

    with CoordinatorClient.for_home(open_home(home)) as client:
        items = client.agreements(artifact_id)
    if as_json:
        for item in items:
            typer.echo(json.dumps(item))
        return
    if not items:
        typer.echo(f"no agreements logged for {artifact_id}")
    for a in items:
        typer.echo(
            f"{a['logged_at']}  {a['org']}  {a['action']}  purpose={a['purpose']}  "
            f"log index {a['log_index']}  agreement {a['agreement_id'][:16]}…"
        )


@app.command("derive")
def derive(
    parents: list[str] = typer.Argument(..., help="Parent artifact ids, or directories from `catalog pull`."),
    out: Path = typer.Option(..., "--out", help="New derivation directory."),
    title: str = typer.Option(..., "--title", help="Title of the derived set."),
    description: str = typer.Option("", "--description", help="Description."),
    tag: list[str] = typer.Option([], "--tag", help="Tag; repeat for more."),
    license: str | None = typer.Option(None, "--license", help="SPDX id (default: the parents' shared license)."),
    where: str | None = typer.Option(None, "--where", help="Row filter, a pandas query, e.g. \"persona_id != 'p1'\"."),
    columns: str | None = typer.Option(None, "--columns", help="Comma-separated columns to keep."),
    dedupe: bool = typer.Option(False, "--dedupe", help="Drop exact duplicate rows."),
    sample: int | None = typer.Option(None, "--sample", min=1, help="Keep a random sample of N rows."),
    seed: int = typer.Option(0, "--seed", help="Seed for --sample."),
    home: Path | None = HomeOpt,
) -> None:
    """Build a derived dataset from verified parents; publish it with `synthspace publish OUT`."""
    from rich.console import Console

    from synthspace.node.cli_support import open_auditor
    from synthspace.node.derive import Operations, derive_dataset

    ops = Operations(
        where=where,
        columns=[c.strip() for c in columns.split(",") if c.strip()] if columns else None,
        dedupe=dedupe,
        sample=sample,
        seed=seed,
    )
    console = Console(stderr=True, log_path=False)
    auditor = open_auditor(home=home)
    with console.status("deriving ...") as status:

        def progress(message: str) -> None:
            status.update(message)
            console.log(message)

        d = derive_dataset(
            auditor,
            parents,
            out,
            title=title,
            description=description,
            tags=tag,
            license=license,
            operations=ops,
            progress=progress,
        )
    typer.echo(f"derived {d.record_count} of {d.input_rows} rows from {len(d.parents)} verified parent(s) into {out}")
    for a in d.agreements or []:
        typer.echo(f"  derive agreement {a.agreement_id[:16]}… (log index {a.log_index}) for parent {a.artifact_id[:16]}…")
    typer.echo(f"next: synthspace publish {out}")


@app.command("retract")
def retract(
    artifact_id: str = typer.Argument(..., help="Artifact id of one of your org's artifacts."),
    reason: str = typer.Option(..., "--reason", help="Why it is withdrawn (recorded in the log)."),
    home: Path | None = HomeOpt,
) -> None:
    """Withdraw an artifact: a retract entry in the log; nothing is deleted."""
    from synthspace.node.cli_support import open_home
    from synthspace.node.publishing import retract as do_retract

    result = do_retract(open_home(home), artifact_id, reason)
    typer.echo(f"retracted {artifact_id}")
    if isinstance(result, dict) and result:
        typer.echo(json.dumps(result, indent=2, default=str))
