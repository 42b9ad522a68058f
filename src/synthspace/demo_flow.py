"""`synthspace demo`: one coordinator, two organisations, the whole data space on one machine.

Orchestration only. Every step calls the Python API that the matching CLI command calls
(`coordinator init/invite`, `node init/enroll`, `personas sample`, `generate`, `gate`,
`publish`, `catalog list/pull`, `audit`, `federate superlink/run`, `node join`); the coordinator
runs as its own `synthspace coordinator serve` process because a real server on a real socket
is the point. This module only decides the order, the paths and the sizes, keeps track of the
processes it started (so they are stopped at the end, on Ctrl-C, or by a later
`synthspace demo --stop`), and collects what happened into a `DemoSummary`.

It lives in the composition root (`synthspace`, next to the CLI) because it is the one place
that wires `synthspace.node` and `synthspace.coordinator` together.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthspace.errors import SynthspaceError

if TYPE_CHECKING:
    from rich.console import Console

MARKER_FILE = ".synthspace-demo"
PROCESS_FILE = "processes.json"
SUMMARY_FILE = "summary.json"
DATABASE_URL_ENV = "SYNTHSPACE_DATABASE_URL"
LOG_ORIGIN = "demo.synthspace.local/log"
GENERATION_ATTEMPTS = 3  # runs per org before the demo gives up on a blocking gate


class DemoError(SynthspaceError):
    """The demo cannot start or a step of it failed; the message names the step and the fix."""


class WorkdirError(DemoError):
    """The work directory is not one the demo may use (or wipe)."""


@dataclass(frozen=True)
class OrgPlan:
    """One demo organisation: its name, the example recipe and the private seeds it uses."""

    org: str
    recipe: str  # file name under synthspace/node/examples
    seeds: str
    title: str
    persona_seed: int
    # Demo sizing: shorter output fields for the embedded 135M model, whose English tokenizer
    # spends ~2.5 tokens per Japanese character (measured: 1,234 tokens per full-length record).
    max_lengths: tuple[tuple[str, int], ...] = ()
    max_tokens: int | None = None


ORGS: tuple[OrgPlan, ...] = (
    OrgPlan(
        org="kanagawa-legal",
        recipe="ja_legal_qa.yaml",
        seeds="ja_legal_qa_seeds.jsonl",
        title="架空法令Q&A (kanagawa-legal demo)",
        persona_seed=14,
        max_lengths=(("question", 60), ("answer", 120), ("cited_article", 30)),
        max_tokens=700,
    ),
    OrgPlan(
        org="osaka-support",
        recipe="en_support.yaml",
        seeds="en_support_seeds.jsonl",
        title="Kettle support dialogues (osaka-support demo)",
        persona_seed=27,
    ),
)


@dataclass
class DemoOptions:
    """What `synthspace demo` was asked to do."""

    workdir: Path = Path("demo-out")
    records: int | None = None  # per org; None = 8 (or 3 with `small`)
    small: bool = False
    rounds: int = 2
    local_steps: int | None = None  # None = 4 (or 1 with `small`)
    keep_running: bool = False
    keep_workdir: bool = False
    port: int | None = None  # coordinator port; None = a free one
    json_summary: Path | None = None
    threads: int | None = None  # torch threads per process; None = half the cores (at least 1)

    @property
    def torch_threads(self) -> int:
        # Half the cores: the two ClientApps train at the same time, and torch's intra-op threads
        # on an oversubscribed CPU slow generation down tenfold (measured on the 2-core box).
        return self.threads if self.threads is not None else max(1, (os.cpu_count() or 2) // 2)

    @property
    def records_per_org(self) -> int:
        return self.records if self.records is not None else (3 if self.small else 8)

    @property
    def steps_per_round(self) -> int:
        return self.local_steps if self.local_steps is not None else (1 if self.small else 4)

    def validate(self) -> None:
        if self.records_per_org < 1:
            raise DemoError(f"--records must be at least 1, got {self.records_per_org}")
        if self.rounds < 1:
            raise DemoError(f"--rounds must be at least 1, got {self.rounds}")
        if self.steps_per_round < 1:
            raise DemoError(f"--local-steps must be at least 1, got {self.steps_per_round}")
        if self.torch_threads < 1:
            raise DemoError(f"--threads must be at least 1, got {self.torch_threads}")
        if self.port is not None and not 0 < self.port < 65536:
            raise DemoError(f"--port must be between 1 and 65535, got {self.port}")


# ---- summary ------------------------------------------------------------------------------


@dataclass
class ProcessInfo:
    name: str
    pid: int
    started: float  # /proc start time in clock ticks, so a recycled pid is never mistaken for ours
    port: int | None = None
    log: str | None = None
    stopped: bool = False


@dataclass
class OrgResult:
    org: str
    home: str
    recipe: str
    personas_path: str
    personas: int
    run_dir: str
    records: int
    dropped: dict[str, int]
    gates_passed: bool
    gates: dict[str, str]  # gate name -> pass | FAIL | warn
    artifact_id: str
    log_index: int
    bundle_dir: str
    data_path: str
    envelope_path: str
    subject_sha256: str
    blocked_runs: list[dict[str, Any]] = field(default_factory=list)  # runs a blocking gate kept home


@dataclass
class PullResult:
    by: str  # the org that pulled
    artifact_id: str
    publisher: str
    bundle_dir: str
    data_path: str
    audit_ok: bool
    first_failure: str | None
    checks: dict[str, str]


@dataclass
class FederationResult:
    run_id: str
    status: str
    rounds: int
    participants: list[str]
    final_metrics: dict[str, float]
    artifact_id: str
    log_index: int
    adapter_path: str
    envelope_path: str
    subject_sha256: str
    parents: list[str]
    audit_ok: bool
    audit_first_failure: str | None
    audit_checks: dict[str, str]
    parent_audits: dict[str, bool]
    superlink: str


@dataclass
class DemoSummary:
    """Every claim the demo makes about what it did; written with --json-summary."""

    workdir: str
    started_at: str
    finished_at: str = ""
    wall_seconds: float = 0.0
    small: bool = False
    records_per_org: int = 0
    coordinator_url: str = ""
    coordinator_home: str = ""
    coordinator_port: int = 0
    web_catalog_url: str = ""
    database_url: str = ""
    log_verifier_key: str = ""
    log_size: int = 0
    checkpoint_path: str = ""
    catalog: list[dict[str, Any]] = field(default_factory=list)
    orgs: list[OrgResult] = field(default_factory=list)
    pulls: list[PullResult] = field(default_factory=list)
    federation: FederationResult | None = None
    processes: list[ProcessInfo] = field(default_factory=list)
    kept_running: bool = False
    stop_command: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- processes ----------------------------------------------------------------------------


def _proc_start_time(pid: int) -> float | None:
    """Start time of `pid` (clock ticks since boot), or None if no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return None
        return 0.0  # no /proc (not Linux): the pid exists, identity not checkable
    # Field 22 after the parenthesised command name (which may hold spaces).
    return float(stat.rsplit(")", 1)[1].split()[19])


