"""Browser tests: `flask serve` as a person starts it, driven by Debian's Chromium (Playwright)."""

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from flask import Flask

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the session. Without it the browser tests skip, except in CI."""
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is required in CI and is not at {CHROMIUM}")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


AXE = ROOT / "tests" / "e2e" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script, for an accessibility audit in a page. Pinned in
    tests/e2e/package-lock.json and installed with `npm ci` (as .ci/run does) when missing, so
    that the README's test command works on a fresh machine; without npm the audit skips,
    except in CI."""
    if not AXE.exists():
        npm = shutil.which("npm")
        if npm is None:
            if os.environ.get("CI"):
                pytest.fail("npm is required in CI for axe-core (apt-get install npm)")
            pytest.skip("no npm for axe-core (apt-get install npm)")
        prefix = str(AXE.parents[2])
        command = [npm, "ci", "--prefix", prefix, "--no-audit", "--no-fund"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stderr}"
    return AXE.read_text(encoding="utf-8")


@dataclass
class LiveServer:
    url: str
    instance: Path
    log: Path
    process: subprocess.Popen = field(repr=False)


@pytest.fixture
def live_server(tmp_path: Path, make_app: Callable) -> Iterator[LiveServer]:
    """`flask serve` (web + worker + sandbox) on a free port and a fresh database."""
    make_app(create_schema=False)  # empties the PostgreSQL test database, when that is in use
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    instance = tmp_path / "live-instance"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("IQSMS_", "FLASK_", "DATABASE"))
    }
    env["IQSMS_INSTANCE_PATH"] = str(instance)
    if os.environ.get("TEST_DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"flask serve did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield LiveServer(url, instance, log, process)
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def live_app(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """An app on the live server's database and instance folder (its keys, its uploads), to
    make rows for the browser to see (tests/page_walk.py's lived-in team)."""
    from webapp.app import create_app
    from webapp.extensions import db

    monkeypatch.setenv("IQSMS_INSTANCE_PATH", str(live_server.instance))
    url = os.environ.get("TEST_DATABASE_URL") or (
        f"sqlite:///{live_server.instance / 'iqsms.sqlite3'}"
    )
    sandbox = f"{live_server.url}/sandbox/messages/v2/"  # teams made here use its sandbox
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SANDBOX_URL": sandbox, "TESTING": True})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def page(browser):
    """A fresh browser context and page; any console error or failed page script fails the test
    (a Content-Security-Policy violation shows up as one)."""
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert errors == [], errors
