"""The campaign page follows its messages by itself, in a real browser against `flask serve`:
send to 20 pasted numbers, stay on the page without reloading, and watch the summary and the
table reach delivered or failed for every message as the sandbox reports them; then polling
stops (286) and no further request goes out. And polls pause while the tab is hidden."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, Request, expect

from tests.e2e.helpers import (
    COUNT,
    FIRST,
    PHONES,
    nav_link,
    send_campaign,
    sender_names_arrive,
    sign_up,
)

FINAL = ("delivered", "failed")


def count(page: Page, state: str) -> int:
    return int(page.get_by_test_id(f"count-{state}").inner_text().replace(",", ""))


def test_the_campaign_page_follows_every_message_to_its_end_and_stops_polling(
    live_server, page: Page
) -> None:
    url = live_server.url
    sign_up(page, url, FIRST, "Acme")
    campaign_url = send_campaign(page, url)
    path = campaign_url.removeprefix(url)

    polls: list[tuple[float, str]] = []

    def on_request(request: Request) -> None:
        if request.url.startswith(campaign_url + "?") and request.headers.get("hx-request"):
            polls.append((time.monotonic(), request.url))

    page.on("request", on_request)
    page.evaluate("window.__samePage = true")  # gone if the page reloads

    # The summary and the table reach the end by themselves: every message delivered or failed.
    summary = page.get_by_test_id("campaign-summary")
    expect(summary.get_by_test_id("progress-text")).to_contain_text(
        f"{COUNT} of {COUNT} settled", timeout=40_000
    )
    expect(page.get_by_test_id("state")).to_have_text("finished", timeout=10_000)
    for state in ("queued", "sending", "accepted", "enroute"):
        expect(page.get_by_test_id(f"count-{state}")).to_have_text("0")
    assert count(page, "delivered") + count(page, "failed") == COUNT
    rows = page.get_by_test_id("messages").locator("tbody tr")
    expect(rows).to_have_count(COUNT)
    states = page.get_by_test_id("message-state").all_inner_texts()
    assert len(states) == COUNT and set(states) <= set(FINAL), states
    assert set(page.locator("td.phone").all_inner_texts()) == {p.replace(" ", "") for p in PHONES}
    rate = page.get_by_test_id("delivery-rate").inner_text()
    assert rate == f"{100 * count(page, 'delivered') / COUNT:.1f}%"
    assert page.evaluate("window.__samePage") is True
    assert polls, "the page never polled"
    assert all(p.startswith(url + path + "?") for _, p in polls)

    # Final: the poll that saw it answered 286 and no poll goes out any more.
    expect(page.locator("#campaign-live")).not_to_have_attribute("hx-get", re.compile("."))
    settled_at = len(polls)
    page.wait_for_timeout(5_000)
    assert len(polls) == settled_at, polls[settled_at:]


def test_polling_pauses_while_the_tab_is_hidden(live_server, page: Page) -> None:
    url = live_server.url
    # The page believes it is hidden whenever window.__hidden is set (Chromium in headless
    # mode never hides a tab by itself).
    page.add_init_script(
        """
        Object.defineProperty(document, "visibilityState", {
          configurable: true, get: () => (window.__hidden ? "hidden" : "visible"),
        });
        Object.defineProperty(document, "hidden", {
          configurable: true, get: () => !!window.__hidden,
        });
        """
    )
    sign_up(page, url, FIRST, "Acme")
    page.get_by_test_id("current-team")  # signed in
    sender_names_arrive(page, url)
    # A scheduled campaign polls and never finishes on its own during the test.
    nav_link(page, "Campaigns").click()
    page.get_by_role("button", name="New campaign").click()
    page.get_by_label("Numbers").fill("+79165550000")
    page.get_by_label("Message", exact=True).fill("Later")
    page.get_by_label("Sender name").select_option("MyBrand")
    page.locator("input[name=when][value=at]").check()
    page.locator("#send_date").fill("2099-01-01")
    page.locator("#send_time").fill("10:00")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Schedule 1 message").click()
    expect(page.get_by_test_id("state")).to_have_text("scheduled")
    campaign_url = page.url

    polls: list[float] = []
    page.on(
        "request",
        lambda r: (
            polls.append(time.monotonic())
            if r.url.startswith(campaign_url + "?") and r.headers.get("hx-request")
            else None
        ),
    )
    deadline = time.monotonic() + 10
    while not polls and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert polls, "the page never polled"

    page.evaluate("window.__hidden = true; document.dispatchEvent(new Event('visibilitychange'))")
    hidden_from = len(polls)
    page.wait_for_timeout(9_000)  # 2 s, 4 s: at least two polls would have gone out
    assert len(polls) == hidden_from, "polled while hidden"

    page.evaluate("window.__hidden = false; document.dispatchEvent(new Event('visibilitychange'))")
    page.wait_for_timeout(1_000)
    assert len(polls) > hidden_from, "did not refresh when shown again"
