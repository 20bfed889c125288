"""Send a test from the composer (issue 12 item 8), in real Chromium against `flask serve`:
compose to a list, send a test to the phone in one's profile, and watch its status become
delivered beside the button, without a reload; the composer fits a 390 px screen."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import Page, expect

from tests.e2e.helpers import (
    FIRST,
    flash,
    nav_link,
    sandbox_control_headers,
    sender_names_arrive,
    sign_up,
)

OWN_PHONE = "+79165550007"
LIST_PHONES = ["+79161110001", "+79161110002", "+79161110003"]
ALL_DELIVERED = {"delivered_ratio": 1.0, "delivery_error_ratio": 0.0, "smsc_reject_ratio": 0.0}


def fits(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_send_a_test_to_ones_own_phone_and_see_it_delivered(live_server, page: Page) -> None:
    url = live_server.url
    requests.patch(
        f"{url}/sandbox/_sandbox/settings",
        json=ALL_DELIVERED,
        headers=sandbox_control_headers(live_server.instance),
        timeout=5,
    ).raise_for_status()
    sign_up(page, url, FIRST, "Acme")

    # The phone in one's profile.
    page.goto(url + "/account")
    page.get_by_label("Phone number").fill("8 916 555-00-07")
    page.get_by_role("button", name="Save phone").click()
    expect(flash(page)).to_contain_text("Your phone is saved.")
    expect(page.get_by_label("Phone number")).to_have_value(OWN_PHONE)

    # A list of three.
    sender_names_arrive(page, url)
    nav_link(page, "Contacts").click()
    page.get_by_label("List name").fill("Friends")
    page.get_by_role("button", name="Create list").click()
    page.get_by_label("Phone numbers").fill("\n".join(LIST_PHONES))
    page.get_by_role("button", name="Add numbers").click()
    expect(page.get_by_test_id("contact-count")).to_have_text("3 contacts")

    # Compose to it.
    nav_link(page, "Campaigns").click()
    page.get_by_role("button", name="New campaign").click()
    expect(page).to_have_url(re.compile(r"/campaigns/\d+/edit$"))
    page.get_by_label("Friends").check()
    page.get_by_label("Message", exact=True).fill("First words")
    page.get_by_label("Sender name").select_option("MyBrand")
    panel = page.get_by_test_id("composer-check")
    expect(panel.get_by_test_id("recipient-count")).to_have_text("3")

    # The test goes to the profile's phone, filled in; its status follows beside the button.
    # It is of what the composer holds, typed just now and not yet autosaved.
    test = page.get_by_test_id("test-send")
    numbers = test.get_by_label("Send the test to")
    expect(numbers).to_have_value(OWN_PHONE)
    page.get_by_label("Message", exact=True).fill("Testing, testing")
    test.get_by_role("button", name="Send a test").click()
    sent = page.get_by_test_id("test-sent")
    expect(sent).to_have_count(1)
    expect(sent).to_contain_text(OWN_PHONE)
    expect(sent.get_by_test_id("test-state")).to_have_text("Delivered", timeout=30_000)
    expect(sent).to_contain_text("RUB 2.50")
    # Still the composer of the draft, with what was typed; the poll has stopped; typing on
    # saves without a conflict (the test's save moved the composer's version on).
    expect(page).to_have_url(re.compile(r"/campaigns/\d+/edit$"))
    expect(page.get_by_label("Message", exact=True)).to_have_value("Testing, testing")
    expect(page.get_by_test_id("test-send")).not_to_have_attribute("data-live-poll", "")
    assert fits(page)
    page.get_by_label("Message", exact=True).fill("Testing on")
    expect(panel.get_by_test_id("sample-text")).to_contain_text("Testing on")
    expect(page.get_by_test_id("draft-conflict")).to_have_count(0)

    # A wrong number is said beside the field, as typed.
    numbers = page.get_by_test_id("test-send").get_by_label("Send the test to")
    numbers.fill("+7 916 12")
    page.get_by_test_id("test-send").get_by_role("button", name="Send a test").click()
    expect(page.get_by_test_id("test-send-error")).to_contain_text("is not a valid number")
    expect(numbers).to_have_value("+7 916 12")

    # The sandbox received the test alone: nothing went to the draft's list.
    headers = sandbox_control_headers(live_server.instance)
    accounts = requests.get(f"{url}/sandbox/_sandbox/", headers=headers, timeout=5).json()
    received = [
        (m["phone"], m["text"])
        for account in accounts["accounts"]
        for m in requests.get(
            f"{url}/sandbox/_sandbox/accounts/{account['login']}/messages",
            headers=headers,
            timeout=5,
        ).json()["messages"]
    ]
    assert received == [(OWN_PHONE[1:], "Testing, testing")]

    # 390 px wide: the composer with its panels fits, and so does the templates page.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.get_by_test_id("test-sent")).to_have_count(1)
    assert fits(page)
    page.goto(url + "/templates")
    assert fits(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    assert fits(page)


def test_a_template_replaces_the_message_only_once_confirmed(live_server, page: Page) -> None:
    url = live_server.url
    sign_up(page, url, "tess@example.com", "Tess Team")
    page.goto(url + "/templates")
    page.get_by_role("link", name=re.compile("New template")).first.click()
    page.get_by_label("Template name").fill("Promo")
    page.get_by_label(re.compile("^(Text|Message)")).first.fill("Template text")
    page.get_by_role("button", name=re.compile("Save|Create")).click()
    nav_link(page, "Campaigns").click()
    page.get_by_role("button", name="New campaign").click()
    message = page.get_by_label("Message", exact=True)
    message.fill("My own words")
    with page.expect_navigation():
        page.get_by_role("button", name="Save draft").click()
    expect(flash(page)).to_contain_text("Draft saved.")
    message = page.get_by_label("Message", exact=True)
    expect(message).to_have_value("My own words")

    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Use template").click()
    expect(message).to_have_value("My own words")  # dismissed: nothing replaced
    assert asked == ["Replace the message with the template’s text?"]

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Use template").click()
    expect(page.get_by_label("Message", exact=True)).to_have_value("Template text")
    expect(page.locator(".flashes")).to_contain_text("The text of “Promo” is in the draft.")
