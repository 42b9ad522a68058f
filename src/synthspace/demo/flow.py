"""The demo's flow: the order of the steps, the federated fine-tune, signals and cleanup."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthspace.coordinator.federated.federation import (
    RunOptions,
    run_federation,
    start_superlink,
)
from synthspace.coordinator.home import init_home
from synthspace.coordinator.runtime import Coordinator
from synthspace.coordinator.services.orgs import create_invite
from synthspace.demo.datasets import _checks, _generate_and_publish, _pull_and_audit
from synthspace.demo.display import Steps
from synthspace.demo.evaluation import evaluate_adapter
from synthspace.demo.options import (
    DATABASE_URL_ENV,
    LOG_ORIGIN,
    PROCESS_FILE,
    SUMMARY_FILE,
    DemoError,
    DemoOptions,
)
from synthspace.demo.plans import ORGS
from synthspace.demo.processes import ProcessBook, start_coordinator_server
from synthspace.demo.summary import DemoSummary, FederationResult
from synthspace.demo.workdir import prepare_workdir
from synthspace.local_servers import free_port, port_is_free
from synthspace.node.audit import Auditor
from synthspace.node.coordinator_client import CoordinatorClient
from synthspace.node.enrolment import enroll
from synthspace.node.federated.supernode import join
from synthspace.node.home import NodeHome

if TYPE_CHECKING:
    from rich.console import Console

@contextlib.contextmanager
def _sqlite_only() -> Iterator[None]:
    """The demo's coordinator is the embedded default (SQLite in its home) even when the shell
    points SYNTHSPACE_DATABASE_URL at a production database."""
    saved = os.environ.pop(DATABASE_URL_ENV, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[DATABASE_URL_ENV] = saved


class _Interrupts:
    """Ctrl-C / SIGTERM: stop every recorded process at once, then unwind with KeyboardInterrupt.

    The unwinding may wait for the model's current batch (it runs in a worker thread that cannot
    be cancelled); the processes are already stopped by then, and a watchdog ends the demo
    after `grace` seconds (the generation run directory resumes cleanly next time).
    """

    def __init__(self, book: ProcessBook, console: Console, grace: float = 15.0) -> None:
        self.book, self.console, self.grace = book, console, grace
        self.previous: dict[int, Any] = {}
        self.fired = False

    def __enter__(self) -> _Interrupts:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: object) -> None:
        if self.fired:
            raise KeyboardInterrupt
        self.fired = True

        self.console.print("[yellow]interrupted: stopping every process the demo started ...[/yellow]")
        try:
            self.book.stop_all()
        finally:
            timer = threading.Timer(self.grace, self._force_exit)
            timer.daemon = True
            timer.start()
        raise KeyboardInterrupt

    def _force_exit(self) -> None:
        self.console.show_cursor(True)
        self.console.print("[yellow]interrupted: every process the demo started was stopped[/yellow]")
        os._exit(130)


def run_demo(options: DemoOptions, console: Console) -> DemoSummary:
    """Run the whole demo; stops every process it started unless `options.keep_running`.

    Ctrl-C (or SIGTERM) stops them at once and raises KeyboardInterrupt.
    """
    options.validate()
    wall_start = time.perf_counter()
    workdir = prepare_workdir(options.workdir, options.keep_workdir)
    summary = DemoSummary(
        workdir=str(workdir),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        small=options.small,
        records_per_org=options.records_per_org,
    )
    book = ProcessBook(workdir / PROCESS_FILE)
    steps = Steps(console)
    finished = False
    try:
        with _sqlite_only(), _Interrupts(book, console):
            _flow(options, workdir, summary, book, steps)
        finished = True
    finally:
        summary.steps = steps.timings
        if finished and options.keep_running:
            summary.kept_running = True
            summary.stop_command = f"synthspace demo --stop --workdir {workdir}"
        else:
            with console.status("stopping the processes the demo started ..."):
                book.stop_all()
        summary.processes = book.entries
        summary.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
        summary.wall_seconds = round(time.perf_counter() - wall_start, 1)
        (workdir / SUMMARY_FILE).write_text(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if options.json_summary is not None:
            options.json_summary.parent.mkdir(parents=True, exist_ok=True)
            options.json_summary.write_text(
                json.dumps(summary.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
    return summary


def _flow(options: DemoOptions, workdir: Path, summary: DemoSummary, book: ProcessBook, steps: Steps) -> None:
    coord_home = workdir / "coordinator"
    n = options.records_per_org

    # 1. The coordinator: home (keys, SQLite, blobs) and a real server process.
    with steps.step("coordinator: create home (log key, SQLite database, blob store)"):
        settings = init_home(coord_home, log_origin=LOG_ORIGIN)
        summary.coordinator_home = str(settings.home)
        summary.database_url = settings.resolved_database_url()
    with steps.step("coordinator: serve the HTTP API and web catalog") as say:
        port = options.port or free_port()
        if not port_is_free(port):
            raise DemoError(f"port {port} on 127.0.0.1 is in use; pick another with --port or leave it unset")
        say(f"starting on 127.0.0.1:{port}")
        server = start_coordinator_server(settings.home, port)
        assert server.proc is not None  # start() returned, so the process runs
        server_pid = server.proc.pid
        book.add("coordinator", server_pid, server.stop, port=port, log=server.log_path)
        summary.coordinator_url, summary.coordinator_port = server.url, port
        summary.web_catalog_url = f"{server.url}/catalog"
    steps.note(f"coordinator {server.url} (pid {server_pid}), database {summary.database_url}")

    # 2. Invite and enrol two organisations; each pins the log key handed over out of band.
    homes: dict[str, NodeHome] = {}
    with steps.step("invite and enrol two organisations") as say:
        coord = Coordinator.open(settings, migrate=False, verify=False)
        try:
            summary.log_verifier_key = coord.log.verifier_key()
            tokens = {}
            with coord.session() as session:
                for plan in ORGS:
                    tokens[plan.org], _ = create_invite(session, plan.org, 3600)
        finally:
            coord.close()
        for plan in ORGS:
            say(plan.org)
            home = NodeHome(workdir / "nodes" / plan.org)
            if not home.exists():
                home = NodeHome.init(home.path, plan.org, server.url, supernode_key=True)
            config = home.config()
            if config.coordinator_url != server.url:  # --keep-workdir with a new port
                home.save_config(config.model_copy(update={"coordinator_url": server.url}))
            if not home.config().enrolled:
                enroll(home, tokens[plan.org], verifier_key=summary.log_verifier_key)
            homes[plan.org] = home
    for plan in ORGS:
        steps.note(f"{plan.org}: node home {homes[plan.org].path}")

    # 3.-6. Each org: personas, generation from its own private seeds, gates, publish.
    summary.orgs = _generate_and_publish(homes, workdir, n, options.torch_threads, steps)

    # 7. Browse the catalog.
    with steps.step("list the catalog"):
        with CoordinatorClient.for_home(homes[ORGS[1].org]) as client:
            items = list(client.iter_artifacts(max_items=50))
        summary.catalog = [
            {"artifact_id": a.artifact_id, "org": a.org, "kind": a.kind, "title": a.title,
             "records": a.record_count, "locale": a.locale, "task": a.task}
            for a in items
        ]  # fmt: skip
    for a in summary.catalog:
        steps.note(f"{a['artifact_id'][:16]}…  {a['org']:<16} {a['kind']:<14} {a['records'] or '-':>4} records  {a['title']}")

    # 8. Each org pulls and audits the OTHER org's artifact.
    summary.pulls = _pull_and_audit(homes, summary.orgs, workdir, steps)

    # 9.-10. Federated LoRA fine-tune over both orgs' data; the adapter is published and audited.
    summary.federation = _federate(options, settings.home, homes, summary, book, steps)

    # 10b. One org scores the adapter against the shipped benchmark (base model alongside) and
    # publishes the signed evaluation; the other org audits it.
    summary.evaluation = evaluate_adapter(options, homes, summary.federation, workdir, steps)

    # 11. The log as an auditor sees it.
    with steps.step("save the log's signed checkpoint"):
        with CoordinatorClient.for_home(homes[ORGS[0].org]) as client:
            summary.log_size = client.health().log_size
            note = client.checkpoint()
        cp = workdir / "checkpoint.txt"
        cp.write_text(note, encoding="utf-8")
        summary.checkpoint_path = str(cp)


def _federate(
    options: DemoOptions, coord_home: Path, homes: dict[str, Any], summary: DemoSummary, book: ProcessBook, steps: Steps
) -> FederationResult:
    with steps.step("federation: start Flower SuperLink (TLS, SuperNode authentication)"):
        link = start_superlink(coord_home, port=free_port())
        book.add("superlink", link.pid, link.stop, port=link.port, log=link.log_path)
    steps.note(f"SuperLink {link.address} (pid {link.pid}), CA {link.ca_cert}")
    own = {o.org: o for o in summary.orgs}
    pulled = {p.by: p for p in summary.pulls}
    for plan in ORGS:
        with steps.step(f"{plan.org}: join with a SuperNode (own data + verified pull)"):
            data = [own[plan.org].bundle_dir, pulled[plan.org].bundle_dir]
            sn = join(
                homes[plan.org].path, superlink=link.address, ca_cert=link.ca_cert, data=data,
                torch_threads=options.torch_threads,
            )  # fmt: skip
            book.add(f"supernode:{plan.org}", sn.pid, sn.stop, log=sn.log_path)
        steps.note(f"{plan.org}: SuperNode {sn.node_id} (pid {sn.pid})")
    run_options = RunOptions(
        rounds=options.rounds,
        min_nodes=len(ORGS),
        local_steps=options.steps_per_round,
        max_seq_len=64 if options.small else 96,
        evaluate="final",
        publish=True,
        title="Demo LoRA adapter (kanagawa-legal + osaka-support)",
        description="Federated LoRA fine-tune of the bundled SmolLM2-135M-Instruct on both demo organisations' synthetic sets.",
    )
    with steps.step(f"federated LoRA fine-tune: {options.rounds} rounds × {options.steps_per_round} local steps, FedAvg") as say:

        def on_event(event: Any) -> None:
            if event.kind == "round":
                steps.note(event.message)
            say(f"run {event.run_id}: {event.status}")

        record = run_federation(coord_home, run_options, on_event=on_event, timeout=1800)
    if not record.get("artifact_id"):
        raise DemoError(f"federated run {record['run_id']} finished without publishing its adapter: {record['status_detail']}")
    run_dir = Path(coord_home) / "federation" / "runs" / str(record["run_id"])
    with steps.step("audit the adapter and its lineage back to both datasets") as say:
        auditor = Auditor.for_home(homes[ORGS[0].org])
        auditor.refresh()
        report = auditor.audit_artifact(record["artifact_id"], lineage=True)
    assert report.statement is not None
    first = report.first_failure()
    training = report.statement.predicate.training
    steps.note(
        f"adapter {record['artifact_id']} audit {'[green]passed[/green]' if report.ok else '[red]FAILED[/red]'}; "
        f"parents: {', '.join(p.artifact_id[:16] + '…' for p in report.statement.predicate.parents)}"
    )
    return FederationResult(
        run_id=str(record["run_id"]), status=record["status"], rounds=int(record["rounds_completed"]),
        participants=list(training.participants if training else record["participants"]),
        final_metrics={k: float(v) for k, v in record["final_metrics"].items() if isinstance(v, (int, float))},
        artifact_id=record["artifact_id"], log_index=int(record["log_index"]),
        adapter_path=str(run_dir / "adapter.safetensors"), envelope_path=str(run_dir / "envelope.json"),
        subject_sha256=report.statement.subject[0].digest.sha256,
        parents=[p.artifact_id for p in report.statement.predicate.parents],
        audit_ok=report.ok, audit_first_failure=first.name if first else None, audit_checks=_checks(report),
        parent_audits={p.artifact_id or p.target: p.ok for p in report.parents}, superlink=link.address,
    )  # fmt: skip
