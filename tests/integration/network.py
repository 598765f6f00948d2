"""Networks for URL-fetch tests: a fake DNS and connector that reach only local servers, and a slow-drip server.

A URL that should count as public names a host the fake resolver answers with a public address,
and the fake connector, the fetcher's only way to open a connection, maps that address to a
server on 127.0.0.1: no packet leaves this machine, and a connection to any address the test did
not map fails the test.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

from moderator.cli.fetch import UrlFetcher

#: A public address the fake connector sends to the local server.
PUBLIC = "93.184.215.14"


@dataclass
class FakeNetwork:
    """DNS answers by name (each a list of answers, used in turn) and the addresses that reach the local server."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    routes: dict[str, int] = field(default_factory=dict)
    resolved: list[str] = field(default_factory=list)
    connected: list[str] = field(default_factory=list)

    def resolve(self, host: str, port: int) -> list[str]:
        self.resolved.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answers = self.answers[host]
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def connect(self, address: str, port: int, timeout: float) -> socket.socket:
        self.connected.append(address)
        assert address in self.routes, f"the fetcher tried to connect to {address}, which the test did not route"
        return socket.create_connection(("127.0.0.1", self.routes[address]), timeout=timeout)

    def fetcher(self, **options: float | bool) -> UrlFetcher:
        return UrlFetcher(resolve=self.resolve, connect=self.connect, **options)  # type: ignore[arg-type]


class SlowDrip:
    """A server on 127.0.0.1 that answers one byte at a time, each well within any per-read timeout."""

    def __init__(self, *, headers_too: bool, interval: float = 0.1, body_size: int = 600) -> None:
        self.headers_too = headers_too
        self.interval = interval
        self.body_size = body_size
        self.sent = 0
        self.client_gone = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            connection, _ = self._listener.accept()
        except OSError:
            return  # closed before anyone connected
        with connection:
            connection.recv(65536)
            head = f"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {self.body_size}\r\n\r\n".encode()
            if not self.headers_too:
                connection.sendall(head)
                head = b""
            try:
                for byte in (head + b"\xff" * self.body_size)[: len(head) + self.body_size]:
                    connection.sendall(bytes([byte]))
                    self.sent += 1
                    time.sleep(self.interval)
            except OSError:
                self.client_gone.set()
                return
            # The whole answer went out: the client did not cut it.

    def close(self) -> None:
        self._listener.close()
        self._thread.join(timeout=30)
