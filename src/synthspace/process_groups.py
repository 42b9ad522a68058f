"""Stopping the long-running processes synthspace starts (SuperLink, SuperNodes, servers).

Each such process is started in its own session (`start_new_session=True`), so its children
(Flower's SuperExec and ClientApp processes) share its process group and can be ended with
it: no orphan outlives a stop, and the ports it held are freed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from synthspace.errors import SynthspaceError


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def stop_process_group(
    process: subprocess.Popen[bytes], timeout: float = 15.0, *, graceful: bool = True
) -> int | None:
    """End `process` and every process left in its group; returns its exit code.

    SIGTERM first (when `graceful`) so it can deregister and flush, SIGKILL after `timeout`.
    """
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM if graceful else signal.SIGKILL)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    _signal_group(process.pid, signal.SIGKILL)  # children that stayed in the group
    return process.returncode


def read_log_text(path: Path) -> str:
    """A process log's text, or '' when it cannot be read (never raises)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


class ExecutableNotFound(SynthspaceError):
    """A program synthspace starts (e.g. flower-superlink) is not installed."""


def find_executable(name: str, hint: str) -> str:
    """Path of `name`, preferring the one beside this interpreter (the virtualenv's bin/)."""
    local = Path(sys.executable).parent / name
    if local.is_file():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise ExecutableNotFound(f"{name} not found: {hint}")
    return found


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process, with this interpreter's bin/ first on PATH.

    Flower's processes start further Flower programs by name (flower-superexec,
    flwr-clientapp, flwr-serverapp); when synthspace runs as `.venv/bin/python -m ...`
    without an activated virtualenv, those names are only found this way.
    """
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        path = bindir + (os.pathsep + path if path else "")
    return {**os.environ, "PATH": path, **(extra or {})}
