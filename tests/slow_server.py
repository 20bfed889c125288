"""A real slow HTTP server on loopback: it reads each request, then answers one byte at a time
with a pause between bytes, as a gateway that accepts connections but barely answers does.

Per-read timeouts never fire against it (a byte always comes before the read timeout), so only a
total deadline ends a call to it. It counts the connections it holds, for tests that check how
many a team may tie up at once.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

REPLY = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n"
    b'{"status": "ok", "balance": [{"type": "RUB", "balance": 1}]}'
)


@dataclass
class DrippingServer:
    """Listening on ``root`` (``http://127.0.0.1:PORT``); ``base_url`` looks like an iQSMS API."""

    interval: float
    sock: socket.socket
    reply: bytes = REPLY
    open_now: int = 0
    most_open: int = 0
    requests: int = 0
    closing: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root}/messages/v2/"

    def serve(self) -> None:
        while not self.closing.is_set():
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with self.lock:
            self.open_now += 1
            self.requests += 1
            self.most_open = max(self.most_open, self.open_now)
        try:
            connection.settimeout(5)
            _read_request(connection)
            for byte in self.reply:
                if self.closing.wait(self.interval):
                    return
                connection.sendall(bytes([byte]))
        except OSError:
            pass  # the client gave up: that is what a deadline does
        finally:
            connection.close()
            with self.lock:
                self.open_now -= 1

    def close(self) -> None:
        self.closing.set()
        self.sock.close()


def _read_request(connection: socket.socket) -> None:
    """Read the head and as much body as Content-Length says, so the client sees it sent."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            return
        body += chunk


@contextmanager
def dripping_server(interval: float = 5.0, reply: bytes = REPLY) -> Iterator[DrippingServer]:
    """A :class:`DrippingServer` sending ``reply`` one byte every ``interval`` seconds, closed
    after."""
    sock = socket.create_server(("127.0.0.1", 0), backlog=128)
    server = DrippingServer(interval, sock, reply)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.close()
        thread.join(timeout=5)
        deadline = time.monotonic() + 5
        while server.open_now and time.monotonic() < deadline:
            time.sleep(0.01)
