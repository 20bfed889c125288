"""The team's region and time-zone pickers in a real browser against `flask serve`: options
named in the page's language (``(UTC+03:00) Москва``, ``Казахстан (+7)``), and the filter box
that static/js/select-filter.js shows above each: typing narrows the options and selects the
first that matches, a word that matches nothing says so and keeps the choice, and what is
saved is still the zone's and the country's code. The page fits a phone."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.helpers import FIRST, flash, sign_up

ZONE = "#sending-timezone"
REGION = "#sending-phone_region"
VISIBLE_OPTIONS = "(select) => Array.from(select.options).filter((o) => !o.hidden).length"


def test_the_pickers_filter_as_one_types_and_save_the_codes(live_server, page: Page) -> None:
    url = live_server.url
    sign_up(page, url, FIRST, "Ada's Team")
    page.goto(url + "/team/settings")
    zone_filter = page.get_by_test_id("sending-timezone-filter")
    expect(zone_filter).to_be_visible()  # shown by the script; hidden without it

    zone_filter.fill("kathmandu")
    expect(page.locator(ZONE)).to_have_value("Asia/Kathmandu")
    assert page.locator(ZONE).evaluate(VISIBLE_OPTIONS) == 1
    zone_filter.fill("nepal")  # by its country, too
    expect(page.locator(ZONE)).to_have_value("Asia/Kathmandu")
    zone_filter.fill("no such place")
    expect(page.locator("#sending-timezone-filter-status")).to_have_text("No time zone matches.")
    expect(page.locator(ZONE)).to_have_value("Asia/Kathmandu")  # the choice stays

    region_filter = page.get_by_test_id("sending-phone_region-filter")
    region_filter.fill("kazakh")
    expect(page.locator(REGION)).to_have_value("KZ")

    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    page.get_by_role("button", name="Save sending settings").click()
    expect(flash(page)).to_contain_text("Sending settings saved.")
    expect(page.locator(ZONE)).to_have_value("Asia/Kathmandu")
    expect(page.locator(REGION)).to_have_value("KZ")
    expect(page.locator(f"{ZONE} option:checked")).to_have_text("(UTC+05:45) Kathmandu")
    expect(page.locator(f"{REGION} option:checked")).to_have_text("Kazakhstan (+7)")

    # In Russian: the same codes, named as a Russian reads them, found by Russian words.
    page.set_extra_http_headers({"Accept-Language": "ru-RU,ru;q=0.9"})
    page.reload()
    expect(page.locator(f"{ZONE} option:checked")).to_have_text("(UTC+05:45) Катманду")
    expect(page.locator(f"{REGION} option:checked")).to_have_text("Казахстан (+7)")
    page.get_by_test_id("sending-timezone-filter").fill("моск")
    expect(page.locator(ZONE)).to_have_value("Europe/Moscow")
    expect(page.locator(f"{ZONE} option:checked")).to_have_text("(UTC+03:00) Москва")
    page.get_by_test_id("sending-timezone-filter").fill("россия utc+3")
    assert page.locator(ZONE).evaluate(VISIBLE_OPTIONS) >= 2  # Moscow, Simferopol, Kirov...
