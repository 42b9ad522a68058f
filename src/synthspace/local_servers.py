"""Ports and readiness of local server processes, written once for the demo, the Flower
wrappers, the tests and the benchmarks (127.0.0.1 unless a host is given)."""

from __future__ import annotations

import socket
import subprocess
import time

__all__ = ["free_port", "listening", "port_is_free", "wait_for_http"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on HOST:PORT."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def wait_for_http(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60.0) -> bool:
    """Poll `url` until it answers 200; False when `proc` exits first or `timeout` passes."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False
