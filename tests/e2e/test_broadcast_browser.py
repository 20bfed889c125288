"""A broadcast in a real browser against `flask serve`, as a new user does it: sign up, upload a
Windows-1251 CSV into a list, compose a message with a placeholder while the live check follows,
confirm, send, and see the campaign finish on the built-in sandbox. And the composer keeps what
was typed when sending is refused, and in a draft reopened later."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.helpers import (
    FIRST,
    another_person,
    flash,
    in_team,
    nav_link,
    sandbox_control_headers,
    sender_names_arrive,
    sign_up,
)
from webapp.sandbox.accounts import SEED_ACCOUNTS

ON_SQLITE = not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")

LIST = "Клиенты"
# Numbers +7 916 123-45-67, -68, ... in the forms people write them in, in turn.
FORMS = ["+7 (916) 123-{}-{}", "8916123{}{}", "916123{}{}", "+7 916 123 {} {}", "8-916-123-{}-{}"]
NAMES = [
    "Анна", "Борис", "Вера", "Глеб", "Дарья", "Егор", "Жанна", "Захар", "Ирина", "Кирилл",
    "Лидия", "Максим", "Нина", "Олег", "Полина", "Роман", "Светлана", "Тимур", "Ульяна", "Фёдор",
    "Юлия", "Ярослав", "Алёна", "Богдан", "Святослав", "Елизавета", "Григорий", "Василиса",
]  # fmt: skip
CITIES = ["Москва", "Казань", "Самара", "Пермь"]
FINAL = ("delivered", "failed")  # where a message accepted by the sandbox ends
INVALID = ("не знаю", "Мирон", "Тула")
DUPLICATE = ("8 916 123 45 67", "Анна", "Москва")  # the first number again, written otherwise
TEXT = (
    "Hello {Имя}, our spring sale is on: 20% off everything all week "
    "at the Tverskaya store. Скидка!"
)  # 95 characters, UCS-2 for the Cyrillic word: 2 parts whichever name fills it in


def contacts() -> list[tuple[str, str, str, str]]:
    """The file's valid rows: (phone as written, name, city, phone as normalised)."""
    return [
        (
            FORMS[k % len(FORMS)].format("45", 67 + k),
            name,
            CITIES[k % len(CITIES)],
            f"791612345{67 + k}",
        )
        for k, name in enumerate(NAMES)
    ]


