"""Teams in a real browser against `flask serve`: signing up, inviting someone by link, joining
through it, creating and switching teams from the header, signing in with a wrong password, and
testing the gateway connection with htmx."""

from __future__ import annotations

from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.helpers import (
    FIRST,
    PASSWORD,
    SECOND,
    another_person,
    flash,
    home_url,
    in_team,
    nav_link,
    sign_up,
)

# -- what a person sees and does ------------------------------------------------------------------


def current_team(page: Page) -> Locator:
    return page.get_by_test_id("current-team")


def role_badge(page: Page) -> Locator:
    return page.locator("details.team-switcher summary .badge")


def team_menu(page: Page) -> Locator:
    """Open the team switcher (the <details> in the header) and return its menu."""
    switcher = page.locator("details.team-switcher")
    if switcher.get_attribute("open") is None:
        switcher.locator("summary").click()
    menu = switcher.locator(".menu")
    expect(menu).to_be_visible()
    return menu


def expect_in_team(page: Page, team: str, role: str) -> None:
    expect(current_team(page)).to_have_text(team)
    expect(role_badge(page)).to_have_text(role)


# -- tests ---------------------------------------------------------------------------------------


def test_invite_join_create_and_switch_teams(live_server, page: Page, browser: Browser) -> None:
    url = live_server.url

    # The first person signs up with a team of their own.
    sign_up(page, url, FIRST, "Acme")
    expect_in_team(page, "Acme", "owner")
    expect(page.locator("main h1")).to_have_text("Acme")
    expect(nav_link(page, "Gateway")).to_be_visible()
    expect(nav_link(page, "Audit log")).to_be_visible()

    # ... and creates an invitation link for a sender on the Team page.
    nav_link(page, "Team").click()
    expect(page).to_have_url(in_team(url, "/team"))
    page.get_by_label("Role", exact=True).select_option("sender")
    page.get_by_label("Who is it for? (an email address, or a note for you)").fill("Grace")
    page.get_by_role("button", name="Create invitation link").click()
    link = page.get_by_test_id("invite-link").input_value()
    assert link.startswith(url + "/invite/"), link
    open_invitations = page.locator("table", has=page.get_by_role("columnheader", name="For"))
    expect(open_invitations.locator("tbody tr")).to_have_count(1)
    expect(open_invitations.locator("tbody tr")).to_contain_text("Grace")

    with another_person(browser, expected_errors=(link,)) as second:
        # The second person opens the link, signs up through it and is in Acme as a sender.
        second.goto(link)
        expect(second.locator("main h1")).to_have_text("Join Acme")
        expect(second.get_by_text("You are invited as sender.")).to_be_visible()
        second.get_by_label("Email").fill(SECOND)
        second.get_by_label("Password").fill(PASSWORD)
        second.get_by_role("button", name="Create account and join").click()
        expect(second).to_have_url(home_url(url))
        expect(flash(second)).to_contain_text("You joined Acme as sender.")
        expect_in_team(second, "Acme", "sender")
        expect(nav_link(second, "Team")).to_be_visible()
        expect(nav_link(second, "Gateway")).to_have_count(0)
        expect(nav_link(second, "Audit log")).to_have_count(0)
        # Hidden links are not the only guard: a sender may not open the gateway settings.
        assert second.request.get(url + "/team/gateway").status == 403

        # A team of their own from the team menu: they own it and work in it now.
        team_menu(second).get_by_role("link", name="New team…").click()
        expect(second).to_have_url(url + "/teams/new")
        second.get_by_label("Team name").fill("Beta")
        second.get_by_role("button", name="Create team").click()
        expect(second).to_have_url(home_url(url))
        expect_in_team(second, "Beta", "owner")
        expect(second.locator("main h1")).to_have_text("Beta")
        expect(nav_link(second, "Gateway")).to_be_visible()

        # Back to Acme through the team switcher.
        menu = team_menu(second)
        expect(menu.get_by_role("button", name="Beta", exact=True)).to_have_count(0)
        menu.get_by_role("button", name="Acme", exact=True).click()
        expect(second).to_have_url(home_url(url))
        expect(flash(second)).to_contain_text("Now working in Acme.")
        expect_in_team(second, "Acme", "sender")
        expect(second.locator("main h1")).to_have_text("Acme")
        expect(nav_link(second, "Gateway")).to_have_count(0)
        expect(team_menu(second).get_by_role("button", name="Beta", exact=True)).to_be_visible()

        # The first person's Team page lists the second person as a sender.
        page.goto(url + "/team")
        row = page.locator("tbody tr", has_text=SECOND)
        expect(row).to_have_count(1)
        expect(row.get_by_role("combobox")).to_have_value("sender")
        # The only owner's own role cannot be changed, so it is plain text, not a menu.
        mine = page.locator("tbody tr", has_text=FIRST)
        expect(mine.get_by_role("combobox")).to_have_count(0)
        expect(mine).to_contain_text("owner")
        expect(page.get_by_role("heading", name="Open invitations")).to_have_count(0)

        # The link is used up: it does not work again, for the one who used it ...
        second.goto(link)
        expect(second.locator("main h1")).to_have_text("This invitation link does not work")
        expect(second.get_by_role("button", name="Join the team")).to_have_count(0)

    # ... nor for anyone else.
    with another_person(browser, expected_errors=(link,)) as third:
        third.goto(link)
        expect(third.locator("main h1")).to_have_text("This invitation link does not work")
        expect(third.get_by_label("Email")).to_have_count(0)


def test_wrong_password_shows_the_error_by_the_field_and_keeps_the_email(
    live_server, page: Page
) -> None:
    url = live_server.url
    sign_up(page, url, FIRST, "Acme")
    team_menu(page).get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(url + "/login")
    expect(flash(page)).to_contain_text("You are signed out.")

    page.get_by_label("Email").fill(FIRST)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()

    password = page.get_by_label("Password")
    error = page.locator("#password-error")
    expect(error).to_have_text("The email or password is not right.")
    # Next to the field: in the password's own field block, and tied to it for screen readers.
    expect(page.locator(".field", has=password).locator(".field-error")).to_have_text(
        "The email or password is not right."
    )
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_attribute("aria-describedby", "password-error")
    expect(page.get_by_label("Email")).to_have_value(FIRST)
    expect(page.locator("#email-error")).to_have_count(0)
    expect(current_team(page)).to_have_count(0)  # still signed out

    password.fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(home_url(url))
    expect_in_team(page, "Acme", "owner")


def test_test_connection_shows_the_sandbox_balance_without_a_reload(
    live_server, page: Page
) -> None:
    url = live_server.url
    sign_up(page, url, FIRST, "Acme")
    nav_link(page, "Gateway").click()
    expect(page).to_have_url(in_team(url, "/team/gateway"))
    expect(page.get_by_label("Built-in sandbox (no real messages)")).to_be_checked()
    result = page.get_by_test_id("connection-result")
    expect(result).to_have_count(0)

    # A marker on this document survives only if the page is not reloaded.
    page.evaluate("window.__samePage = true")
    with page.expect_response(in_team(url, "/team/gateway/test")) as answer:
        page.get_by_role("button", name="Test connection").click()
    assert answer.value.request.headers.get("hx-request") == "true"
    assert answer.value.status == 200

    expect(result).to_contain_text("Connected.")
    expect(result).to_contain_text("1,000.00")
    expect(result).to_have_class("callout ok")
    expect(page.locator("#connection-result")).to_contain_text("Balance RUB: 1,000.00")
    assert in_team(url, "/team/gateway").match(page.url)
    assert page.evaluate("window.__samePage") is True
