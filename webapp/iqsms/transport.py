"""HTTP for the client: a total deadline on every call, a size cap on replies, no redirects,
and the gateway URL policy applied when connecting.

urllib3 (like requests on top of it) only knows per-operation timeouts: a gateway that sends one
byte every few seconds never trips a read timeout and holds a call for as long as it likes. Here
every call registers its socket with one watchdog thread, which shuts the socket down when the
call's deadline passes; the blocked read then fails at once and the connection is dropped from
the pool. The watchdog thread runs only while some call is in flight.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.client import HTTPException

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError, NameResolutionError, NewConnectionError

from .errors import (
    DeadlineExceeded,
    NotSentError,
    OutcomeUnknownError,
    RedirectRefused,
    ReplyTooLarge,
    TransportError,
)
from .policy import GatewayPolicy

CHUNK = 64 * 1024


@dataclass(eq=False)
class Call:
    """One HTTP exchange under way: its deadline, the policy, and what has happened so far."""

    deadline: float  # time.monotonic()
    policy: GatewayPolicy | None
    started: bool = False  # request bytes began to leave: the gateway may act on them
    expired: bool = False
    sockets: list[socket.socket] = field(default_factory=list)  # dups, closed at the end

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


_current: contextvars.ContextVar[Call | None] = contextvars.ContextVar("iqsms_call", default=None)


class _Watchdog:
    """Shuts down the sockets of calls whose deadline passed."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.heap: list[tuple[float, int, Call]] = []
        self.live: set[Call] = set()
        self.order = itertools.count()
        self.thread: threading.Thread | None = None

    def watch(self, call: Call, sock: socket.socket) -> None:
        """Watch ``sock`` for ``call``. A duplicate of its descriptor is held until the call
        ends, so the number cannot be reused by another socket meanwhile."""
        dup = socket.socket(sock.family, sock.type, sock.proto, fileno=os.dup(sock.fileno()))
        with self.lock:
            call.sockets.append(dup)
            if call.expired:
                _shut(dup)
            if call not in self.live:
                self.live.add(call)
                heapq.heappush(self.heap, (call.deadline, next(self.order), call))
                self.lock.notify()
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._run, name="iqsms-deadline-watchdog", daemon=True
                )
                self.thread.start()

    def forget(self, call: Call) -> None:
        with self.lock:
            self.live.discard(call)
            sockets, call.sockets = call.sockets, []
        for dup in sockets:
            dup.close()

    def _run(self) -> None:
        with self.lock:
            while True:
                while self.heap and self.heap[0][2] not in self.live:
                    heapq.heappop(self.heap)
                if not self.heap:
                    self.thread = None  # nothing in flight: the thread ends
                    return
                wait = self.heap[0][0] - time.monotonic()
                if wait > 0:
                    self.lock.wait(wait)
                    continue
                _, _, call = heapq.heappop(self.heap)
                self.live.discard(call)
                call.expired = True
                for dup in call.sockets:
                    _shut(dup)