def write_csv(path: Path) -> list[tuple[str, str, str]]:
    """The file as Excel saves it in a Russian locale (Windows-1251, semicolons, CRLF), with
    one row that is not a phone and one number that is already in the file."""
    rows = [row[:3] for row in contacts()]
    rows.insert(5, DUPLICATE)
    rows.insert(9, INVALID)
    lines = ["Телефон;Имя;Город", *(";".join(row) for row in rows)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1251"))
    return rows


# -- what a person sees and does ------------------------------------------------------------------


def check_panel(page: Page) -> Locator:
    """The composer's live check beside the form (htmx swaps it as the person types)."""
    return page.get_by_test_id("composer-check")


def sandbox_received(page: Page, live_server) -> list[dict]:
    """What the team's sandbox account received (the sandbox's control API, a test's view)."""
    url, headers = live_server.url, sandbox_control_headers(live_server.instance)
    seeded = {account["login"] for account in SEED_ACCOUNTS}
    accounts = page.request.get(f"{url}/sandbox/_sandbox/", headers=headers).json()["accounts"]
    (login,) = [a["login"] for a in accounts if a["login"] not in seeded]
    path = f"{url}/sandbox/_sandbox/accounts/{login}/messages"
    return page.request.get(path, headers=headers).json()["messages"]


# -- tests ---------------------------------------------------------------------------------------


def test_import_a_csv_compose_send_and_see_the_campaign_finish(
    live_server, page: Page, tmp_path: Path
) -> None:
    url = live_server.url
    rows = write_csv(tmp_path / "clients.csv")
    assert len(rows) == 30
    sign_up(page, url, FIRST, "Acme")

    # Contacts → a new list.
    nav_link(page, "Contacts").click()
    expect(page.locator("main h1")).to_have_text("Contact lists")
    page.get_by_label("List name").fill(LIST)
    page.get_by_role("button", name="Create list").click()
    expect(page.locator("main h1")).to_have_text(LIST)
    expect(flash(page)).to_contain_text(f"List {LIST} created.")
    expect(page.get_by_test_id("contact-count")).to_have_text("0 contacts")

    # Upload the file ...
    page.get_by_role("link", name="Upload a CSV file").click()
    expect(page.locator("main h1")).to_have_text(f"Upload contacts to {LIST}")
    page.get_by_label("CSV file").set_input_files(tmp_path / "clients.csv")
    page.get_by_role("button", name="Upload and preview").click()

    # ... and see it read right: Windows-1251, semicolons, the phone column found by its name.
    expect(page.locator("main h1")).to_have_text("Import clients.csv")
    encoding = page.get_by_label("Encoding")
    expect(encoding).to_have_value("cp1251")
    expect(encoding.locator("option:checked")).to_have_text("Windows-1251")
    expect(page.get_by_label("Delimiter")).to_have_value(";")
    phone_column = page.get_by_label("Phone column")
    expect(phone_column).to_have_value("0")
    expect(phone_column.locator("option:checked")).to_have_text("Телефон")
    preview = page.get_by_test_id("preview")
    expect(preview.locator("thead th")).to_have_text(["Телефон", "Имя", "Город"])
    expect(preview.locator("thead th.phone-column")).to_have_text("Телефон")
    expect(preview.locator("tbody tr")).to_have_count(5)
    expect(preview.locator("tbody tr").first.locator("td")).to_have_text(list(rows[0]))
    page.get_by_role("button", name=f"Import into {LIST}").click()

    # The import page follows the worker by itself (htmx polling), without a reload.
    expect(page.locator("main h1")).to_have_text("Import of clients.csv")
    page.evaluate("window.__samePage = true")
    report = page.get_by_test_id("import-state")
    expect(report).to_have_attribute("data-state", "done", timeout=20_000)
    expect(report.get_by_text("Import finished.")).to_be_visible()
    expect(page.get_by_test_id("rows-read")).to_have_text("30")
    expect(page.get_by_test_id("added")).to_have_text("28")
    expect(page.get_by_test_id("duplicates")).to_have_text(
        "1 already in the list or repeated in the file"
    )
    expect(page.get_by_test_id("invalid")).to_have_text("1")
    invalid_line = rows.index(INVALID) + 2  # the header is line 1
    expect(page.get_by_test_id("invalid-rows").locator("tbody td")).to_have_text(
        [str(invalid_line), INVALID[0], "not a phone number"]
    )
    assert page.evaluate("window.__samePage") is True

    # The invalid rows download as CSV.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download invalid rows (CSV)").click()
    download = download_info.value
    assert download.suggested_filename == "clients-invalid-rows.csv"
    assert Path(download.path()).read_text(encoding="utf-8-sig").splitlines() == [
        "Row,Phone,Reason",
        f"{invalid_line},{INVALID[0]},not a phone number",
    ]

    # The list holds 28 numbers, normalised, with their fields.
    page.get_by_role("link", name=f"Go to {LIST}").click()
    expect(page.get_by_test_id("contact-count")).to_have_text("28 contacts")
    expect(page.get_by_test_id("contacts").locator("tbody tr").first.locator("td")).to_have_text(
        ["+79161234567", "Анна", "Москва", "Remove"]
    )

    # Campaigns → New campaign: the live check follows the choices and the text.
    sender_names_arrive(page, url)
    nav_link(page, "Campaigns").click()
    page.get_by_role("button", name="New campaign").click()
    expect(page).to_have_url(in_team(url, "/campaigns/1/edit"))
    panel = check_panel(page)
    expect(panel.get_by_test_id("recipient-count")).to_have_text("0")
    page.get_by_label(LIST).check()
    expect(panel.get_by_test_id("recipient-count")).to_have_text("28")
    expect(panel.get_by_test_id("check-recipients")).to_contain_text("28 from the chosen lists")

    message = page.get_by_label("Message", exact=True)
    message.press_sequentially(TEXT[:20])  # "Hello {Имя}, our spr"
    expect(panel.get_by_test_id("text-counter")).to_contain_text("20 characters")
    message.fill(TEXT)
    expect(panel.get_by_test_id("text-counter")).to_contain_text(f"{len(TEXT)} characters")
    expect(panel.get_by_test_id("encoding")).to_have_text("UCS-2")
    expect(panel.get_by_test_id("parts")).to_have_text("2")
    ucs2 = panel.get_by_test_id("ucs2")
    for char in "Скида":
        expect(ucs2.locator("mark.char").get_by_text(char, exact=True)).to_have_count(1)
    expect(ucs2.get_by_test_id("marked-text").locator("mark", has_text="Скидка")).to_be_visible()
    expect(panel.get_by_test_id("check-preview")).to_contain_text("As +79161234567 will get it:")
    expect(panel.get_by_test_id("sample-text")).to_have_text(TEXT.replace("{Имя}", "Анна"))
    expect(panel.get_by_test_id("sample-parts")).to_have_text("UCS-2, 2 parts")
    expect(panel.get_by_test_id("error-placeholders")).to_have_count(0)
    expect(panel.get_by_test_id("estimate")).to_have_text("RUB 140.00")  # 28 × 2 × 2.50
    expect(panel.get_by_test_id("check-cost")).to_contain_text("28 recipients × 2 parts × RUB 2.50")

    # The sender: the worker fetched the new team's names from the sandbox (no sync asked for;
    # the composer itself calls no gateway), and the composer says which cannot send and why.
    expect(page.get_by_test_id("no-senders")).to_have_count(0)
    expect(page.get_by_test_id("sender-note")).to_contain_text(
        "MegaFon (blocked: the name of a mobile operator cannot be used)"
    )
    sender = page.get_by_label("Sender name")
    expect(sender.locator("option")).to_have_text(["Choose a sender name…", "MyBrand", "TEST"])
    expect(sender).to_have_value("TEST")  # the account's default, until another is chosen
    sender.select_option("MyBrand")
    expect(panel.get_by_test_id("check-when")).to_contain_text("From MyBrand")
    expect(panel.get_by_test_id("readiness")).to_have_text("Ready: continue to check and send.")

    # The confirmation says what will happen.
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(in_team(url, "/campaigns/1/confirm"))
    expect(page.get_by_test_id("statement")).to_have_text(
        "28 messages will be sent to 28 recipients from the sender name MyBrand."
    )
    expect(page.get_by_test_id("confirm-recipients")).to_have_text("28")
    expect(page.get_by_test_id("confirm-sender")).to_have_text("MyBrand")
    expect(page.get_by_test_id("confirm-cost")).to_contain_text("RUB 140.00")
    expect(page.get_by_test_id("confirm-when")).to_have_text("now, as soon as you press Send")
    page.get_by_role("button", name="Send 28 messages now").click()

    # The campaign page follows the campaign by itself (it polls; no reload): it finishes, and
    # every message the sandbox accepted goes on to its end, delivered or failed (the sandbox
    # fails about one in ten on purpose). Nothing was refused, nothing is left unknown.
    expect(page).to_have_url(in_team(url, "/campaigns/1"))
    expect(flash(page)).to_contain_text("Sending 28 messages now.")
    page.evaluate("window.__samePage = true")
    expect(page.get_by_test_id("state")).to_have_text("finished", timeout=60_000)
    expect(page.get_by_test_id("progress-text")).to_have_text(
        "28 of 28 settled (100%)", timeout=30_000
    )
    expect(page.get_by_test_id("count-recipients")).to_have_text("28")
    for state in ("queued", "sending", "accepted", "enroute", "rejected", "unknown", "expired"):
        expect(page.get_by_test_id(f"count-{state}")).to_have_text("0")
    delivered, failed = (int(page.get_by_test_id(f"count-{s}").inner_text()) for s in FINAL)
    assert delivered + failed == 28 and delivered > failed, (delivered, failed)
    expect(page.get_by_test_id("cost")).to_have_text("RUB 140.00")  # what the estimate said
    expect(page.get_by_test_id("campaign-summary").get_by_test_id("parts")).to_have_text("56 parts")
    expect(page.get_by_test_id("messages").locator("td.phone")).to_have_count(28)
    assert sorted(page.get_by_test_id("messages").locator("td.phone").all_inner_texts()) == sorted(
        f"+{phone}" for *_, phone in contacts()
    )
    assert page.evaluate("window.__samePage") is True

    # Each person got the text with their own name, from MyBrand, in 2 parts; the sandbox
    # accepted every one ...
    received = sandbox_received(page, live_server)
    assert sorted((m["phone"], m["text"]) for m in received) == sorted(
        (phone, TEXT.replace("{Имя}", name)) for _, name, _, phone in contacts()
    )
    assert {(m["sender"], m["status"], m["parts"]) for m in received} == {
        ("MyBrand", "accepted", 2)
    }

    # ... and billed what the estimate said: 1,000.00 - 140.00.
    nav_link(page, "Campaigns").click()
    expect(page.get_by_test_id("campaign-state")).to_have_text("finished")
    nav_link(page, "Gateway").click()
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_test_id("connection-result")).to_contain_text("Balance RUB: 860.00")

    # The owner sees the same on the team's sandbox account page, which fits a phone: the
    # table of what the sandbox received scrolls inside its own box.
    page.get_by_role("link", name=re.compile("Sandbox account")).click()
    expect(page.get_by_test_id("sandbox-messages").locator("tbody tr")).to_have_count(28)
    expect(page.get_by_text("RUB 860.00", exact=True)).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")


