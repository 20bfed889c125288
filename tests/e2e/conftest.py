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
