"""The composer: recipients (lists ∪ pasted, each phone once, minus the stop list), the live
text counter, placeholders, the sample preview, the estimate, the time zone, the draft saved by
the preview and reopened, errors that keep what was typed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape
from zoneinfo import ZoneInfo

import pytest

from tests.helpers import (
    add_list,
    form,
    load,
    new_draft,
    preview,
    stop,
    team_of,
    text_of,
    without_team,
)
from webapp.extensions import db
from webapp.models import (
    Campaign,
    ContactList,
    Role,
    SenderName,
    Team,
)


@pytest.fixture
def ann(app, make_person, sandbox):
    app.config["SANDBOX_URL"] = sandbox.base_url
    return make_person("ann@example.com")


def test_the_composer_fetches_no_senders_and_points_to_the_senders_page(app, ann, sandbox):
    """Opening the composer calls no gateway: names never fetched are said to be missing, with
    the way to get them; once fetched (by the worker's tick or the Senders page) they are
    offered."""
    campaign_id = int(ann.post("/campaigns/new").headers["Location"].split("/")[-2])
    page = ann.get(f"/campaigns/{campaign_id}/edit").text
    assert "The sender names are being fetched from the gateway" in text_of(page, "senders-unknown")
    assert 'href="/senders"' in without_team(page)
    assert re.findall(r'<option[^>]*value="([^"]*)"', page) == []
    assert ann.post("/senders/refresh").status_code == 302  # the person's explicit refresh
    page = ann.get(f"/campaigns/{campaign_id}/edit").text
    assert 'data-testid="senders-unknown"' not in page
    assert re.findall(r'<option[^>]*value="([^"]*)"', page) == ["", "MyBrand", "TEST"]


def test_the_composer_offers_only_usable_senders(app, ann):
    campaign_id = new_draft(ann)
    page = ann.get(f"/campaigns/{campaign_id}/edit").text
    options = re.findall(r'<option[^>]*value="([^"]*)"', page)
    assert options == ["", "MyBrand", "TEST"]
    note = text_of(page, "sender-note")
    assert "MegaFon (blocked: the name of a mobile operator cannot be used)" in note
    assert "Promo2026 (pending: awaiting the operators' approval)" in note
    assert "NewBrand (new)" in note


def test_no_usable_sender_says_so_and_links_to_the_senders_page(app, ann):
    team = team_of(app, ann)
    with app.app_context():
        db.session.add(SenderName(team_id=team.id, name="Promo", status="pending", info="wait"))
        db.session.commit()
    page = ann.get(f"/campaigns/{new_draft(ann)}/edit").text
    assert "There is no sender name that can send yet." in page
    assert 'href="/senders"' in without_team(page)


def selected_sender(page: str) -> str | None:
    select = re.search(r'<select[^>]*name="sender".*?</select>', page, re.S)
    assert select, "no sender select"
    chosen = re.search(r'<option selected value="([^"]*)"|value="([^"]*)" selected', select.group())
    value = next(v for v in chosen.groups() if v is not None) if chosen else ""
    return value or None  # "" is "Choose a sender name…"


def test_a_new_draft_starts_with_the_default_sender_and_keeps_the_one_chosen(app, ann):
    # The sandbox account's default name is TEST (MyBrand is active too).
    campaign_id = new_draft(ann)
    page = ann.get(f"/campaigns/{campaign_id}/edit").text
    assert selected_sender(page) == "TEST"
    # Preselected, not stored (a GET writes nothing); the check beside it agrees all the same,
    # and the first change the person makes saves it with the rest of the form.
    assert load(app, campaign_id).sender is None
    assert 'data-testid="error-sender"' not in page
    preview(ann, campaign_id, sender=selected_sender(page))
    assert load(app, campaign_id).sender == "TEST"

    # A name the person chose (saved as they type) is what the draft reopens with.
    preview(ann, campaign_id, sender="MyBrand")
    assert selected_sender(ann.get(f"/campaigns/{campaign_id}/edit").text) == "MyBrand"
    assert load(app, campaign_id).sender == "MyBrand"


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ([("Promo", "active"), ("Later", "pending"), ("Gone", "blocked")], "Promo"),
        ([("Promo", "active"), ("Shop", "active")], None),  # two to choose from, no default
        ([("Promo", "active"), ("Shop", "default")], "Shop"),
    ],
)
def test_without_a_default_sender_only_the_single_usable_name_is_preselected(
    app, ann, names, expected
):
    team = team_of(app, ann)
    with app.app_context():
        db.session.add_all(SenderName(team_id=team.id, name=n, status=s) for n, s in names)
        db.session.commit()
    campaign_id = new_draft(ann)
    assert selected_sender(ann.get(f"/campaigns/{campaign_id}/edit").text) == expected
    assert load(app, campaign_id).sender is None  # preselected only


@pytest.mark.parametrize(
    ("text", "encoding", "parts", "per_part", "remaining", "forcing"),
    [
        ("Hello world", "GSM-7", "1", "160", "149", None),
        ("a" * 161, "GSM-7", "2", "153", "145", None),
        ("Price: 10€ [today]", "GSM-7", "1", "160", "139", None),
        ("Hello Вера", "UCS-2", "1", "70", "60", "Вера"),
        ("Hi there 😀 ok", "UCS-2", "1", "70", "56", "😀"),
        ("Sale ends today — hurry", "UCS-2", "1", "70", "47", "—"),
    ],
)
def test_counter_shows_encoding_parts_and_the_characters_that_force_ucs2(
    app, ann, text, encoding, parts, per_part, remaining, forcing
):
    campaign_id = new_draft(ann)
    html = preview(ann, campaign_id, text=text)
    assert text_of(html, "encoding") == encoding
    assert text_of(html, "parts") == parts
    counter = text_of(html, "text-counter")
    assert f"{len(text)} characters" in counter
    assert f"{per_part} per part" in counter and f"{remaining} left in this part" in counter
    if forcing is None:
        assert 'data-testid="ucs2"' not in html
    else:
        marked = re.search(r'data-testid="marked-text">(.*?)</p>', html, re.S).group(1)
        assert f"<mark>{forcing}</mark>" in marked
        assert unescape(re.sub(r"</?mark>", "", marked)) == text


def test_recipients_are_deduplicated_across_lists_and_pasted_numbers_minus_the_stop_list(app, ann):
    team = team_of(app, ann)
    first = add_list(app, team.id, "First", [("79161111111", {}), ("79162222222", {})])
    second = add_list(app, team.id, "Second", [("79162222222", {}), ("79163333333", {})])
    stop(app, team.id, "79163333333", "79165555555")
    campaign_id = new_draft(ann)
    pasted = "+7 916 111-11-11\n89164444444, 79164444444; 79165555555\nhello\n123"
    html = preview(ann, campaign_id, list_ids=[first, second], pasted_numbers=pasted)
    # 1111111, 2222222 (lists; 3333333 stopped), 4444444 (pasted twice); 5555555 stopped.
    assert text_of(html, "recipient-count") == "3"
    assert "2 left out: on the stop list" in html
    assert "1 pasted already in the lists (counted once)" in html
    invalid = text_of(html, "invalid-numbers")
    assert "hello: not a phone number" in invalid and "123: not a valid number" in invalid

    # Another team's list cannot be chosen by id.
    other = team_of(app, ann)  # same team; make a foreign list directly
    with app.app_context():
        foreign_team = Team(name="Other", status_queue_name="qOtherTeam000001")
        db.session.add(foreign_team)
        db.session.commit()
        foreign_id = foreign_team.id
    foreign = add_list(app, foreign_id, "Theirs", [("79169999999", {})])
    html = preview(ann, campaign_id, list_ids=[foreign])
    assert text_of(html, "recipient-count") == "0"
    assert other.id == team.id


def test_placeholders_are_checked_against_the_lists_fields(app, ann):
    team = team_of(app, ann)
    named = add_list(
        app,
        team.id,
        "Named",
        [("79161111111", {"name": "Anna"}), ("79162222222", {"name": ""})],
        fields=("name", "city"),
    )
    campaign_id = new_draft(ann)
    html = preview(ann, campaign_id, list_ids=[named], text="Hi {name} from {town}")
    errors = text_of(html, "error-placeholders")
    assert 'class="field-error" data-testid="error-placeholders"' in html  # shown as errors
    assert "{town} is not a field of the chosen lists. Their fields: {name}, {city}." in html
    assert "{name} is empty for 1 of 2 recipients" in unescape(html)
    assert "Give it a fallback, like {name|friend}, remove it, or choose lists where" in unescape(
        html
    )
    assert errors

    # Pasted numbers have no fields.
    html = unescape(
        preview(ann, campaign_id, list_ids=[named], pasted_numbers="79163333333", text="Hi {name}")
    )
    assert "{name} is empty for 2 of 3 recipients (pasted numbers have no fields)" in html
    html = unescape(preview(ann, campaign_id, pasted_numbers="79163333333", text="Hi {name}"))
    assert "{name} cannot be filled" in html and "pasted numbers have none" in html


def test_sample_preview_renders_the_first_recipient(app, ann):
    team = team_of(app, ann)
    people = add_list(
        app,
        team.id,
        "People",
        [("79161111111", {"name": "Вера"}), ("79162222222", {"name": "Gleb"})],
    )
    campaign_id = new_draft(ann)
    html = preview(ann, campaign_id, list_ids=[people], text="Hello {name}, see you")
    assert text_of(html, "sample-text") == "Hello Вера, see you"
    assert text_of(html, "sample-parts") == "UCS-2, 1 part"
    assert "As +79161111111 will get it" in html
    assert text_of(html, "readiness") == "Ready: continue to check and send."


def test_estimate_is_recipients_times_max_parts_times_price_to_the_kopeck(app, ann):
    team = team_of(app, ann)
    with app.app_context():
        db.session.get(Team, team.id).price_per_part = Decimal("0.3333")
        db.session.commit()
    pasted = "\n".join(f"7916{i:07d}" for i in range(7))
    campaign_id = new_draft(ann)
    html = preview(ann, campaign_id, pasted_numbers=pasted, text="x" * 200)  # 2 parts
    # 7 × 2 × 0.3333 = 4.6662 → 4.67
    assert text_of(html, "estimate") == "RUB 4.67"
    # The price as it is, not rounded to the kopeck (7 × 2 × 0.33 would be 4.62).
    assert "7 recipients × 2 parts × RUB\N{NO-BREAK SPACE}0.3333 per part" in unescape(html)
    assert "An estimate" in html

    # With placeholders: the longest value decides.
    rows = [("79160000001", {"name": "Al"}), ("79160000002", {"name": "x" * 160})]
    people = add_list(app, team.id, "People", rows)
    html = preview(ann, campaign_id, list_ids=[people], text="Hi {name}")
    assert text_of(html, "estimate") == "RUB 1.33"  # 2 × 2 × 0.3333 = 1.3332
    assert "Messages take 1 to 2 parts" in html


def test_send_at_is_read_in_the_team_time_zone_and_stored_in_utc(app, ann):
    team = team_of(app, ann)
    with app.app_context():
        db.session.get(Team, team.id).timezone = "Asia/Vladivostok"  # UTC+10
        db.session.commit()
    campaign_id = new_draft(ann)
    day = (datetime.now(UTC) + timedelta(days=3)).date()
    html = preview(ann, campaign_id, when="at", send_date=day.isoformat(), send_time="09:30")
    expected = datetime(day.year, day.month, day.day, 9, 30, tzinfo=ZoneInfo("Asia/Vladivostok"))
    assert load(app, campaign_id).send_at == expected.astimezone(UTC)
    assert load(app, campaign_id).send_at.hour == 23  # 09:30 at UTC+10
    assert f"{day.day} {day:%b %Y}, 09:30" in text_of(html, "when")

    past = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    html = preview(ann, campaign_id, when="at", send_date=past, send_time="09:30")
    assert "That time has already passed" in html and "Asia/Vladivostok" not in html
    assert " in Vladivostok, UTC+10)" in html  # the zone named as pages name it
    ann.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    html = preview(ann, campaign_id, when="at", send_date=past, send_time="09:30")
    ann.client.environ_base.pop("HTTP_ACCEPT_LANGUAGE")
    assert "часовой пояс Владивосток, UTC+10)" in html

    html = preview(ann, campaign_id, when="at", send_date="", send_time="")
    assert "Choose the date and the time to send at, or choose Send now." in html


def test_preview_saves_the_draft_and_it_reopens_as_typed(app, ann):
    team = team_of(app, ann)
    people = add_list(app, team.id, "People", [("79161111111", {"name": "Anna"})])
    campaign_id = new_draft(ann)
    preview(
        ann,
        campaign_id,
        name="Autumn",
        list_ids=[people],
        pasted_numbers="79162222222\nnot a number",
        text="Hi {name} {oops}",
        sender="TEST",
        flash="y",
        wapurl="wap.example.ru",
    )
    saved = load(app, campaign_id)
    assert (saved.name, saved.text, saved.sender, saved.flash, saved.wapurl) == (
        "Autumn",
        "Hi {name} {oops}",
        "TEST",
        True,
        "wap.example.ru",
    )
    assert saved.list_ids == [people]
    assert saved.pasted_numbers == "79162222222\nnot a number"
    page = ann.get(f"/campaigns/{campaign_id}/edit").text
    assert 'value="Autumn"' in page
    assert "Hi {name} {oops}</textarea>" in page
    assert "79162222222\nnot a number</textarea>" in page
    assert re.search(rf'value="{people}"[^>]*checked|checked[^>]*value="{people}"', page)
    assert '<option selected value="TEST">' in page or 'value="TEST" selected' in page
    assert 'name="flash" type="checkbox" value="y" checked' in page or "checked" in page
    assert page.count("is not a field of the chosen lists") == 1  # errors shown on reopen


def test_continue_with_errors_keeps_everything_typed(app, ann):
    campaign_id = new_draft(ann)
    response = ann.post(
        f"/campaigns/{campaign_id}/edit",
        form(action="review", text="Hi {who}", pasted_numbers="79161111111\nbad", sender=""),
    )
    assert response.status_code == 400
    page = unescape(response.text)
    assert "Hi {who}</textarea>" in page and "79161111111\nbad</textarea>" in page
    assert "Choose a sender name." in page and "{who} cannot be filled" in page
    assert 'class="field-error"' in response.text
    # Without JavaScript, "Update preview" shows the same check.
    response = ann.post(f"/campaigns/{campaign_id}/edit", form(action="preview", text="Привет"))
    assert response.status_code == 200 and "UCS-2" in response.text


def test_continue_when_ready_goes_to_the_confirmation(app, ann):
    campaign_id = new_draft(ann)
    response = ann.post(
        f"/campaigns/{campaign_id}/edit", form(action="review", pasted_numbers="79161111111")
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/campaigns/{campaign_id}/confirm")
    response = ann.post(f"/campaigns/{campaign_id}/edit", form(action="save"))
    assert response.status_code == 302 and response.headers["Location"].endswith("/edit")


def test_viewers_cannot_compose(app, ann, make_person):
    team = team_of(app, ann)
    campaign_id = new_draft(ann)
    viewer = make_person("vic@example.com", team=team.id, role=Role.VIEWER.value)
    assert viewer.post("/campaigns/new").status_code == 403
    assert viewer.get(f"/campaigns/{campaign_id}/edit").status_code == 403
    assert viewer.post(f"/campaigns/{campaign_id}/preview", form(text="x")).status_code == 403
    assert load(app, campaign_id).text == ""
    page = viewer.get("/campaigns").text
    assert "New campaign" not in page and f"/campaigns/{campaign_id}" in page


def test_cyrillic_field_names_fill_placeholders_through_the_import_path(app, ann):
    # The import writes contacts through the driver; their JSON keys must stay unescaped for
    # SQLite's json_extract to find "Имя" (a bug once: every recipient looked nameless).
    from webapp.domain import contacts
    from webapp.domain.campaigns import commit
    from webapp.models import Message

    team = team_of(app, ann)
    list_id = add_list(app, team.id, "Клиенты", [], fields=("Имя",))
    with app.app_context():
        clients = db.session.get(ContactList, list_id)
        contacts.add_phones(db.session, clients, [("79161111111", {"Имя": "Анна"})])
        db.session.commit()
    campaign_id = new_draft(ann)
    html = preview(ann, campaign_id, list_ids=[list_id], text="Hi {Имя}, sale today")
    assert text_of(html, "sample-text") == "Hi Анна, sale today"
    assert text_of(html, "readiness") == "Ready: continue to check and send."
    with app.app_context():
        commit(db.session, db.session.get(Campaign, campaign_id))
        assert db.session.query(Message.text).scalar() == "Hi Анна, sale today"


def test_placeholder_letters_do_not_force_ucs2(app, ann):
    team = team_of(app, ann)
    people = add_list(app, team.id, "People", [("79161111111", {"Имя": "Anna"})], ("Имя",))
    campaign_id = new_draft(ann)
    html = preview(ann, campaign_id, list_ids=[people], text="Hello {Имя}, see you")
    assert text_of(html, "sample-parts") == "GSM-7, 1 part"
    assert "<mark" not in html  # no character of the text itself forces UCS-2
