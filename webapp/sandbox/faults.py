"""Fault injection: what a flaky gateway does to a client, on demand and reproducibly."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from collections.abc import Iterator
from enum import Enum
from typing import Any

from .settings import Faults


class Fault(Enum):
    NONE = "none"
    HTTP_500 = "http_500"
    ERROR_REPLY = "error_reply"
    GARBAGE = "garbage"
    DROP = "drop"
    LOSE_REPLY = "lose_reply"
    SLOW = "slow"
    TIMEOUT = "timeout"


class FaultPicker:
    """Chooses the fault for each request from the current :class:`Faults`, with its own seed."""

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self.random = random.Random(seed)
        self.lock = threading.Lock()

    def pick(self, endpoint: str) -> Fault:
        f = self.faults
        if not f.applies_to(endpoint):
            return Fault.NONE
        with self.lock:
            if f.remaining is not None and f.remaining <= 0:
                return Fault.NONE
            roll, threshold = self.random.random(), 0.0
            for fault, rate in (
                (Fault.DROP, f.drop),
                (Fault.HTTP_500, f.http_500),
                (Fault.ERROR_REPLY, f.error_reply),
                (Fault.GARBAGE, f.garbage),
                (Fault.LOSE_REPLY, f.lose_reply),
                (Fault.SLOW, f.slow),
                (Fault.TIMEOUT, f.timeout),
            ):
                threshold += rate
                if roll < threshold:
                    if f.remaining is not None:
                        f.remaining -= 1
                    return fault
        return Fault.NONE


def drop_connection(environ: dict[str, Any]) -> bool:
    """Close the client's connection without an answer; False if the server gives no socket.

    Werkzeug's server exposes the socket; shutting it down makes the client see the connection
    closed mid-request, as when a proxy or the network fails.
    """
    sock = environ.get("werkzeug.socket")
    if sock is None:
        return False
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    return True


def delay_of(fault: Fault, faults: Faults) -> float:
    """Seconds a slow or timed-out request waits before it is processed and answered."""
    if fault is Fault.SLOW:
        return faults.slow_ms / 1000
    if fault is Fault.TIMEOUT:
        return faults.timeout_ms / 1000
    return 0.0


def trickle(body: bytes, interval: float) -> Iterator[bytes]:
    """``body`` one byte at a time, ``interval`` seconds apart: the server writes each byte
    as it comes, so a client's per-read timeout never fires. A client that gives up ends it
    (the next write fails)."""
    for byte in body:
        time.sleep(interval)
        yield bytes([byte])
