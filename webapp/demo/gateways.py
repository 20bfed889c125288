"""The demo's time and its two sandboxes: a private one on the demo's clock for the month that
was, and the real one (at SANDBOX_URL) that the team's account moves to."""

from __future__ import annotations

import secrets
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from datetime import time as day_time
from typing import Any

import click
import requests
from flask import Flask
from flask_babel import gettext as _
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.serving import BaseWSGIServer, make_server

from webapp.config import DEFAULT_SANDBOX_URL, ensure_sandbox_control_token
from webapp.domain import gateways
from webapp.domain.sandbox_account import control_call
from webapp.models import Team
from webapp.timezones import local_to_utc, team_zone

# The private sandbox's message ids start below the real sandbox's (2592600000 on): a message
# of the month and one sent later never share the gateway's id.
HISTORY_FIRST_SMSC_ID = 2590000000
# Operators take seconds to a minute to report, and a few numbers are out of reach; pending
# sender names stay pending.
HISTORY_SETTINGS = {
    "seed": 7,
    "submit_delay": 2.0,
    "deliver_delay": 20.0,
    "jitter": 0.9,
    "delivered_ratio": 0.94,
    "delivery_error_ratio": 0.045,
    "smsc_reject_ratio": 0.015,
    "approval_delay": 1e9,
}


class Clock:
    """The demo's time, moved by hand from a month ago to now."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def epoch(self) -> float:
        return self.now.timestamp()

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def go(self, when: datetime) -> None:
        """On to ``when`` (never back: a step that took longer ends later)."""
        self.now = max(self.now, when)


def local(team: Team, days_ago: int, at: str) -> datetime:
    """``at`` (HH:MM, the team's time) ``days_ago`` days before its today (negative: ahead)."""
    hour, minute = (int(part) for part in at.split(":"))
    day = datetime.now(team_zone(team)).date() - timedelta(days=days_ago)
    return local_to_utc(day, day_time(hour, minute), team)


def _serve(wsgi_app: Any, port: int = 0) -> BaseWSGIServer:
    """``wsgi_app`` on a loopback port (0: a free one), in a thread."""
    from webapp.sandbox.cli import QuietHandler

    server = make_server("127.0.0.1", port, wsgi_app, threaded=True, request_handler=QuietHandler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def _stop(server: BaseWSGIServer, sandbox: Flask) -> None:
    server.shutdown()
    server.server_close()
    sandbox.extensions["iqsms_sandbox"].store.close()


def _answers(config: Any) -> bool:
    try:
        return control_call(config, "GET", "/", timeout=3).ok
    except requests.RequestException:
        return False


@contextmanager
def real_sandbox(app: Flask) -> Iterator[Any]:
    """The settings that reach the sandbox teams use: the one at SANDBOX_URL if it answers
    (`flask serve` running); else, for the laptop setup, the sandbox mounted over its state
    file as `flask serve` mounts it, while the demo runs."""
    from webapp.cli import with_sandbox

    ensure_sandbox_control_token(app)
    if _answers(app.config):
        yield app.config
        return
    if app.config["SANDBOX_URL"] != DEFAULT_SANDBOX_URL:
        raise click.ClickException(
            _(
                "The sandbox at %(url)s is not answering (or refuses this app's "
                "SANDBOX_CONTROL_TOKEN): start it, then run `flask demo` again.",
                url=app.config["SANDBOX_URL"],
            )
        )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mounted = with_sandbox(app, "127.0.0.1", port)
    server = _serve(mounted, port)
    try:
        yield app.config
    finally:
        _stop(server, mounted.mounts["/sandbox"])
        app.config["SANDBOX_URL"] = DEFAULT_SANDBOX_URL


@contextmanager
def history_sandbox(app: Flask, clock: Clock) -> Iterator[dict[str, Any]]:
    """A private sandbox on the demo's clock, and the settings that reach it."""
    from webapp.sandbox import Settings, create_sandbox_app

    token = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(control_token=token, **HISTORY_SETTINGS)  # type: ignore[arg-type]
        sandbox = create_sandbox_app(f"{folder}/month.sqlite3", settings, clock.epoch)
        # No setting for it: the store counts on from its highest id, and this one is empty.
        sandbox.extensions["iqsms_sandbox"].store._next_smsc_id = HISTORY_FIRST_SMSC_ID
        server = _serve(sandbox)
        url = f"http://127.0.0.1:{server.port}/messages/v2/"
        try:
            yield {**app.config, "SANDBOX_URL": url, "SANDBOX_CONTROL_TOKEN": token}
        finally:
            _stop(server, sandbox)


def move_account(past: Any, real: Any, team: Team) -> None:
    """The team's account at the real sandbox, with the balance the month left; the caller
    commits ``team``."""
    login = team.gateway_login
    left = control_call(past, "GET", f"/accounts/{login}").json()["balance"]
    if not gateways.provision_sandbox_account(real, team):
        raise click.ClickException(_("The sandbox stopped answering: run `flask demo` again."))
    control_call(real, "PATCH", f"/accounts/{login}", json={"balance": left}).raise_for_status()


def lose_next_reply(past: Any) -> None:
    """The next send.json call to the private sandbox is processed, its reply lost."""
    faults = {"lose_reply": 1, "endpoints": ["send.json"], "remaining": 1}
    control_call(past, "PUT", "/faults", json=faults).raise_for_status()


@contextmanager
def stamped(session: Session, clock: Clock) -> Iterator[None]:
    """Rows the code adds with the wall clock as their default (audit events, ``created_at``)
    take the demo's time instead, that of the moment they are added."""

    def stamp(_session: Session, row: object) -> None:
        for name in ("created_at", "updated_at"):
            if hasattr(row, name) and getattr(row, name) is None:
                setattr(row, name, clock())

    event.listen(session, "transient_to_pending", stamp)
    try:
        yield
    finally:
        event.remove(session, "transient_to_pending", stamp)
