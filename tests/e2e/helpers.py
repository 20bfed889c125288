"""What the browser tests share: signing up in the page, the header's links and flashes, a
second person in a browser context of their own, and a campaign sent through the composer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect

from tests.helpers import PASSWORD

FIRST = "ada@example.com"


def sandbox_control_headers(instance: Path) -> dict[str, str]:
    """The header a test needs to use the live sandbox's control API: the token `flask serve`
    generated into its instance folder (without it, the control API is a 404)."""
    return {"X-Sandbox-Token": (instance / "sandbox_control_token").read_text().strip()}


SECOND = "grace@example.com"


@contextmanager
def another_person(
    browser: Browser,
    expected_errors: tuple[str | re.Pattern[str], ...] = (),
    locale: str | None = None,
) -> Iterator[Page]:
    """A page in a browser context of its own (its own cookies: another person) that fails the
    test on any console error or page script error, like the ``page`` fixture.

    ``expected_errors``: addresses (or patterns of them, like :func:`in_team`'s) whose error
    status (a used invitation link is a 404) is what the test expects; Chromium logs "Failed
    to load resource" for those, and only those are let through. ``locale``: the browser's
    language (its Accept-Language), such as "ru-RU".
    """
    context = browser.new_context(locale=locale)
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        at = message.location.get("url") or ""
        expected = any(at == e if isinstance(e, str) else e.fullmatch(at) for e in expected_errors)
        if expected and message.text.startswith(
            "Failed to load resource: the server responded with a status of 4"
        ):
            return
        errors.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield page
    finally:
        context.close()
    assert errors == [], errors


def in_team(base_url: str, path: str) -> re.Pattern[str]:
    """The URL of a team's page (``/teams/<id>`` before its path), as ``to_have_url`` matches."""
    return re.compile(re.escape(base_url) + r"/teams/\d+" + re.escape(path) + "$")


def home_url(base_url: str) -> re.Pattern[str]:
    """The home page's URL: ``/``, or its team's ``/teams/<id>/`` (after choosing a team)."""
    return re.compile(re.escape(base_url) + r"(/teams/\d+)?/$")


def nav_link(page: Page, name: str) -> Locator:
    return page.locator(".nav-links").get_by_role("link", name=name, exact=True)


def flash(page: Page) -> Locator:
    return page.locator(".flashes")


def sign_up(page: Page, base_url: str, email: str, team: str) -> None:
    page.goto(base_url + "/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Team name").fill(team)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(in_team(base_url, "/"))


COUNT = 20


PHONES = [f"+7916555{i:04d}" for i in range(COUNT)]


def sender_names_arrive(page: Page, url: str, name: str = "MyBrand") -> None:
    """Reload the Sender names page, as a person would, until the worker has fetched the new
    team's names (its tick asks for a team without names within seconds)."""
    page.goto(url + "/senders")
    for _ in range(120):
        if page.get_by_role("cell", name=name, exact=True).count():
            return
        page.wait_for_timeout(250)
        page.reload()
    raise AssertionError(f"the worker did not fetch the sender name {name} within 30 s")


def open_new_draft(page: Page, url: str) -> None:
    """Wait for the new team's sender names, then start a campaign and open its composer."""
    sender_names_arrive(page, url)
    nav_link(page, "Campaigns").click()
    page.get_by_role("button", name="New campaign").click()
    expect(page).to_have_url(re.compile(r"/campaigns/\d+/edit$"))


def send_campaign(page: Page, url: str) -> str:
    """Compose, confirm and send a campaign to ``PHONES`` through the UI; its page's URL."""
    sender_names_arrive(page, url)
    nav_link(page, "Campaigns").click()
    page.get_by_role("button", name="New campaign").click()
    expect(page).to_have_url(re.compile(r"/campaigns/\d+/edit$"))
    page.get_by_label("Numbers").fill("\n".join(PHONES))
    page.get_by_label("Message", exact=True).fill("Live status test")
    page.get_by_label("Sender name").select_option("MyBrand")
    panel = page.get_by_test_id("composer-check")
    expect(panel.get_by_test_id("recipient-count")).to_have_text(str(COUNT))
    expect(panel.get_by_test_id("readiness")).to_have_text("Ready: continue to check and send.")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name=f"Send {COUNT} messages now").click()
    expect(page).to_have_url(re.compile(r"/campaigns/\d+$"))
    expect(flash(page)).to_contain_text(f"Sending {COUNT} messages now.")
    return page.url