def test_the_composer_keeps_the_text_when_sending_is_refused_and_in_the_draft(
    live_server, browser: Browser
) -> None:
    url = live_server.url
    composer = in_team(url, "/campaigns/1/edit")
    name, text = "Весенняя распродажа", "Привет! Распродажа до воскресенья."
    # "Continue" with things to do answers the composer with 400, which Chromium logs.
    with another_person(browser, expected_errors=(composer,)) as page:
        sign_up(page, url, FIRST, "Acme")
        sender_names_arrive(page, url)
        nav_link(page, "Campaigns").click()
        page.get_by_role("button", name="New campaign").click()
        expect(page).to_have_url(composer)

        # A name and a text, but no recipients and no sender (the default one unchosen).
        expect(page.get_by_label("Sender name")).to_have_value("TEST")
        page.get_by_label("Sender name").select_option("")
        page.get_by_label("Campaign name").fill(name)
        page.get_by_label("Message", exact=True).fill(text)
        panel = check_panel(page)
        expect(panel.get_by_test_id("text-counter")).to_contain_text(f"{len(text)} characters")
        expect(panel.get_by_test_id("readiness")).to_have_text("2 things to do before sending.")
        with page.expect_response(composer) as answer:
            page.get_by_role("button", name="Continue").click()
        assert (answer.value.request.method, answer.value.status) == ("POST", 400)

        # Refused: the composer again, each problem said as an error, nothing typed lost.
        expect(page).to_have_url(composer)
        expect(panel.get_by_test_id("error-recipients")).to_have_text(
            "There are no recipients yet: choose a list or paste numbers."
        )
        expect(panel.get_by_test_id("error-recipients")).to_have_class("field-error")
        expect(panel.get_by_test_id("error-sender")).to_have_text("Choose a sender name.")
        expect(panel.get_by_test_id("error-sender")).to_have_class("field-error")
        expect(panel.get_by_test_id("error-text")).to_have_count(0)
        expect(page.get_by_label("Message", exact=True)).to_have_value(text)
        expect(page.get_by_label("Campaign name")).to_have_value(name)
        expect(page.get_by_label("Sender name")).to_have_value("")

        # The draft is in the campaigns list, and opens with its text.
        nav_link(page, "Campaigns").click()
        row = page.get_by_test_id("campaigns").locator("tbody tr")
        expect(row).to_have_count(1)
        expect(row.locator("td").nth(1)).to_have_text("draft")
        row.get_by_role("link", name=name).click()
        expect(page).to_have_url(composer)
        expect(page.get_by_label("Message", exact=True)).to_have_value(text)
        expect(page.get_by_label("Campaign name")).to_have_value(name)
        expect(check_panel(page).get_by_test_id("text-counter")).to_contain_text(
            f"{len(text)} characters"
        )
