"""A tiny TCP forwarder for tests: connections fail until ``start()``, like a server down."""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()  # nothing listens on the port until start()
        self._server: socket.socket | None = None

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        if self._server:
            with contextlib.suppress(OSError):
                self._server.close()
            self._server = None

    def _accept(self) -> None:
        server = self._server
        while server is not None:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            finished = _closer(client, upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b, finished), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, finished) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
        finished()


def _closer(*sockets: socket.socket):
    """Called once by each direction's thread: the last one closes both sockets (left to the
    garbage collector, they were 'unclosed socket' warnings that pytest pinned on whichever
    test was running then)."""
    left, lock = [2], threading.Lock()

    def finished() -> None:
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.close()

    return finished
