"""SIGTERM and Ctrl-C stop `flask worker` and `flask serve` gracefully (issue 14, defects 2
and 6): once the signal lands nothing new is claimed or popped, the gateway call under way
completes and its result is stored, every status page popped is applied, the leases are
released, and the process exits with status 0 within the gateway deadline plus the stop's
margin. Real processes, real HTTP, the real sandbox; a request log in front of the sandbox
says when each call arrived and what each statusQueue.json call popped."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from tests.fleet import CONTROL_TOKEN, PASSWORD, Person, Process, free_port, process_env, wait_until
from tests.helpers import assert_counters_match, make_campaign, sandbox_login, states, tick
from webapp.extensions import db
from webapp.jobs.scheduler import STOP_MARGIN
from webapp.models import (
    DELIVERY_OUTCOMES,
    Lease,
    Message,
    MessageState,
    PendingStatus,
    Team,
    utcnow,
)

DEADLINE = 20  # the processes' GATEWAY_DEADLINE, seconds
# How long a stop may take: the call under way (its deadline) and the stop's margin, plus
# room for a loaded machine to schedule the process at all.
STOP_BOUND = DEADLINE + STOP_MARGIN + 15
LATENCY_MS = 4000  # each slow send.json call's wait in the sandbox: time to signal mid-call
# Each statusQueue.json call's: under half the drain's budget (DRAIN_BUDGET), so the page on its
# way when the signal lands comes back within it, when the drain would ask for the next.
PAGE_LATENCY_MS = 1500


# -- the sandbox's request log ------------------------------------------------------------------


@dataclass
class Call:
    endpoint: str
    began: float  # time.monotonic() when the sandbox got the request
    ended: float | None = None  # ... and when its answer was ready
    reply: dict[str, Any] | None = None  # statusQueue.json's, to count what it popped


class CallLog:
    """WSGI middleware in front of the sandbox fixture's app: every gateway API call, when it
    arrived and when its answer left (the sandbox itself counts only calls it acted on)."""

    def __init__(self, app: Callable) -> None:
        self.app, self.lock, self.calls = app, threading.Lock(), []

    @classmethod
    def install(cls, sandbox: Any) -> CallLog:
        log = cls(sandbox.server.app)
        sandbox.server.app = log  # werkzeug's handler reads server.app for each request
        return log

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if "/messages/v2/" not in path:
            return self.app(environ, start_response)
        call = Call(path.rstrip("/").rsplit("/", 1)[-1], time.monotonic())
        with self.lock:
            self.calls.append(call)
        result = self.app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()
            call.ended = time.monotonic()
        if call.endpoint == "statusQueue.json":
            call.reply = json.loads(body)
        return [body]

    def of(self, endpoint: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.endpoint == endpoint]

    def mid_call(self, endpoint: str, quiet: float, room: float) -> bool:
        """True when calls of ``endpoint`` are in flight, none arrived or ended in the last
        ``quiet`` seconds and the oldest in flight has ``room`` seconds to go: every sending
        loop is then waiting on its call, none between two calls."""
        calls, now = self.of(endpoint), time.monotonic()
        flying = [c for c in calls if c.ended is None]
        if not flying:
            return False
        events = [c.began for c in calls] + [c.ended for c in calls if c.ended is not None]
        oldest = min(c.began for c in flying)
        return now - max(events) >= quiet and now - oldest <= LATENCY_MS / 1000 - room


# -- processes ----------------------------------------------------------------------------------


def start_worker(app: Any, sandbox: Any, tmp_path: Path) -> Process:
    env = process_env(
        app.config["SQLALCHEMY_DATABASE_URI"],
        tmp_path / "worker-instance",
        sandbox.base_url,
        encryption_key=app.config["ENCRYPTION_KEY"],
        gateway_deadline=DEADLINE,
    )
    command = [sys.executable, "-m", "flask", "--app", "wsgi:app", "worker"]
    return Process("worker", command, env, tmp_path / "worker.log").start()


def stopped_worker(
    app: Any, sandbox: Any, tmp_path: Path, ready: Callable[[], bool], what: str
) -> tuple[Process, float]:
    """A `flask worker` started, sent SIGTERM once ``ready()`` and exited with status 0; and
    when it was signalled (time.monotonic())."""
    worker = start_worker(app, sandbox, tmp_path)
    try:
        wait_until(lambda: ready() or not worker.running, what, 120, interval=0.05)
        code, signalled, taken = stop(worker)
    finally:
        worker.end()
    print(f"worker stopped {taken:.2f} s after SIGTERM")
    assert code == 0, worker.log_text()[-6000:]
    return worker, signalled


def stop(process: Process, signum: int = signal.SIGTERM) -> tuple[int | None, float, float]:
    """Signal ``process`` and wait for it to exit: (exit code, when signalled, seconds taken).
    None for the code if it was still running after STOP_BOUND (then it is killed)."""
    assert process.running, process.log_text()
    signalled = time.monotonic()
    process.signal(signum)
    try:
        code = process.popen.wait(STOP_BOUND)  # type: ignore[union-attr]
    except subprocess.TimeoutExpired:
        code = None
    taken = time.monotonic() - signalled
    process.end()
    return code, signalled, taken


def assert_clean_log(process: Process) -> None:
    log = process.log_text()
    for sign in ("Traceback", "RuntimeError", "cannot schedule new futures"):
        assert sign not in log, log[-6000:]


def unlimited_rate(app: Any, team_id: int) -> None:
    with app.app_context():
        db.session.execute(sa.update(Team).where(Team.id == team_id).values(send_rate=0))
        db.session.commit()


def status_leases(app: Any) -> dict[str, bool]:
    """Each team's status lease ever taken, and whether it is held now (unexpired). A
    worker's heartbeat, a lease too, is left out: it runs out by itself."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(Lease.name, Lease.expires_at).where(Lease.name.like("statuses:%"))
        ).all()
    now = utcnow()
    return {row.name: row.expires_at > now for row in rows}


