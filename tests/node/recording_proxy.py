"""A TCP proxy on 127.0.0.1 that records every byte a client sends to an upstream server.

The node under test is pointed at the proxy, so what is recorded is exactly what left the node
on the wire (request lines, headers, multipart bodies), per connection, in order.
"""

from __future__ import annotations

import socket
import threading


class RecordingProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._sent: list[bytearray] = []  # one buffer per client connection
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._stopped = threading.Event()
        self._accept = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def start(self) -> RecordingProxy:
        self._accept.start()
        return self

    def sent_bytes(self) -> list[bytes]:
        """What clients sent, one bytes object per connection."""
        with self._lock:
            return [bytes(b) for b in self._sent]

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                try:
                    s.close()
                except OSError:
                    pass
        for t in self._threads:
            t.join(timeout=5)
        self._accept.join(timeout=5)

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            buf = bytearray()
            with self._lock:
                self._sent.append(buf)
                self._sockets += [client, upstream]
            for src, dst, record in ((client, upstream, buf), (upstream, client, None)):
                t = threading.Thread(target=self._pump, args=(src, dst, record), daemon=True)
                t.start()
                self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, record: bytearray | None) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record is not None:
                    with self._lock:
                        record.extend(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (dst,):
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
