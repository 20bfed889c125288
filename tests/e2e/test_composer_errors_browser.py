"""The composer's errors in Chromium: after Continue, a summary at the top (focused) links to
each field with an error, a click on a link focuses that field, each field shows its errors
above it, and they follow the text as it is mended; a long, mostly Cyrillic text full of odd
characters never makes the composer wider than the window, at 390 and at 1280 px."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import FIRST, another_person, nav_link, sender_names_arrive, sign_up

WIDER = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def page(live_server, browser):
    """A new team's composer, in a page that fails the test on any console error but the 400
    that answers Continue with errors (the page with them: Chromium logs it)."""
    url = live_server.url
    answered_400: list[str] = []
    with another_person(browser, answered_400) as page:  # type: ignore[arg-type]
        sign_up(page, url, FIRST, "Composer")
        sender_names_arrive(page, url)
        nav_link(page, "Campaigns").click()
        page.get_by_role("button", name="New campaign").click()
        expect(page).to_have_url(re.compile(r"/campaigns/\d+/edit$"))
        answered_400.append(page.url)
        yield page


def test_the_error_summary_links_to_the_fields_and_errors_sit_beside_them(page):
    text = page.get_by_label("Message", exact=True)
    text.fill("Hi {{name}}, sale today")
    page.get_by_role("button", name="Continue").click()

    summary = page.get_by_test_id("error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary.get_by_role("heading")).to_have_text("There is a problem")
    # One link per error, to the field it concerns.
    slip = summary.get_by_role("link", name=re.compile("has double braces"))
    nobody = summary.get_by_role("link", name=re.compile("There are no recipients yet"))
    expect(slip).to_have_attribute("href", "#text")
    expect(nobody).to_have_attribute("href", "#recipients")

    # Beside the field: above it, and named by it.
    beside = page.get_by_test_id("field-errors-text")
    expect(beside).to_contain_text("“{{name}}” at character 4 has double braces: write {name}.")
    expect(text).to_have_attribute("aria-invalid", "true")
    expect(text).to_have_attribute("aria-describedby", re.compile(r"\btext-error\b"))
    assert beside.bounding_box()["y"] < text.bounding_box()["y"]
    expect(page.get_by_test_id("field-errors-recipients")).to_contain_text("no recipients")

    # A click on a link focuses its field (a group: its first control).
    slip.click()
    expect(text).to_be_focused()
    nobody.click()
    expect(page.get_by_label("Numbers")).to_be_focused()

    # Mended as the person types: the errors beside the field and in the summary go.
    text.fill("Hi {name|friend}, sale today")
    expect(beside).to_be_empty()
    expect(text).not_to_have_attribute("aria-invalid", "true")
    expect(slip).to_have_count(0)
    expect(nobody).to_have_count(1)
    expect(text).to_be_focused()  # the summary's update never takes the focus away
    page.get_by_label("Numbers").fill("+79165550001")
    expect(page.get_by_test_id("error-summary")).to_have_count(0)
    expect(page.get_by_test_id("composer-check").get_by_test_id("readiness")).to_have_text(
        "Ready: continue to check and send."
    )


ODD = "№ — « » ‘ ’ … ✓ ★ ☎ ♥ 😀 🎉 👍 🚀 ✈ ☀ ☂ ♫ ∞ ≈ ≠ ± × ÷ • ° ‰ ™ ® © ¢ ¦ ¶"
CYRILLIC = "Здравствуйте! Распродажа сегодня и завтра, скидки до половины цены на всё "


def test_a_long_cyrillic_text_with_odd_characters_fits_the_window(page):
    text = page.get_by_label("Message", exact=True)
    panel = page.get_by_test_id("composer-check")
    long = (CYRILLIC + ODD + " ") * 4 + "Оченьдлинноесловобезпробеловкотороеникакнеперенести" * 3
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        text.fill(long + str(width))
        expect(panel.get_by_test_id("ucs2-cyrillic")).to_contain_text(
            "Cyrillic letters make this message UCS-2"
        )
        expect(panel.get_by_test_id("ucs2-chars")).to_contain_text("🚀")
        expect(panel.get_by_test_id("error-text_length")).to_contain_text("at most 10 parts")
        assert page.evaluate(WIDER), (width, page.evaluate("document.documentElement.scrollWidth"))
        # The same after Continue, with the summary and the errors beside the fields (the
        # page that comes back: the summary of the one before may still be showing).
        with page.expect_navigation():
            page.get_by_role("button", name="Continue").click()
        expect(page.get_by_test_id("error-summary")).to_be_visible()
        assert page.evaluate(WIDER), (width, page.evaluate("document.documentElement.scrollWidth"))
    # A Latin text with a few odd characters still boxes each, and marks where it is.
    text.fill("Sale today — 50% off ★ " * 3)
    expect(panel.get_by_test_id("marked-text").locator("mark")).to_have_count(6)
    assert page.evaluate(WIDER)