# -- `flask worker` -----------------------------------------------------------------------------


def test_sigterm_mid_send_stores_the_call_under_way_and_claims_nothing_more(
    app, sandbox, team, tmp_path
):
    calls = CallLog.install(sandbox)
    login = sandbox_login(app, team)
    sandbox.control("PATCH", f"/accounts/{login}", json={"balance": "100000"})
    campaign_id = make_campaign(app, team, 5000)
    unlimited_rate(app, team.id)
    sandbox.set_faults(latency_ms=LATENCY_MS, endpoints=["send.json"])
    worker, signalled = stopped_worker(
        app,
        sandbox,
        tmp_path,
        lambda: calls.mid_call("send.json", quiet=1.0, room=1.5),
        "every sending loop waiting on its call",
    )
    sends = calls.of("send.json")
    under_way = [c for c in sends if c.began <= signalled and (c.ended or 1e18) > signalled]
    assert under_way, "no call was under way when the signal landed"
    assert [c for c in sends if c.began > signalled] == []  # nothing claimed after it
    assert all(c.ended is not None for c in sends)
    # Each call's batch is stored as the gateway answered it: nothing left sending or unknown.
    received = sandbox.received(login)
    assert len(received) == 200 * len(sends)
    assert states(app, campaign_id) == {
        MessageState.ACCEPTED: len(received),
        MessageState.QUEUED: 5000 - len(received),
    }
    assert_counters_match(app, campaign_id)
    assert not any(status_leases(app).values())  # released
    assert_clean_log(worker)


def test_sigterm_mid_drain_applies_every_status_page_popped(
    app, sandbox, sandbox_clock, team, tmp_path
):
    count = 4000  # four pages of 1,000
    sandbox.control("PATCH", "/settings", json={"intermediate_statuses": False})
    login = sandbox_login(app, team)
    sandbox.control("PATCH", f"/accounts/{login}", json={"balance": "100000"})
    campaign_id = make_campaign(app, team, count)
    unlimited_rate(app, team.id)
    tick(app, budget=120)
    assert states(app, campaign_id) == {MessageState.ACCEPTED: count}
    sandbox_clock.advance(3600)  # one final status per message, all in the queue now
    calls = CallLog.install(sandbox)
    sandbox.set_faults(latency_ms=PAGE_LATENCY_MS, endpoints=["statusQueue.json"])

    def popped_and_popping() -> bool:
        pops = calls.of("statusQueue.json")
        done = [c for c in pops if c.reply and c.reply.get("messages")]
        return bool(done) and any(c.ended is None for c in pops)

    worker, signalled = stopped_worker(
        app, sandbox, tmp_path, popped_and_popping, "a status page popped and the next on its way"
    )
    pops = calls.of("statusQueue.json")
    assert [c for c in pops if c.began > signalled] == []  # nothing popped after it
    popped = {m["smscId"] for c in pops if c.reply for m in c.reply.get("messages", [])}
    assert 1000 <= len(popped) < count
    with app.app_context():
        final = set(
            db.session.scalars(
                sa.select(Message.smsc_id).where(
                    Message.campaign_id == campaign_id, Message.state.in_(DELIVERY_OUTCOMES)
                )
            ).all()
        )
        waiting = db.session.scalar(sa.select(sa.func.count()).select_from(PendingStatus))
    assert final == popped  # every status popped was applied, and only those
    assert waiting == 0
    assert_counters_match(app, campaign_id)
    leases = status_leases(app)
    assert leases and not any(leases.values())  # taken for the drain, then released
    assert_clean_log(worker)


# -- `flask serve` ------------------------------------------------------------------------------


