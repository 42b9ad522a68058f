"""The processes the demo starts: a book of them (mirrored to WORKDIR/processes.json so a later
`synthspace demo --stop` finds them) and the coordinator server process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from synthspace.demo.options import PROCESS_FILE, DemoError
from synthspace.local_servers import CoordinatorProcess, ServerStartError


@dataclass
class ProcessInfo:
    name: str
    pid: int
    started: float  # /proc start time in clock ticks, so a recycled pid is never mistaken for ours
    port: int | None = None
    log: str | None = None
    stopped: bool = False



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


def start_coordinator_server(home: Path, port: int, timeout: float = 90.0) -> CoordinatorProcess:
    """Start `synthspace coordinator serve --home HOME` on 127.0.0.1:PORT in its own process
    group (so `demo --stop` can end it later); wait for /healthz."""
    try:
        return CoordinatorProcess(home, port=port, new_session=True, drop_env=()).start(timeout)
    except ServerStartError as exc:
        raise DemoError(str(exc).split("\n", 1)[0]) from None
