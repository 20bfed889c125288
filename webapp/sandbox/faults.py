"""Fault injection: what a flaky gateway does to a client, on demand and reproducibly."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
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
