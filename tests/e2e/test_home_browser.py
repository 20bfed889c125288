"""The home page in a real browser against `flask serve`: an owner sends a campaign, goes
home, and without reloading sees it run, then what is left on the account, what today cost and
which campaign spent it, and the delivery rate, all agreeing with what the sandbox charged."""

from __future__ import annotations

import re
from decimal import Decimal

from playwright.sync_api import Page, expect

from tests.e2e.helpers import COUNT, FIRST, home_url, nav_link, send_campaign, sign_up

PRICE = Decimal("2.50")  # a new team's sandbox account: 1,000.00 RUB at 2.50 a part


def test_the_home_page_shows_what_is_left_and_what_spent_it_without_reloading(
    live_server, page: Page
) -> None:
    url = live_server.url
    sign_up(page, url, FIRST, "Acme")
    send_campaign(page, url)
    nav_link(page, "Home").click()
    expect(page).to_have_url(home_url(url))
    page.evaluate("window.__samePage = true")  # gone if the page reloads

    spent = PRICE * COUNT  # one part each
    balance = page.get_by_test_id("home-balance")
    expect(balance.get_by_test_id("balance-RUB")).to_have_text(
        f"RUB {Decimal('1000.00') - spent:,.2f}", timeout=40_000
    )
    # The campaign's delivery reports are all in: nothing runs and the page stops polling.
    expect(page.get_by_test_id("home-nothing-running")).to_be_visible(timeout=40_000)
    expect(page.locator("#dashboard")).not_to_have_attribute("hx-get", re.compile("."))

    today = page.get_by_test_id("home-today")
    expect(today).to_contain_text(f"{COUNT} messages")
    expect(today).to_contain_text(f"{COUNT} parts, RUB {spent:,.2f}")
    reports = today.inner_text()
    delivered, failed = (
        int(n) for n in re.search(r"(\d+) delivered, (\d+) failed", reports).groups()
    )
    assert delivered + failed == COUNT
    expect(page.get_by_test_id("home-today-rate")).to_have_text(f"{100 * delivered / COUNT:.1f}%")
    top = page.get_by_test_id("home-top-campaigns").locator("tbody tr")
    expect(top).to_have_count(1)
    expect(top.first).to_contain_text(f"{spent:,.2f}")
    expect(top.first).to_contain_text("100%")
    assert page.evaluate("window.__samePage") is True
