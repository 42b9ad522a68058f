"""A throwaway Ray cluster on 127.0.0.1 for tests: a head and worker nodes, each a `ray start --block`
process in its own process group, with its own temp dir and free ports so parallel sessions on one
machine never share a cluster. Stopped by process group (never `ray stop`, which would stop every
Ray cluster on the machine)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthspace.local_servers import free_port, free_ports

RAY = str(Path(sys.executable).with_name("ray"))


def _node_ports() -> list[str]:
    # Every port Ray would otherwise take at a fixed default, so two clusters can coexist.
    flags = ["--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
             "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port"]
    return [x for flag, port in zip(flags, free_ports(len(flags)), strict=True) for x in (flag, str(port))]


class LocalRayCluster:
    """`with LocalRayCluster(workers=1) as c:` then `c.address` ("127.0.0.1:PORT")."""

    def __init__(self, workers: int = 1, head_cpus: int = 1, worker_cpus: int = 1, env: dict[str, str] | None = None) -> None:
        self.workers, self.head_cpus, self.worker_cpus = workers, head_cpus, worker_cpus
        self.env = dict(env or os.environ)
        self.env["RAY_USAGE_STATS_ENABLED"] = "0"
        # Workers import synthspace from the tree under test.
        src = str(Path(__file__).resolve().parents[3] / "src")
        self.env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [self.env.get("PYTHONPATH")])])
        self.temp_dir = tempfile.mkdtemp(prefix="ssray", dir="/tmp")  # short: Ray's socket paths
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.head: subprocess.Popen[bytes] | None = None
        self.nodes: list[subprocess.Popen[bytes]] = []
        self._logs: list[Path] = []

    def _start(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        log = Path(self.temp_dir) / f"{name}.log"
        self._logs.append(log)
        with log.open("wb") as fh:
            return subprocess.Popen(
                [RAY, "start", "--block", "--node-ip-address", "127.0.0.1", "--disable-usage-stats", *args],
                stdout=fh, stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
            )

    def _wait_started(self, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if "Ray runtime started" in log.read_text(errors="replace"):
                return
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"ray node did not start:\n{log.read_text(errors='replace')[-3000:]}")

    def start(self) -> LocalRayCluster:
        try:
            self.head = self._start(
                ["--head", "--port", str(self.port), "--num-cpus", str(self.head_cpus), "--include-dashboard=false",
                 "--dashboard-port", str(free_port()), "--ray-client-server-port", str(free_port()),
                 "--temp-dir", self.temp_dir, *_node_ports()],
                "head",
            )
            self._wait_started(self.head, self._logs[-1])
            for i in range(self.workers):
                self.add_worker(i)
            self.wait_for_nodes(1 + self.workers)
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self, i: int) -> subprocess.Popen[bytes]:
        proc = self._start(["--address", self.address, "--num-cpus", str(self.worker_cpus), *_node_ports()], f"worker{i}")
        self.nodes.append(proc)
        self._wait_started(proc, self._logs[-1])
        return proc

    def wait_for_nodes(self, n: int, timeout: float = 60) -> None:
        code = (
            "import ray,time,sys\n"
            f"ray.init(address={self.address!r}, logging_level='ERROR', log_to_driver=False)\n"
            f"end=time.monotonic()+{timeout}\n"
            f"while sum(x['Alive'] for x in ray.nodes())<{n} and time.monotonic()<end: time.sleep(0.2)\n"
            f"sys.exit(0 if sum(x['Alive'] for x in ray.nodes())>={n} else 1)\n"
        )
        r = subprocess.run([sys.executable, "-c", code], env=self.env, capture_output=True, text=True, timeout=timeout + 60)
        if r.returncode != 0:
            raise RuntimeError(f"ray cluster has fewer than {n} live nodes: {r.stderr[-2000:]}")

    @staticmethod
    def kill_node(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL, grace: float = 10.0) -> None:
        """Stop one node: its `ray start` process and everything it spawned (one process group)."""
        if proc.poll() is None or _group_alive(proc.pid, proc):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
        end = time.monotonic() + grace
        while _group_alive(proc.pid, proc) and time.monotonic() < end:
            time.sleep(0.1)
        if _group_alive(proc.pid, proc):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            while _group_alive(proc.pid, proc) and time.monotonic() < end + 10:
                time.sleep(0.1)
        proc.wait()

    def stop(self) -> None:
        for proc in [*self.nodes, *([self.head] if self.head else [])]:
            self.kill_node(proc, signal.SIGTERM, grace=5.0)
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def leftover_processes(self) -> list[str]:
        """Command lines of processes that still mention this cluster's temp dir or port."""
        out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
        port = re.compile(rf":{self.port}(?!\d)")
        return [line for line in out.splitlines()[1:] if self.temp_dir in line or port.search(line)]

    def __enter__(self) -> LocalRayCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _group_alive(pgid: int, proc: subprocess.Popen[bytes] | None = None) -> bool:
    if proc is not None:
        proc.poll()  # reap the group leader, or it stays a zombie member of the group
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
