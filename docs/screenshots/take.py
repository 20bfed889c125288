"""Take the README's screenshots from the running app with demo data.

    python docs/screenshots/take.py

Starts the app the README's way (`flask --app wsgi.py serve`, on a free port, with a temporary
instance folder and SQLite), runs `flask demo` once in Russian and once in English (a team
each), signs in as each demo owner in Chromium and saves here, per language: the home page,
the composer with a text typed (its live panel showing parts and cost) and the campaign the
demo left sending, with statuses arriving, at 1280 px; and that campaign at 390 px, in Russian.
PNGs at device scale 1. Needs the test dependencies (Playwright) and /usr/bin/chromium.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
# The browser tests' Chromium and flags (headless, no sandbox, no GPU, no QUIC, no first run,
# no background networking, component updates or sync).
from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402
from webapp.demo.story import STORIES  # noqa: E402

LAPTOP = {"width": 1280, "height": 960}
PHONE = {"width": 390, "height": 844}
LOCALES = {"ru": "ru-RU", "en": "en-GB"}
# What the composer shot types: long enough for two parts, with a placeholder filled in.
TYPED = {
    "ru": "{Имя|Друзья}, только в эти выходные второй капучино в подарок! Покажите это SMS "
    "на кассе любой кофейни «Бодрое утро».",
    "en": "{first_name|Friends}, this weekend only: your second cappuccino is on us at Good "
    "Morning Coffee! Show this SMS at the counter of any of our shops in Moscow, St Petersburg "
    "or Kazan. Reply STOP to opt out.",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(instance: Path, port: int) -> dict[str, str]:
    """The shell's environment without the app's settings, on the temporary instance. The
    sandbox's URL is given to both processes, so that `flask demo` reaches the sandbox that
    `flask serve` mounts on this port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IQSMS_", "FLASK_"))}
    env.pop("DATABASE_URL", None)
    env["IQSMS_INSTANCE_PATH"] = str(instance)
    env["IQSMS_SANDBOX_URL"] = f"http://127.0.0.1:{port}/sandbox/messages/v2/"
    return env


def serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "flask", "--app", "wsgi.py", "serve", "--port", str(port)]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return process
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"flask serve did not start:\n{log.read_text()}")
        time.sleep(0.2)


def demo(env: dict[str, str], language: str) -> tuple[str, str, float]:
    """`flask demo` for ``language``: the owner's email and password, and its run time."""
    email = f"demo-{language}@example.com"
    command = [sys.executable, "-m", "flask", "--app", "wsgi.py", "demo"]
    command += ["--language", language, "--email", email]
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    took = time.monotonic() - started
    if done.returncode:
        raise SystemExit(f"flask demo failed:\n{done.stdout}\n{done.stderr}")
    print(done.stdout.strip())
    found = re.search(r"with the password (\S+)", done.stdout)
    assert found, done.stdout
    return email, found.group(1), took


def sign_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(password)
    with page.expect_navigation():
        page.locator("form button[type=submit]").first.click()


def save(page: Page, name: str, height: int | None = None) -> None:
    """The viewport as ``name``.png, its top ``height`` pixels only when given."""
    path = HERE / f"{name}.png"
    clip = {"x": 0, "y": 0, "width": page.viewport_size["width"], "height": height}
    page.screenshot(path=str(path), clip=clip if height else None)
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1024:.0f} KB")


def live_campaign(page: Page, base: str, language: str) -> str:
    """The campaign the demo left sending, once statuses are arriving: its URL."""
    page.goto(f"{base}/campaigns")
    with page.expect_navigation():
        page.get_by_role("link", name=STORIES[language].live.name, exact=True).click()
    page.goto(page.url + "?sort=oldest")  # the messages with their statuses first
    # The page polls itself; wait for a good share of the statuses, while it still sends.
    expect(page.get_by_test_id("state")).to_have_class(re.compile("state-sending"), timeout=30_000)
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=count-delivered]')"
        ".textContent.replace(/\\D/g, '')) >= 120",
        timeout=60_000,
    )
    return page.url


def composer(page: Page, base: str, language: str) -> None:
    """A new campaign with a list chosen and a text typed, the live panel showing parts and
    cost."""
    page.goto(f"{base}/campaigns")
    with page.expect_navigation():
        page.locator("form[action$='/campaigns/new'] button").click()
    page.get_by_test_id("lists").get_by_text(STORIES[language].lists[0].name).click()
    page.locator("select[name=sender]").select_option("MyBrand")
    text = page.locator("textarea[name=text]")
    text.fill(TYPED[language])
    expect(page.get_by_test_id("parts")).to_have_text("2", timeout=10_000)
    expect(page.get_by_test_id("recipient-count")).not_to_have_text("0")
    # The panel from its text block (characters, parts) down to the cost and the balance.
    page.get_by_test_id("check-text").evaluate("block => block.scrollIntoView()")
    page.evaluate("window.scrollBy(0, -24)")


def shots(browser: Browser, base: str, language: str, email: str, password: str) -> None:
    context = browser.new_context(locale=LOCALES[language], viewport=LAPTOP, device_scale_factor=1)
    page = context.new_page()
    sign_in(page, base, email, password)
    url = live_campaign(page, base, language)
    save(page, f"campaign-{language}")
    if language == "ru":
        phone = browser.new_context(locale=LOCALES[language], viewport=PHONE, is_mobile=True)
        small = phone.new_page()
        sign_in(small, base, email, password)
        small.goto(url)
        save(small, f"campaign-phone-{language}")
        phone.close()
    page.goto(base + "/")
    save(page, f"home-{language}")
    composer(page, base, language)
    save(page, f"composer-{language}", height=860)
    context.close()


def main() -> None:
    started = time.monotonic()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as folder:
        instance = Path(folder) / "instance"
        env = environment(instance, port)
        server = serve(env, port, Path(folder) / "serve.log")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
                for language in LOCALES:
                    email, password, took = demo(env, language)
                    print(f"flask demo --language {language}: {took:.1f} s")
                    shots(browser, base, language, email, password)
                browser.close()
        finally:
            server.terminate()
            server.wait(10)
    print(f"All screenshots in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
