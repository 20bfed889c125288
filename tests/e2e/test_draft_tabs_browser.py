"""Two tabs on one draft, in real Chromium against `flask serve`: both autosave as the person
types, and neither overwrites the other silently. The stale tab is told the draft changed
elsewhere, keeps what was typed, and chooses: keep mine (replace the other version) or load
the other version."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.helpers import FIRST, nav_link, sender_names_arrive, sign_up


def fits(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_stale_tab_is_told_keeps_its_text_and_chooses(live_server, page: Page) -> None:
    url = live_server.url
    sign_up(page, url, FIRST, "Acme")
    sender_names_arrive(page, url)
    nav_link(page, "Campaigns").click()
    page.get_by_role("button", name="New campaign").click()
    expect(page).to_have_url(re.compile(r"/campaigns/\d+/edit$"))
    draft_url = page.url

    tab_a = page
    tab_b = page.context.new_page()  # the same person, a second tab
    errors: list[str] = []
    tab_b.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab_b.on("pageerror", lambda e: errors.append(str(e)))
    tab_b.set_viewport_size({"width": 390, "height": 844})
    tab_b.goto(draft_url)

    # Tab A types: saved as it types, and its form's version moves on.
    opened_at = tab_a.locator("#version").input_value()
    tab_a.get_by_label("Message", exact=True).fill("Written in tab A")
    expect(tab_a.locator("#version")).not_to_have_value(opened_at)
    expect(tab_a.get_by_test_id("draft-conflict")).to_have_count(0)

    # Tab B, opened before, types: told in its live panel, its text kept.
    tab_b.get_by_label("Message", exact=True).fill("Written in tab B")
    warning = tab_b.get_by_test_id("draft-conflict")
    expect(warning).to_contain_text("This draft was changed elsewhere")
    expect(tab_b.get_by_label("Message", exact=True)).to_have_value("Written in tab B")
    assert fits(tab_b), "the warning makes the page wider than 390 px"

    # Keep mine: tab B's text replaces tab A's, knowingly.
    tab_b.get_by_test_id("keep-mine").click()
    expect(tab_b.locator(".flashes")).to_contain_text("Your version is saved")
    expect(tab_b.get_by_label("Message", exact=True)).to_have_value("Written in tab B")
    expect(tab_b.get_by_test_id("draft-conflict")).to_have_count(0)

    # Now tab A is the stale one: its next keystrokes are not saved over tab B's.
    tab_a.get_by_label("Message", exact=True).fill("Tab A again")
    expect(tab_a.get_by_test_id("draft-conflict")).to_be_visible()
    expect(tab_a.get_by_label("Message", exact=True)).to_have_value("Tab A again")
    tab_a.set_viewport_size({"width": 1280, "height": 900})
    assert fits(tab_a)

    # Load the other version: tab A shows what tab B saved, and saves on from there.
    tab_a.get_by_test_id("load-other-version").click()
    expect(tab_a.get_by_label("Message", exact=True)).to_have_value("Written in tab B")
    expect(tab_a.get_by_test_id("draft-conflict")).to_have_count(0)
    loaded_at = tab_a.locator("#version").input_value()
    tab_a.get_by_label("Message", exact=True).fill("Written in tab B, then A")
    expect(tab_a.locator("#version")).not_to_have_value(loaded_at)  # saved
    tab_a.reload()
    expect(tab_a.get_by_label("Message", exact=True)).to_have_value("Written in tab B, then A")
    tab_b.close()
    assert errors == [], errors