def signed_in(root: str, email: str) -> Person:
    person = Person(root)
    person.get("/login")
    response = person.post("/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 302, response.text[:2000]
    return person


@dataclass
class Browsing:
    """People reading pages while the campaign sends, each in a thread: the status of every
    answer, and the failures before the server was signalled (after it, they are due). They
    read on while it stops, until it no longer answers."""

    signalled: threading.Event
    done: threading.Event
    statuses: list[int]
    failures: list[str]
    threads: list[threading.Thread]

    @classmethod
    def start(cls, people: list[Person], paths: list[str]) -> Browsing:
        browsing = cls(threading.Event(), threading.Event(), [], [], [])
        for person in people:
            thread = threading.Thread(target=browsing._read, args=(person, paths), daemon=True)
            browsing.threads.append(thread)
            thread.start()
        return browsing

    def _read(self, person: Person, paths: list[str]) -> None:
        while not self.done.is_set():
            for path in paths:
                try:
                    response = person.http.get(person.root + path, timeout=60)
                except requests.RequestException as exc:
                    if not self.signalled.is_set():
                        self.failures.append(f"{path}: {exc}")
                    return
                if not self.signalled.is_set():
                    self.statuses.append(response.status_code)

    def end(self) -> None:
        self.done.set()
        for thread in self.threads:
            thread.join(90)


@pytest.fixture
def served(make_app, tmp_path) -> Iterator[tuple[Any, Process, str]]:
    """`flask serve` (web, worker and sandbox in one process) on the test database, which it
    migrates; the app (on the same database) and the server's root URL."""
    app = make_app(create_schema=False)
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    env = process_env(
        app.config["SQLALCHEMY_DATABASE_URI"],
        tmp_path / "serve-instance",
        f"{root}/sandbox/messages/v2/",
        gateway_deadline=DEADLINE,
    )
    command = [sys.executable, "-m", "flask", "--app", "wsgi:app", "serve", "--port", str(port)]
    process = Process("serve", command, env, tmp_path / "serve.log").start()
    try:
        wait_until(lambda: _answers(f"{root}/healthz", process), "flask serve", 120)
        yield app, process, root
    finally:
        process.end()


def _answers(url: str, process: Process) -> bool:
    assert process.running, process.log_text()[-6000:]
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_serve_under_load_stops_promptly_with_status_0(served, tmp_path, signum):
    app, process, root = served
    owner = Person(root)
    team_id = owner.sign_up("ann@example.com", "Ann Team")
    with app.app_context():
        team = db.session.get(Team, team_id)
        login = team.gateway_login
    control = f"{root}/sandbox/_sandbox"
    headers = {"X-Sandbox-Token": CONTROL_TOKEN}
    for method, path, body in (
        ("PATCH", f"/accounts/{login}", {"balance": "100000"}),
        ("PUT", "/faults", {"latency_ms": 1000, "endpoints": ["send.json"]}),
    ):
        requests.request(
            method, control + path, json=body, headers=headers, timeout=30
        ).raise_for_status()
    unlimited_rate(app, team_id)
    campaign_id = make_campaign(app, team, 20000)
    team_pages = [f"/teams/{team_id}/campaigns", f"/teams/{team_id}/campaigns/{campaign_id}"]
    people = [signed_in(root, "ann@example.com") for _ in range(4)]
    browsing = Browsing.start(people, [*team_pages, "/healthz"])
    try:
        wait_until(
            lambda: (
                states(app, campaign_id).get(MessageState.ACCEPTED, 0) >= 1000
                and len(browsing.statuses) >= 3 * len(people)
            ),
            "the campaign sending while people read its pages",
            180,
        )
        browsing.signalled.set()
        served_before = list(browsing.statuses)
        code, _signalled, taken = stop(process, signum)
    finally:
        browsing.end()
    print(f"flask serve stopped {taken:.2f} s after {signal.Signals(signum).name}")
    assert code == 0, process.log_text()[-6000:]
    assert browsing.failures == []
    assert served_before and all(s == 200 for s in served_before)  # pages answered meanwhile
    counted = states(app, campaign_id)
    assert MessageState.SENDING not in counted
    assert MessageState.UNKNOWN not in counted
    with sqlite3.connect(tmp_path / "serve-instance" / "sandbox.sqlite3") as sandbox_state:
        (received,) = sandbox_state.execute(
            "SELECT count(*) FROM messages WHERE login = ?", (login,)
        ).fetchone()
    sent = sum(n for state, n in counted.items() if state != MessageState.QUEUED)
    assert sent == received  # the calls under way were stored (accepted, or further on)
    assert_counters_match(app, campaign_id)
    assert not any(status_leases(app).values())  # released
    assert_clean_log(process)
    log = process.log_text()
    # No call was cut short by the stop (the sandbox it mounts answered them all to the end).
    for broken in ("Could not connect", "did not answer properly"):
        assert broken not in log, log[-6000:]
    assert "iQSMS Dashboard stopped." in log
