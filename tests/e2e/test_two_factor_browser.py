"""Two-factor sign-in in a real browser at phone width (390 px): enrolling from the Account
page with the QR code and key shown, the recovery codes, and signing in again with a code."""

from __future__ import annotations

import re
import time

import pyotp
from playwright.sync_api import Page, expect

from tests.e2e.helpers import FIRST, home_url, sign_up
from tests.helpers import PASSWORD

PHONE = {"width": 390, "height": 844}


def fits_the_width(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_enrol_and_sign_in_with_a_code_on_a_phone(live_server, page: Page) -> None:
    url = live_server.url
    page.set_viewport_size(PHONE)
    sign_up(page, url, FIRST, "Phone Team")

    page.goto(url + "/account")
    page.get_by_test_id("two-factor-link").click()
    page.get_by_role("button", name="Set up two-factor sign-in").click()
    expect(page).to_have_url(url + "/account/two-factor/enrol")
    qr = page.locator("figure.qr svg")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box is not None and 150 <= box["width"] <= PHONE["width"]
    assert fits_the_width(page)
    secret = page.get_by_test_id("two-factor-secret").inner_text().strip()

    page.get_by_label("Code from your app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    codes = page.get_by_test_id("recovery-codes").locator("code")
    expect(codes).to_have_count(10)
    assert fits_the_width(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download as text").click()
    saved = download.value.path().read_text()
    assert codes.first.inner_text() in saved

    # Sign out and in again: the code is asked before anything else.
    page.locator(".team-switcher summary").click()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Email").fill(FIRST)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Enter the code from your app")).to_be_visible()
    expect(page.get_by_test_id("current-team")).to_have_text("no team")
    assert fits_the_width(page)
    page.get_by_label(re.compile("Code from your app")).fill(
        pyotp.TOTP(secret).at(time.time() + 30)
    )
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(home_url(url))
    expect(page.get_by_test_id("current-team")).to_have_text("Phone Team")
