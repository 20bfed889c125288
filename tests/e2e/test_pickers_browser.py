"""The team's region and time-zone pickers in a real browser against `flask serve`: options
named in the page's language (``(UTC+03:00) Москва``, ``Казахстан (+7)``), and the filter box
that static/js/select-filter.js shows above each: typing narrows the options but never changes
the choice (only the person picking an option does), a word that matches nothing says so, and
what is saved is still the zone's and the country's code. The page fits a phone."""

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
    page.locator(ZONE).select_option("Asia/Kathmandu")  # the person picks what was found
    assert page.locator(ZONE).evaluate(VISIBLE_OPTIONS) == 1
    zone_filter.fill("nepal")  # by its country, too
    expect(page.locator(ZONE)).to_have_value("Asia/Kathmandu")
    zone_filter.fill("no such place")
    expect(page.locator("#sending-timezone-filter-status")).to_have_text("No time zone matches.")
    expect(page.locator(ZONE)).to_have_value("Asia/Kathmandu")  # the choice stays

    region_filter = page.get_by_test_id("sending-phone_region-filter")
    region_filter.fill("kazakh")
    page.locator(REGION).select_option("KZ")

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
    page.locator(ZONE).select_option("Europe/Moscow")
    expect(page.locator(f"{ZONE} option:checked")).to_have_text("(UTC+03:00) Москва")
    page.get_by_test_id("sending-timezone-filter").fill("россия utc+3")
    assert page.locator(ZONE).evaluate(VISIBLE_OPTIONS) >= 2  # Moscow, Simferopol, Kirov...


def test_filtering_never_changes_what_is_saved_only_picking_does(live_server, page: Page) -> None:
    url = live_server.url
    sign_up(page, url, FIRST, "Ada's Team")
    page.set_extra_http_headers({"Accept-Language": "ru-RU,ru;q=0.9"})
    page.goto(url + "/team/settings")
    zone, region = page.locator(ZONE), page.locator(REGION)
    zone_before, region_before = zone.input_value(), region.input_value()
    zone_filter = page.get_by_test_id("sending-timezone-filter")
    region_filter = page.get_by_test_id("sending-phone_region-filter")
    save = page.get_by_test_id("sending-settings").locator("button[type=submit]")

    # The walkthrough's words: each narrowed the list and used to select its first match.
    for words in ("казах", "+375"):
        region_filter.fill(words)
        expect(region).to_have_value(region_before)
        assert region.locator("option:checked").evaluate("(o) => !o.hidden")  # still shown
    for words in ("UTC+3", "мск", "нет такого места"):
        zone_filter.fill(words)
        expect(zone).to_have_value(zone_before)
    expect(page.locator("#sending-timezone-filter-status")).to_have_text(
        "Подходящих часовых поясов нет."
    )
    region_filter.fill("")
    zone_filter.fill("")
    with page.expect_navigation():
        save.click()
    expect(flash(page)).to_contain_text("Настройки отправки сохранены.")
    expect(zone).to_have_value(zone_before)
    expect(region).to_have_value(region_before)

    # Picking an option after filtering is what changes the choice, and that one is saved.
    region_filter.fill("+375")
    region.select_option("BY")
    zone_filter.fill("мск")
    zone.select_option("Asia/Omsk")
    replaced = zone.locator(f'option[value="{zone_before}"]')
    assert replaced.evaluate("(o) => o.hidden") is (zone_before != "Asia/Omsk")
    with page.expect_navigation():
        save.click()
    expect(flash(page)).to_contain_text("Настройки отправки сохранены.")
    page.reload()
    expect(region).to_have_value("BY")
    expect(region.locator("option:checked")).to_have_text("Беларусь (+375)")
    expect(zone).to_have_value("Asia/Omsk")
