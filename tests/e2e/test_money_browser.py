"""Money in a real browser against `flask serve` (issue 12, items 1 and 2): a 4,800-recipient
campaign against the new team's 1,000.00 RUB sandbox account (2.50 a part: an estimate of
12,000.00 RUB) shows the shortfall in the composer's live panel (once the worker's first
reading arrives, which the panel waits for by itself) and on the confirmation page, and is not
sent until the person ticks "Send anyway"; a price per part typed with a decimal comma is
stored as meant, and one that cannot be read is refused beside the field, as typed. Every page
fits 1280 and 390 px."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import FIRST, another_person, flash, open_new_draft, sign_up

MANY = 4_800
SHORTFALL = "RUB 1,000.00 covers about 400 of 4,800 messages."
ANYWAY = re.compile(r"Send anyway: RUB\s1,000\.00 covers about 400 of 4,800 messages\.")


PASTE = """(box, text) => {
  box.value = text;
  box.dispatchEvent(new Event("input", {bubbles: true}));
}"""


def fits(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def fits_both_widths(page: Page) -> None:
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        assert fits(page), (page.url, width)
    page.set_viewport_size({"width": 1280, "height": 900})


@pytest.fixture
def refused() -> list[str]:
    """Addresses a test expects to answer 400 (a refused send, a refused price: answered with
    their pages, which Chromium logs as failed loads)."""
    return []


@pytest.fixture
def page(browser, refused):
    """A page that fails the test on any console error but those of ``refused``."""
    with another_person(browser, refused) as page:  # type: ignore[arg-type]
        yield page


def test_a_campaign_the_account_cannot_pay_for_shows_the_shortfall_before_it_can_send(
    live_server, page, refused
):
    url = live_server.url
    sign_up(page, url, FIRST, "Ada's Team")
    open_new_draft(page, url)
    # Pasted at once, as a paste does (typing 4,800 lines key by key would take minutes).
    numbers = page.get_by_label("Numbers", exact=True)
    numbers.evaluate(PASTE, "\n".join(f"+7916{i:07d}" for i in range(MANY)))
    page.get_by_label("Sender name").select_option("MyBrand")
    message = page.get_by_label("Message", exact=True)
    message.fill("Spring sale")
    # Leaving the box autosaves once more (its change event): let that land before Continue,
    # or Continue may race it (see the report: not this test's subject).
    with page.expect_response(lambda r: r.url.endswith("/preview")):
        message.blur()

    panel = page.get_by_test_id("composer-check")
    expect(panel.get_by_test_id("recipient-count")).to_have_text("4,800", timeout=15_000)
    expect(panel.get_by_test_id("estimate")).to_have_text("RUB 12,000.00")
    # The worker reads the new team's balance within seconds; the panel asks for itself again
    # meanwhile (never the gateway), and then shows it beside the estimate.
    expect(panel.get_by_test_id("funds-available")).to_have_text("RUB 1,000.00", timeout=30_000)
    expect(panel.get_by_test_id("shortfall")).to_contain_text(SHORTFALL)
    fits_both_widths(page)

    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/campaigns/\d+/confirm$"))
    confirmation = page.get_by_test_id("confirmation")
    expect(confirmation.get_by_test_id("confirm-cost")).to_contain_text("RUB 12,000.00")
    expect(confirmation.get_by_test_id("shortfall")).to_contain_text(SHORTFALL)
    anyway = page.get_by_label(ANYWAY)
    expect(anyway).not_to_be_checked()
    fits_both_widths(page)

    # Not chosen: refused, with the reason beside the box; nothing is sent.
    refused.append(page.url.removesuffix("/confirm") + "/send")
    page.get_by_role("button", name="Send 4,800 messages now").click()
    expect(page.get_by_test_id("send-anyway-error")).to_contain_text(
        "Not sent: the estimate is more than the account has."
    )
    expect(page).to_have_url(re.compile(r"/campaigns/\d+/send$"))
    expect(page.get_by_label(ANYWAY)).to_have_attribute("aria-invalid", "true")
    fits_both_widths(page)

    # Chosen: sent, and the campaign pauses when the money runs out.
    page.get_by_label(ANYWAY).check()
    page.get_by_role("button", name="Send 4,800 messages now").click()
    expect(page).to_have_url(re.compile(r"/campaigns/\d+$"))
    expect(flash(page)).to_contain_text("Sending 4,800 messages now.")
    expect(page.get_by_test_id("state")).to_have_text(re.compile("paused"), timeout=60_000)
    expect(page.get_by_test_id("pause-reason")).to_contain_text("balance")


def test_a_price_with_a_decimal_comma_is_stored_as_meant(live_server, page, refused):
    url = live_server.url
    sign_up(page, url, FIRST, "Ada's Team")
    page.goto(url + "/team/settings")
    price = page.get_by_label("Price per message part, RUB")
    expect(price).to_have_value("2.50")
    assert price.get_attribute("type") == "text"
    assert price.get_attribute("inputmode") == "decimal"

    price.fill("2,75")
    page.get_by_role("button", name="Save sending settings").click()
    expect(flash(page)).to_contain_text("Sending settings saved.")
    expect(page.get_by_label("Price per message part, RUB")).to_have_value("2.75")

    page.get_by_label("Price per message part, RUB").fill("2,7x")
    refused.append(page.url)
    page.get_by_role("button", name="Save sending settings").click()
    price = page.get_by_label("Price per message part, RUB")
    expect(price).to_have_value("2,7x")
    expect(price).to_have_attribute("aria-invalid", "true")
    error = page.locator("#sending-price_per_part-error")
    expect(error).to_have_text("Enter the price in digits, like 2.50 or 2,75.")
    fits_both_widths(page)

    # The stored price is the one the composer estimates with, written as money.
    page.goto(url + "/team/settings")
    expect(page.get_by_label("Price per message part, RUB")).to_have_value("2.75")