def process_alive(info: ProcessInfo) -> bool:
    """Whether the process recorded in `info` still runs (the same process, not a reused pid)."""
    started = _proc_start_time(info.pid)
    if started is None:
        return False
    if started and info.started and started != info.started:
        return False
    try:
        state = Path(f"/proc/{info.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state != "Z"


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def stop_recorded(info: ProcessInfo, timeout: float = 15.0) -> None:
    """Stop a process this demo started (each runs as its own process-group leader)."""
    if process_alive(info):
        _kill_group(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process_alive(info):
            time.sleep(0.1)
    _kill_group(info.pid, signal.SIGKILL)  # and whatever stayed in its group
    info.stopped = True


class ProcessBook:
    """The processes this demo started, mirrored to WORKDIR/processes.json as they change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[ProcessInfo] = []
        self._stoppers: dict[int, Callable[[], object]] = {}

    def add(self, name: str, pid: int, stop: Callable[[], object], *, port: int | None = None, log: Path | None = None) -> ProcessInfo:
        info = ProcessInfo(name=name, pid=pid, started=_proc_start_time(pid) or 0.0, port=port, log=str(log) if log else None)
        self.entries.append(info)
        self._stoppers[pid] = stop
        self.save()
        return info

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(e) for e in self.entries], indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def stop_all(self) -> None:
        """Stop in reverse start order (SuperNodes, SuperLink, then the coordinator)."""
        for info in reversed(self.entries):
            if info.stopped:
                continue
            stopper = self._stoppers.get(info.pid)
            try:
                if stopper is not None:
                    stopper()
            finally:
                stop_recorded(info)
                self.save()

    @staticmethod
    def load(path: Path) -> list[ProcessInfo]:
        if not path.is_file():
            return []
        try:
            return [ProcessInfo(**e) for e in json.loads(path.read_text(encoding="utf-8"))]
        except (ValueError, TypeError):
            return []


def stop_demo(workdir: Path) -> list[ProcessInfo]:
    """Stop the processes a `--keep-running` demo left in `workdir`; returns those it stopped."""
    path = Path(workdir) / PROCESS_FILE
    entries = ProcessBook.load(path)
    stopped = []
    for info in reversed(entries):
        if not info.stopped and process_alive(info):
            stop_recorded(info)
            stopped.append(info)
        info.stopped = True
    if entries:
        path.write_text(json.dumps([asdict(e) for e in entries], indent=2) + "\n", encoding="utf-8")
    return stopped


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class ServerProcess:
    """`synthspace coordinator serve` as a child process in its own process group."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is None:
            _kill_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and listening(self.port):
            time.sleep(0.1)


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:PORT."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def start_coordinator_server(home: Path, port: int, timeout: float = 90.0) -> ServerProcess:
    """Start `synthspace coordinator serve --home HOME` on 127.0.0.1:PORT; wait for /healthz."""
    import httpx

    log_path = home / "server.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "synthspace.cli.main", "coordinator", "serve", "--home", str(home),
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    server = ServerProcess(proc, port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"the coordinator exited with code {proc.returncode} while starting; see {log_path}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise DemoError(f"the coordinator did not answer on {server.url} within {timeout:.0f} s; see {log_path}")


# ---- the work directory -------------------------------------------------------------------


def prepare_workdir(workdir: Path, keep: bool) -> Path:
    """Make WORKDIR ready: stop a previous demo's processes, then wipe it (unless `keep`).

    Only a directory the demo made (it holds MARKER_FILE) or an empty one is ever wiped.
    """
    workdir = workdir.expanduser().resolve()
    if workdir.exists() and not workdir.is_dir():
        raise WorkdirError(f"{workdir} exists and is not a directory; pass another --workdir")
    if workdir.is_dir() and any(workdir.iterdir()) and not (workdir / MARKER_FILE).is_file():
        raise WorkdirError(
            f"{workdir} is not empty and was not made by `synthspace demo`; refusing to use it "
            "(pass an empty or new --workdir)"
        )
    stop_demo(workdir)  # a previous --keep-running demo here: its processes hold the ports and files
    if workdir.is_dir() and not keep:
        for child in workdir.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER_FILE).write_text("made by `synthspace demo`; wiped by its next run\n", encoding="utf-8")
    return workdir


def examples_dir() -> Path:
    import synthspace.node.examples as examples

    return Path(examples.__file__).resolve().parent


def demo_recipe(plan: OrgPlan, out: Path, sampling_seed_offset: int = 0) -> Path:
    """The org's example recipe with the demo's sizing applied, written to `out` (YAML).

    The run's lineage records the digest of exactly this recipe.
    """
    import yaml

    from synthspace.node.recipes.loading import load_recipe
    from synthspace.node.recipes.models import Recipe

    data = load_recipe(examples_dir() / plan.recipe).model_dump(mode="json", exclude_none=True)
    limits = dict(plan.max_lengths)
    for f in data["output_fields"]:
        if f["name"] in limits:
            f["max_length"] = limits[f["name"]]
            f["min_length"] = min(f.get("min_length", 1), limits[f["name"]])
    if plan.max_tokens is not None:
        data["sampling"]["max_tokens"] = plan.max_tokens
    data["sampling"]["seed"] = int(data["sampling"].get("seed", 0)) + 1000 * sampling_seed_offset
    Recipe.model_validate(data)  # the same checks a recipe file gets
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


# ---- the display --------------------------------------------------------------------------


class Steps:
    """A rich status line per step, a tick with its duration when it ends."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.timings: list[dict[str, Any]] = []
        self.number = 0

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[Callable[[str], None]]:
        self.number += 1
        label = f"[{self.number:>2}] {title}"
        started = time.perf_counter()
        ok = False
        with self.console.status(label, spinner="dots") as status:

            def update(message: str) -> None:
                status.update(f"{label}: {message}")

            try:
                yield update
                ok = True
            finally:
                seconds = time.perf_counter() - started
                self.timings.append({"step": title, "seconds": round(seconds, 2), "ok": ok})
        mark = "[green]✓[/green]" if ok else "[red]✗[/red]"
        self.console.print(f"{mark} {label} [dim]({seconds:.1f} s)[/dim]")

    def note(self, text: str) -> None:
        self.console.print(f"     {text}", highlight=False)


def _gen_message(p: Any) -> str:
    rate = p.session_completed / p.elapsed if p.elapsed > 0 else 0.0
    toks = p.session_tokens / p.elapsed if p.elapsed > 0 else 0.0
    return (
        f"{p.completed}/{p.requested} records ({rate:.2f} rec/s, {toks:.0f} tok/s), "
        f"{p.retries} retried, {p.dropped} dropped"
    )


def _gen_progress(say: Callable[[str], None]) -> Callable[[Any], None]:
    def progress(p: Any) -> None:
        say(_gen_message(p))

    return progress


# ---- the flow -----------------------------------------------------------------------------


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
        import threading

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
    from synthspace.coordinator.home import init_home
    from synthspace.coordinator.runtime import Coordinator
    from synthspace.coordinator.services.orgs import create_invite
    from synthspace.node.enrolment import enroll
    from synthspace.node.home import NodeHome

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
        book.add("coordinator", server.process.pid, server.stop, port=port, log=server.log_path)
        summary.coordinator_url, summary.coordinator_port = server.url, port
        summary.web_catalog_url = f"{server.url}/catalog"
    steps.note(f"coordinator {server.url} (pid {server.process.pid}), database {summary.database_url}")

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
        from synthspace.node.coordinator_client import CoordinatorClient

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

    # 11. The log as an auditor sees it.
    with steps.step("save the log's signed checkpoint"):
        from synthspace.node.coordinator_client import CoordinatorClient

        with CoordinatorClient.for_home(homes[ORGS[0].org]) as client:
            summary.log_size = client.health().log_size
            note = client.checkpoint()
        cp = workdir / "checkpoint.txt"
        cp.write_text(note, encoding="utf-8")
        summary.checkpoint_path = str(cp)


def _generate_and_publish(homes: dict[str, Any], workdir: Path, n: int, threads: int, steps: Steps) -> list[OrgResult]:
    from synthspace.node.gates import run_gates
    from synthspace.node.generate import run_generation
    from synthspace.node.generate.backends import get_backend
    from synthspace.node.personas import create_persona_set
    from synthspace.node.publishing import publish_run

    examples = examples_dir()
    persona_count = max(8, n)
    personas: dict[str, Any] = {}
    with steps.step(f"sample {persona_count} ja_JP personas per organisation (census Bayesian network)"):
        for plan in ORGS:
            out = workdir / "nodes" / plan.org / "work" / "personas-ja_JP.parquet"
            out.parent.mkdir(parents=True, exist_ok=True)
            personas[plan.org] = create_persona_set("ja_JP", persona_count, out, seed=plan.persona_seed)
    with steps.step("load the bundled model (SmolLM2-135M-Instruct, transformers, CPU)"):
        # One loaded copy serves both orgs: they share this machine in the demo.
        backend = get_backend("transformers", device="cpu", batch_size=max(1, min(n, 8)), threads=threads)
        info = backend.info()
    steps.note(f"model {info.model_id} {str(getattr(info, 'model_digest', '') or '')[:23]}")
    results: list[OrgResult] = []
    for plan in ORGS:
        home = homes[plan.org]
        work = workdir / "nodes" / plan.org / "work"
        blocked: list[dict[str, Any]] = []
        for attempt in range(1, GENERATION_ATTEMPTS + 1):
            # A blocked run never leaves the node; the next attempt draws new samples.
            run_dir = work / ("run" if attempt == 1 else f"run-{attempt}")
            recipe = demo_recipe(plan, work / f"attempt-{attempt}-{plan.recipe}", sampling_seed_offset=attempt - 1)
            again = f" (attempt {attempt}/{GENERATION_ATTEMPTS}, new sampling seed)" if attempt > 1 else ""
            with steps.step(f"{plan.org}: generate {n} records ({plan.recipe}, private seeds {plan.seeds}){again}") as say:
                manifest = run_generation(
                    recipe, examples / plan.seeds, run_dir, personas=personas[plan.org].path,
                    backend=backend, limit=n, home=home.path, flush_interval=5.0,
                    progress=_gen_progress(say),
                )  # fmt: skip
            steps.note(f"{manifest.completed}/{manifest.requested} records in {run_dir}" + (
                f", dropped {dict(manifest.dropped)}" if manifest.dropped else ""))  # fmt: skip
            if manifest.completed == 0:
                raise DemoError(f"{plan.org}: the model produced no valid record ({dict(manifest.dropped)}); see {run_dir}")
            with steps.step(f"{plan.org}: privacy and quality gates") as say:
                report = run_gates(run_dir, progress=say)
            verdicts = {
                g.name: "pass" if g.passed else ("FAIL" if g.blocking else "warn") for g in report.gates
            }
            steps.note(", ".join(f"{k} {v}" for k, v in verdicts.items()))
            if report.passed:
                break
            blocked.append({"run_dir": str(run_dir), "failed": list(report.failed_blocking)})
            steps.note(
                f"[yellow]blocked[/yellow]: {', '.join(report.failed_blocking)} failed, so this run stays on the "
                f"node (see {run_dir / 'gate-report.json'})"
            )
        else:
            raise DemoError(
                f"{plan.org}: blocking gate(s) failed in all {GENERATION_ATTEMPTS} runs "
                f"({'; '.join(', '.join(b['failed']) for b in blocked)}); nothing was published "
                f"(see {work}/run*/gate-report.json)"
            )
        with steps.step(f"{plan.org}: sign (DSSE) and publish to the catalog (RFC 9421)") as say:
            result = publish_run(home, run_dir, title=plan.title, tags=["demo"], progress=say)
        data_path = Path(result.data_path)
        steps.note(f"artifact {result.artifact_id} at log index {result.log_index}")
        results.append(
            OrgResult(
                org=plan.org, home=str(home.path), recipe=plan.recipe,
                personas_path=str(personas[plan.org].path), personas=personas[plan.org].source.count,
                run_dir=str(run_dir), records=result.statement.predicate.record_count or 0,
                dropped=dict(manifest.dropped), gates_passed=report.passed, gates=verdicts, blocked_runs=blocked,
                artifact_id=result.artifact_id, log_index=result.log_index, bundle_dir=str(result.bundle_dir),
                data_path=str(data_path), envelope_path=str(Path(result.bundle_dir) / "envelope.json"),
                subject_sha256=result.statement.subject[0].digest.sha256,
            )
        )  # fmt: skip
    return results


def _checks(report: Any) -> dict[str, str]:
    return {c.name: c.status for c in report.ordered()}


def _pull_and_audit(homes: dict[str, Any], orgs: list[OrgResult], workdir: Path, steps: Steps) -> list[PullResult]:
    from synthspace.node.audit import Auditor
    from synthspace.node.catalog import pull

    pulls: list[PullResult] = []
    for me, other in ((orgs[0], orgs[1]), (orgs[1], orgs[0])):
        out = workdir / "nodes" / me.org / "pulled" / other.artifact_id[:16]
        with steps.step(f"{me.org}: pull and audit {other.org}'s artifact") as say:
            auditor = Auditor.for_home(homes[me.org])
            say("verifying signature, key, digest, log inclusion, checkpoint")
            pulled = pull(auditor, other.artifact_id, out)
            say("auditing with its lineage")
            report = auditor.audit_artifact(other.artifact_id, lineage=True)
        assert pulled.statement is not None
        first = report.first_failure()
        pulls.append(
            PullResult(
                by=me.org, artifact_id=other.artifact_id, publisher=other.org, bundle_dir=str(out),
                data_path=str(out / pulled.statement.subject[0].name), audit_ok=report.ok,
                first_failure=first.name if first else None, checks=_checks(report),
            )
        )  # fmt: skip
        steps.note(
            f"audit {'[green]passed[/green]' if report.ok else '[red]FAILED[/red]'}: "
            + ", ".join(f"{k} {v}" for k, v in _checks(report).items())
        )
    return pulls


def _federate(
    options: DemoOptions, coord_home: Path, homes: dict[str, Any], summary: DemoSummary, book: ProcessBook, steps: Steps
) -> FederationResult:
    from synthspace.coordinator.federated.federation import (
        RunOptions,
        run_federation,
        start_superlink,
    )
    from synthspace.node.audit import Auditor
    from synthspace.node.federated.supernode import join

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
