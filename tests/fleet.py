"""A production-shaped fleet of real processes on one database, for the scale-out test, the
fault soak (tests/test_soak.py, benchmarks/soak.py) and whoever needs the same.

The standalone sandbox (`flask sandbox serve`), gunicorn serving ``wsgi:app`` with several
workers, and several `flask worker` processes, all on one database and one sandbox, over real
HTTP on 127.0.0.1. A :class:`Person` drives the web app over HTTP as a browser would (sign up,
compose, confirm, send). What the processes did is judged by :mod:`tests.fleet_audit`, from the
sandbox's own record.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests

from tests.helpers import CSRF_TOKEN, hidden

ROOT = Path(__file__).resolve().parent.parent
CONTROL_TOKEN = "fleet-sandbox-control-token"
PASSWORD = "fleet horse battery staple"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], T], what: str, timeout: float, interval: float = 0.2) -> T:
    """``check()``'s first true value, asked every ``interval`` seconds; AssertionError naming
    ``what`` after ``timeout`` seconds. Generous timeouts: the machine may be loaded."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def process_env(database_url: str, instance: Path, sandbox_url: str, **settings: Any) -> dict:
    """The environment of every process of the fleet: the developer's own settings dropped
    (as tests/test_worker_kill.py does), one database, one instance folder (hence one secret
    key and one encryption key), one sandbox and its control token; ``settings`` become
    ``IQSMS_<NAME>`` variables."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("IQSMS_", "FLASK_", "DATABASE"))
    }
    env.update(
        DATABASE_URL=database_url,
        SECRET_KEY="fleet-secret-key",
        IQSMS_INSTANCE_PATH=str(instance),
        IQSMS_SANDBOX_URL=sandbox_url,
        IQSMS_SANDBOX_CONTROL_TOKEN=CONTROL_TOKEN,
        PYTHONUNBUFFERED="1",
    )
    env.update({f"IQSMS_{name.upper()}": str(value) for name, value in settings.items()})
    return env


@dataclass
class Process:
    """One process of the fleet, started again at will, logging (appending) to ``log``."""

    name: str
    command: list[str]
    env: dict
    log: Path
    popen: subprocess.Popen | None = None
    starts: int = 0
    stopped: bool = False  # SIGSTOPped and not resumed

    def start(self) -> Process:
        with self.log.open("a") as out:
            out.write(f"\n== start {self.starts + 1} at {time.time():.3f}\n")
            out.flush()
            self.popen = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.starts += 1
        self.stopped = False
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def signal(self, signum: int) -> None:
        if self.running:
            self.popen.send_signal(signum)  # type: ignore[union-attr]
            if signum == signal.SIGSTOP:
                self.stopped = True
            elif signum == signal.SIGCONT:
                self.stopped = False

    def end(self, timeout: float = 20) -> int | None:
        """SIGTERM (resuming it first if stopped), SIGKILL after ``timeout`` seconds; its
        exit code, negative for a signal (None if it was never started)."""
        if self.popen is None:
            return None
        if self.running:
            if self.stopped:
                self.signal(signal.SIGCONT)
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        return self.popen.returncode

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Fleet:
    """The sandbox, the web (gunicorn) and the workers of one run, under ``root``."""

    root: Path
    database_url: str
    settings: dict[str, Any] = field(default_factory=dict)
    sandbox_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    sandbox: Process | None = None
    web: Process | None = None
    workers: list[Process] = field(default_factory=list)

    @property
    def sandbox_root(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def web_root(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def env(self) -> dict:
        return process_env(
            self.database_url,
            self.root / "instance",
            f"{self.sandbox_root}/messages/v2/",
            **self.settings,
        )

    def _process(self, name: str, *command: str) -> Process:
        return Process(name, [sys.executable, "-m", *command], self.env, self.root / f"{name}.log")

    # -- starting ---------------------------------------------------------------------------

    def start_sandbox(self, *options: str) -> None:
        """`flask sandbox serve` on its own state file; ``options`` as its command line takes
        them (delays, seed, faults)."""
        self.sandbox = self._process(
            "sandbox",
            "flask", "--app", "wsgi:app", "sandbox", "serve", "--quiet",
            "--port", str(self.sandbox_port), "--state", str(self.root / "sandbox.sqlite3"),
            "--control-token", CONTROL_TOKEN, *options,
        ).start()  # fmt: skip
        wait_until(lambda: self._answers(f"{self.sandbox_root}/_sandbox/"), "the sandbox", 60)

    def start_web(self, processes: int = 3) -> None:
        """gunicorn with ``processes`` workers, as the README's Production section runs it."""
        self.web = self._process(
            "web",
            "gunicorn", "--no-control-socket",
            "--logger-class", "webapp.gunicorn_logging.TokenRedactingLogger",
            "-w", str(processes), "-b", f"127.0.0.1:{self.web_port}", "--timeout", "120",
            "wsgi:app",
        ).start()  # fmt: skip
        wait_until(lambda: self._answers(f"{self.web_root}/login"), "gunicorn", 90)

    def start_workers(self, count: int = 3) -> None:
        for n in range(count):
            self.workers.append(self._process(f"worker{n + 1}", "flask", "worker").start())

    def _answers(self, url: str) -> bool:
        for process in (self.sandbox, self.web):
            if process is not None and process.popen is not None and not process.running:
                raise AssertionError(f"{process.name} exited:\n{process.log_text()[-3000:]}")
        try:
            headers = {"X-Sandbox-Token": CONTROL_TOKEN}
            return requests.get(url, timeout=5, headers=headers).status_code == 200
        except requests.RequestException:
            return False

    def close(self) -> dict[str, int | None]:
        """End every process (workers first); their exit codes by name."""
        codes = {}
        for process in [*self.workers, self.web, self.sandbox]:
            if process is not None:
                codes[process.name] = process.end()
        return codes

    # -- the sandbox's control API ----------------------------------------------------------

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = requests.request(
            method,
            f"{self.sandbox_root}/_sandbox{path}",
            headers={"X-Sandbox-Token": CONTROL_TOKEN},
            timeout=60,
            **kwargs,
        )
        response.raise_for_status()
        return response

    def set_faults(self, **faults: Any) -> None:
        """Replace the sandbox's faults (none: all off)."""
        self.control("PUT", "/faults", json=faults)

    def received(self, login: str) -> list[dict[str, Any]]:
        """The sandbox's record of every message the account received, oldest first."""
        return self.control("GET", f"/accounts/{login}/messages").json()["messages"]

    def calls(self, endpoint: str) -> dict[str, int]:
        """Calls of ``endpoint`` the sandbox acted on, by login."""
        rows = self.control("GET", "/calls").json()["calls"]
        return {row["login"]: row["count"] for row in rows if row["endpoint"] == endpoint}

    def logs(self, processes: Iterable[Process] | None = None, tail: int = 4000) -> str:
        chosen = processes if processes is not None else [*self.workers, self.web, self.sandbox]
        return "\n".join(f"--- {p.name}\n{p.log_text()[-tail:]}" for p in chosen if p is not None)