def _shut(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


WATCHDOG = _Watchdog()


class _GuardedConnection:
    """Mixin for urllib3's connections: resolve and check addresses by the policy, connect
    within the deadline, and let the watchdog see the socket."""

    host: str
    port: int
    timeout: float | None
    sock: socket.socket | None
    socket_options: list | None
    scheme = "http"

    def _new_conn(self) -> socket.socket:
        call = _current.get()
        if call is None:  # used outside Transport: behave as urllib3 does
            return super()._new_conn()  # type: ignore[misc]
        host = self.host.strip("[]")
        try:
            infos = (
                call.policy.resolve(self.scheme, host, self.port)
                if call.policy
                else socket.getaddrinfo(host, self.port, type=socket.SOCK_STREAM)
            )
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        error: OSError | None = None
        for family, type_, proto, _, address in infos:
            sock = socket.socket(family, type_, proto)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                WATCHDOG.watch(call, sock)
                sock.settimeout(max(0.001, min(self.timeout or call.remaining(), call.remaining())))
                sock.connect(address)
                return sock
            except OSError as exc:
                error = exc
                sock.close()
        message = f"Failed to establish a new connection: {error}"
        raise NewConnectionError(self, message)  # type: ignore[arg-type]

    def request(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        call = _current.get()
        if call is not None:
            if self.sock is None:
                self.connect()  # connect first: until then, nothing can have been sent
            else:  # a pooled connection, reused
                WATCHDOG.watch(call, self.sock)
            call.started = True
        super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_GuardedConnection, HTTPConnection):
    scheme = "http"


class _HTTPSConnection(_GuardedConnection, HTTPSConnection):
    scheme = "https"


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def _ca_certs() -> str | None:
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with requests
        return None
    return certifi.where()


class Transport:
    """POSTs JSON and returns the reply's bytes, within a total deadline. Thread-safe."""

    def __init__(
        self,
        *,
        pool_size: int = 10,
        max_reply_bytes: int = 4 * 1024 * 1024,
        policy: GatewayPolicy | None = None,
    ) -> None:
        self.max_reply_bytes = max_reply_bytes
        self.policy = policy
        self.pools = urllib3.PoolManager(
            num_pools=4, maxsize=pool_size, block=False, ca_certs=_ca_certs()
        )
        self.pools.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def close(self) -> None:
        self.pools.clear()

    def post(
        self,
        url: str,
        payload: bytes,
        *,
        deadline: float,
        timeout: float | tuple[float, float],
        name: str,
    ) -> bytes:
        """The reply body of a 2xx answer; raises a :class:`TransportError` otherwise.
        ``deadline`` is a ``time.monotonic()`` instant; ``name`` names the call in errors."""
        call = Call(deadline, self.policy)
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        if call.remaining() <= 0:
            raise NotSentError(f"{name}: no time left before the deadline")
        with self._in_flight(call, name):
            response = self.pools.request(
                "POST",
                url,
                body=payload,
                headers={"Content-Type": "application/json; charset=utf-8"},
                redirect=False,
                retries=False,
                preload_content=False,
                timeout=urllib3.Timeout(
                    connect=max(0.001, min(connect, call.remaining())),
                    read=max(0.001, min(read, call.remaining())),
                ),
            )
            try:
                body = self._body(response, name)
                if call.expired:  # the socket was shut mid-reply: what came is not the reply
                    raise DeadlineExceeded(f"{name}: no complete reply before the deadline")
                return body
            finally:
                if call.expired:
                    response.close()  # its socket is shut: never back into the pool
                response.release_conn()

    @contextmanager
    def _in_flight(self, call: Call, name: str) -> Iterator[None]:
        token = _current.set(call)
        try:
            yield
        except TransportError:
            raise  # the policy refused the address, or a refused reply
        except (HTTPError, HTTPException, OSError) as exc:
            raise _error(call, name, exc) from exc
        finally:
            _current.reset(token)
            WATCHDOG.forget(call)

    def _body(self, response: urllib3.BaseHTTPResponse, name: str) -> bytes:
        status = response.status
        if 300 <= status < 400:
            response.close()
            where = response.headers.get("Location", "elsewhere")[:200]
            raise RedirectRefused(f"{name}: the gateway redirects (HTTP {status} to {where})")
        if not 200 <= status < 300:
            response.close()
            raise OutcomeUnknownError(f"{name}: HTTP {status}")
        cap = self.max_reply_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            response.close()
            raise ReplyTooLarge(f"{name}: the reply is {int(declared)} bytes, over {cap}")
        chunks, size = [], 0
        for chunk in response.stream(CHUNK):
            size += len(chunk)
            if size > cap:
                response.close()
                raise ReplyTooLarge(f"{name}: the reply is over {cap} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def _error(call: Call, name: str, exc: Exception) -> TransportError:
    """A failure as the binding's error: sent or not, and whether the deadline ended it (the
    watchdog shut the socket, or the socket's own timeout, cut to the time left, fired first)."""
    ended = call.expired or call.remaining() <= 0
    if not call.started:
        if ended:
            return NotSentError(f"{name}: could not connect before the deadline")
        return NotSentError(f"{name}: could not connect ({exc})")
    if ended:
        return DeadlineExceeded(f"{name}: no complete reply before the deadline")
    return OutcomeUnknownError(f"{name}: connection lost or no reply in time ({exc})")
