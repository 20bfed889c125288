"""Fixtures that run the sandbox gateway on real HTTP on 127.0.0.1, for tests of anything that
talks to iQSMS. Their control API is opened with :data:`SANDBOX_CONTROL_TOKEN`, which the apps of
``make_app`` (tests/conftest.py) hold too."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from werkzeug.serving import BaseWSGIServer, make_server

from tests.helpers import SANDBOX_CONTROL_TOKEN
from webapp.iqsms import Client
from webapp.sandbox import Gateway, Settings, create_sandbox_app
from webapp.sandbox.cli import QuietHandler


@dataclass
class SandboxServer:
    """A running sandbox: its URLs, its gateway (for the clock and settings) and control calls."""

    server: BaseWSGIServer
    gateway: Gateway
    root: str  # http://127.0.0.1:PORT

    @property
    def base_url(self) -> str:
        return f"{self.root}/messages/v2/"

    def client(self, login: str = "demo", password: str = "demo", **options: Any) -> Client:
        options.setdefault("timeout", (2, 5))
        options.setdefault("backoff", 0.01)
        return Client(login, password, self.base_url, **options)

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A call to the control API with the sandbox's token; raises on an error status."""
        headers = {
            "X-Sandbox-Token": self.gateway.settings.control_token or "",
            **kwargs.pop("headers", {}),
        }
        response = requests.request(
            method, f"{self.root}/_sandbox{path}", timeout=5, headers=headers, **kwargs
        )
        response.raise_for_status()
        return response

    def set_faults(self, **faults: Any) -> None:
        self.control("PUT", "/faults", json=faults)

    def received(self, login: str = "demo") -> list[dict[str, Any]]:
        """What the sandbox recorded as received for an account, oldest first."""
        return self.control("GET", f"/accounts/{login}/messages").json()["messages"]


class FakeClock:
    """A clock the test moves by hand, so delivery progress needs no sleeping."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def start_sandbox(state_path: str, settings: Settings, clock: Any = None) -> SandboxServer:
    """A sandbox on a free port; its control API takes SANDBOX_CONTROL_TOKEN unless ``settings``
    name another token."""
    if settings.control_token is None:
        settings = dataclasses.replace(settings, control_token=SANDBOX_CONTROL_TOKEN)
    app = (
        create_sandbox_app(state_path, settings)
        if clock is None
        else create_sandbox_app(state_path, settings, clock)
    )
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return SandboxServer(server, app.extensions["iqsms_sandbox"], f"http://127.0.0.1:{server.port}")


@pytest.fixture
def sandbox_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(tmp_path, sandbox_clock) -> Iterator[SandboxServer]:
    """A fresh sandbox on a free port, driven by ``sandbox_clock``."""
    running = start_sandbox(str(tmp_path / "sandbox.sqlite3"), Settings(), sandbox_clock)
    yield running
    running.server.shutdown()
    running.server.server_close()
    running.gateway.store.close()


@pytest.fixture
def unused_port() -> int:
    """A loopback port with nothing listening: connections to it are refused."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