class Person:
    """Someone using the web app over HTTP through gunicorn, as a browser would: a cookie
    session, the CSRF token read from each page, forms posted, redirects read."""

    def __init__(self, web_root: str, timeout: float = 60) -> None:
        self.root = web_root
        self.http = requests.Session()
        self.csrf = ""
        self.timeout = timeout
        self.slowest = (0.0, "")  # seconds, and the request that took them

    def _timed(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        started = time.monotonic()
        try:
            return self.http.request(method, self.root + path, timeout=self.timeout, **kwargs)
        finally:
            took = time.monotonic() - started
            if took > self.slowest[0]:
                self.slowest = (took, f"{method} {path}")

    def get(self, path: str) -> requests.Response:
        response = self._timed("GET", path)
        match = CSRF_TOKEN.search(response.text)
        if match:
            self.csrf = match.group(1)
        return response

    def post(self, path: str, data: dict[str, Any]) -> requests.Response:
        return self._timed(
            "POST", path, data={"csrf_token": self.csrf, **data}, allow_redirects=False
        )

    def sign_up(self, email: str, team_name: str) -> int:
        """Sign up with a team of one's own (on the sandbox, with its own account); its id."""
        self.get("/signup")
        response = self.post(
            "/signup", {"email": email, "password": PASSWORD, "team_name": team_name}
        )
        assert response.status_code == 302, response.text[:2000]
        match = re.search(r"/teams/(\d+)/", response.headers["Location"])
        assert match, response.headers["Location"]
        return int(match.group(1))

    def send_campaign(self, team_id: int, name: str, text: str, phones: list[str]) -> int:
        """Compose a campaign to ``phones`` (pasted), review, confirm and send it now, through
        the composer's pages; its id."""
        team = f"/teams/{team_id}"
        self.get(f"{team}/campaigns")
        response = self.post(f"{team}/campaigns/new", {})
        assert response.status_code == 302, response.text[:2000]
        match = re.search(r"/campaigns/(\d+)/edit$", response.headers["Location"])
        assert match, response.headers["Location"]
        campaign_id = int(match.group(1))
        page = self.get(f"{team}/campaigns/{campaign_id}/edit").text
        response = self.post(
            f"{team}/campaigns/{campaign_id}/edit",
            {
                "version": hidden(page, "version"),
                "tab": hidden(page, "tab"),
                "name": name,
                "text": text,
                "sender": "MyBrand",
                "when": "now",
                "pasted_numbers": "\n".join(phones),
                "action": "review",
            },
        )
        assert response.status_code == 302, response.text[:3000]
        assert response.headers["Location"].endswith(f"/campaigns/{campaign_id}/confirm")
        page = self.get(f"{team}/campaigns/{campaign_id}/confirm").text
        response = self.post(
            f"{team}/campaigns/{campaign_id}/send",
            {"version": hidden(page, "version"), "recipients": hidden(page, "recipients")},
        )
        assert response.status_code == 302, response.text[:3000]
        assert response.headers["Location"].endswith(f"/campaigns/{campaign_id}")
        return campaign_id


def phones(team_number: int, campaign_number: int, count: int) -> list[str]:
    """Distinct Moscow mobile numbers for one campaign of one team."""
    return [f"7916{team_number:01d}{campaign_number:02d}{i:04d}" for i in range(count)]
