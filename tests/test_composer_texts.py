"""The composer's texts: placeholder slips pointed out (what and where), fallbacks for missing
fields (in the check, the sample, the parts and the messages sent), long texts (the warning
from 5 parts, the hard limit of 10), names and links too long reported rather than cut, and
the errors beside the fields with the summary at the top."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from tests.helpers import (
    add_list,
    form,
    load,
    new_draft,
    preview,
    received_client_ids,
    sandbox_login,
    team_of,
    text_of,
    tick,
)
from webapp.domain import placeholders, recipients
from webapp.domain.campaigns import commit
from webapp.extensions import db
from webapp.models import Campaign, Contact, Message


@pytest.fixture
def ann(app, make_person, sandbox):
    app.config["SANDBOX_URL"] = sandbox.base_url
    return make_person("ann@example.com")


def people(app, ann, rows, fields=("name",)):
    return add_list(app, team_of(app, ann).id, "People", rows, fields=fields)


# -- placeholder slips ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi {{name}}, sale", "“{{name}}” at character 4 has double braces: write {name}."),
        ("Hi {name}}, sale", "“{name}}” at character 4 has an extra closing brace: write {name}."),
        ("Hi {name, sale", "“{name, sale” at character 4 is not closed: write {name}"),
        (
            "Здравствуйте, {имя! Скидка до {дата}",
            "“{имя! Скидка до ” at character 15 is not closed: write {имя}",
        ),
        ("Hi { name }, sale", "“{ name }” at character 4 has spaces around the field's name: "),
        ("Hi {}, sale", "“{}” at character 4 is empty: put a field's name inside"),
        ("Hi {|pal}, sale", "“{|pal}” at character 4 has no field name before the |"),
        ("Hi name}, sale", "“}” at character 8 is a closing brace without an opening one"),
        ("Hi\nthere {name", "“{name” at line 2, character 7 is not closed: write {name}"),
    ],
)
def test_a_placeholder_slip_is_pointed_out_with_what_and_where(app, ann, text, expected):
    list_id = people(app, ann, [("79161111111", {"name": "Anna"})])
    campaign_id = new_draft(ann)
    html = preview(ann, campaign_id, list_ids=[list_id], text=text)
    assert expected in unescape(text_of(html, "error-placeholder_syntax"))
    assert "to do before sending" in text_of(html, "readiness")
    assert load(app, campaign_id).text == text  # kept as typed
    # The slip is neither filled in nor emptied in the sample: its brace stays as typed.
    assert re.search(r"[{}]", text_of(html, "sample-text"))


def test_spaces_around_a_name_are_shown_how_to_write_it(app, ann):
    list_id = people(app, ann, [("79161111111", {"name": "Anna"})])
    campaign_id = new_draft(ann)
    html = unescape(preview(ann, campaign_id, list_ids=[list_id], text="Hi { name | pal }"))
    assert "write {name|pal}." in text_of(html, "error-placeholder_syntax")


def test_well_formed_placeholders_are_no_slip():
    parsed = placeholders.parse("Hi {name|dear friend}, {city}! {Имя|друг}")
    assert parsed.slips == ()
    assert parsed.names == ("name", "city", "Имя")
    assert [p.fallback for p in parsed.placeholders] == ["dear friend", None, "друг"]
    assert parsed.render({"name": "", "Имя": "Вера"}) == "Hi dear friend, ! Вера"
    assert parsed.bare == "Hi , ! "


def test_slips_past_twenty_are_counted_not_listed(app, ann):
    campaign_id = new_draft(ann)
    html = preview(ann, campaign_id, pasted_numbers="79161111111", text="}" * 25)
    errors = re.findall(r'data-testid="error-placeholder_syntax">(.*?)</p>', html, re.S)
    assert len(errors) == 21
    assert "And 5 more braces like these to mend." in errors[-1]


# -- fallbacks -----------------------------------------------------------------------------------


def test_a_fallback_keeps_an_empty_cell_from_blocking_and_is_what_it_gets(app, ann, sandbox):
    rows = [("79161111111", {"name": ""}), ("79162222222", {"name": "Gleb"}), ("79163333333", {})]
    list_id = people(app, ann, rows)
    campaign_id = new_draft(ann)
    # Without a fallback, the empty cells block the list.
    html = unescape(preview(ann, campaign_id, list_ids=[list_id], text="Hi {name}, sale"))
    assert "{name} is empty for 2 of 3 recipients" in text_of(html, "error-placeholders")
    # With one, they do not: the sample (the first contact, whose cell is empty) has it.
    html = preview(ann, campaign_id, list_ids=[list_id], text="Hi {name|friend}, sale")
    assert 'data-testid="error-placeholders"' not in html
    assert text_of(html, "sample-text") == "Hi friend, sale"
    assert text_of(html, "readiness") == "Ready: continue to check and send."

    # Sent: each message carries its value or the fallback, in the rows and at the gateway.
    team = team_of(app, ann)
    with app.app_context():
        assert commit(db.session, db.session.get(Campaign, campaign_id)) == 3
        texts = dict(
            db.session.execute(
                select(Message.phone, Message.text).where(Message.campaign_id == campaign_id)
            ).all()
        )
    assert texts == {
        "79161111111": "Hi friend, sale",
        "79162222222": "Hi Gleb, sale",
        "79163333333": "Hi friend, sale",
    }
    tick(app)
    login = sandbox_login(app, team)
    assert len(received_client_ids(sandbox, login)) == 3
    received = {m["phone"].lstrip("+"): m["text"] for m in sandbox.received(login)}
    assert received == texts


def test_pasted_numbers_get_the_fallback(app, ann):
    list_id = people(app, ann, [("79161111111", {"name": "Anna"})])
    campaign_id = new_draft(ann)
    html = preview(
        ann, campaign_id, list_ids=[list_id], pasted_numbers="79165555555", text="Hi {name|pal}"
    )
    assert 'data-testid="error-placeholders"' not in html
    with app.app_context():
        commit(db.session, db.session.get(Campaign, campaign_id))
        texts = set(db.session.scalars(select(Message.text)))
    assert texts == {"Hi Anna", "Hi pal"}


def test_a_fallback_counts_in_the_parts_and_the_estimate(app, ann):
    # Every value is short, but the fallback is long: the contact without a name takes 2 parts.
    rows = [("79161111111", {"name": "Al"}), ("79162222222", {"name": ""})]
    list_id = people(app, ann, rows)
    campaign_id = new_draft(ann)
    html = preview(ann, campaign_id, list_ids=[list_id], text="Hi {name|" + "x" * 160 + "}")
    assert "Messages take 1 to 2 parts" in html
    assert text_of(html, "estimate") == "RUB 10.00"  # 2 recipients × 2 parts × 2.50
    # A Cyrillic fallback can make the text UCS-2.
    html = preview(ann, campaign_id, list_ids=[list_id], text="Hi {name|друг} " + "x" * 65)
    assert "Messages take 1 to 2 parts" in html


def test_the_sql_rendering_agrees_and_never_fills_a_value_in_again(app, ann):
    """Rendered in SQL (as a campaign is committed) as in Python (the sample), fallbacks
    included; a field whose value looks like a placeholder is sent as it is (nested REPLACE
    filled it in too)."""
    fields = {"a": "{b}", "b": "", "Имя": "Вера"}
    people(app, ann, [("79161111111", fields)], fields=("a", "b", "Имя"))
    template = "<{a}|{b|none}|{c}|{Имя|друг}> " + "{a}" * 300  # a deep expression
    with app.app_context():
        sql = db.session.scalar(select(recipients.rendered_text(template)).select_from(Contact))
    assert sql == placeholders.render(template, fields)
    assert sql.startswith("<{b}|none||Вера> {b}{b}")


def test_a_text_of_too_many_placeholders_in_all_is_refused(app, ann):
    """One name used many times is one field looked up, but each use is a piece of the SQL
    that writes every message: at most 50 in all."""
    list_id = people(app, ann, [("79161111111", {"name": "Anna"})])
    campaign_id = new_draft(ann)
    text = "{name|} " * 51
    html = preview(ann, campaign_id, list_ids=[list_id], text=text)
    assert "at most 50 placeholders in all; this one holds 51" in unescape(
        text_of(html, "error-placeholder_limit")
    )
    assert load(app, campaign_id).text == text
    html = preview(ann, campaign_id, list_ids=[list_id], text="{name|} " * 50)
    assert 'data-testid="error-placeholder_limit"' not in html


def test_a_message_empty_once_filled_in_is_refused(app, ann):
    list_id = people(app, ann, [("79161111111", {"name": ""})])
    campaign_id = new_draft(ann)
    html = preview(ann, campaign_id, list_ids=[list_id], text="{name|}")
    assert "The message is empty once its placeholders are filled in for +79161111111" in (
        unescape(text_of(html, "error-text"))
    )
    html = preview(ann, campaign_id, list_ids=[list_id], text="{name|friend}")
    assert 'data-testid="error-text"' not in html


# -- long texts ----------------------------------------------------------------------------------


def test_the_limit_is_stated_beside_the_field_before_typing_and_nothing_is_cut_by_the_browser(
    app, ann
):
    page = ann.get(f"/campaigns/{new_draft(ann)}/edit").text
    hint = unescape(page)
    assert "At most 10 parts: 1,530 characters, or 670 when the text has Cyrillic" in hint
    assert "{name|friend}" in hint
    assert "maxlength" not in re.search(r"<textarea[^>]*name=\"text\"[^>]*>", page).group()
    assert "maxlength" not in re.search(r"<input[^>]*name=\"name\"[^>]*>", page).group()
    assert (
        "maxlength" not in re.search(r"<textarea[^>]*name=\"pasted_numbers\"[^>]*>", page).group()
    )
    assert "At most 200 characters." in unescape(page)  # the name's limit, beside it


def test_from_five_parts_the_parts_and_the_cost_per_recipient_are_shown(app, ann):
    campaign_id = new_draft(ann)
    html = preview(ann, campaign_id, pasted_numbers="79161111111", text="x" * 4 * 153)
    assert 'data-testid="long-text"' not in html  # 4 parts
    assert text_of(html, "parts-of-limit") == "4 of 10 parts"
    html = preview(ann, campaign_id, pasted_numbers="79161111111", text="x" * (4 * 153 + 1))
    assert text_of(html, "long-text").startswith(
        "A long message: 5 parts, RUB 12.50 per recipient."
    )
    assert text_of(html, "readiness") == "Ready: continue to check and send."
    # Cyrillic: 5 parts of 67.
    html = preview(ann, campaign_id, pasted_numbers="79161111111", text="ы" * (4 * 67 + 1))
    assert "A long message: 5 parts" in text_of(html, "long-text")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "x" * 1531,
            "This message takes 11 parts; a message can take at most 10 parts "
            "(1,530 characters, or 670 in UCS-2). Shorten it by at least 1 character.",
        ),
        (
            "ы" * 700,
            "This message takes 11 parts; a message can take at most 10 parts "
            "(1,530 characters, or 670 in UCS-2). Shorten it by at least 30 characters.",
        ),
    ],
)
def test_past_ten_parts_the_text_is_refused_and_kept_whole(app, ann, text, message):
    campaign_id = new_draft(ann)
    html = preview(ann, campaign_id, pasted_numbers="79161111111", text=text)
    assert text_of(html, "error-text_length") == message
    assert 'data-testid="long-text"' not in html
    assert load(app, campaign_id).text == text  # not cut
    with app.app_context(), pytest.raises(Exception, match="11 parts"):
        commit(db.session, db.session.get(Campaign, campaign_id))


def test_a_text_far_too_long_is_kept_and_not_worked_through(app, ann):
    campaign_id = new_draft(ann)
    text = "{a}" * 10_000  # 30,000 characters: not parsed, not rendered
    html = preview(ann, campaign_id, pasted_numbers="79161111111", text=text)
    assert "This text has 30,000 characters; a message can take at most 10 parts" in text_of(
        html, "error-text_length"
    )
    assert load(app, campaign_id).text == text
    assert 'data-testid="marked-text"' not in html


def test_with_fields_the_longest_rendering_decides(app, ann):
    rows = [("79161111111", {"name": "Al"}), ("79162222222", {"name": "x" * 1500})]
    list_id = people(app, ann, rows)
    campaign_id = new_draft(ann)
    html = preview(ann, campaign_id, list_ids=[list_id], text="Hello {name}, " + "y" * 100)
    assert "With the longest fields filled in, this message takes 11 parts" in text_of(
        html, "error-text_length"
    )
    # Too long whatever the fields hold: shorter fields would not help, and it says so.
    html = preview(ann, campaign_id, list_ids=[list_id], text="Hello {name}, " + "y" * 1600)
    assert "Even with the shortest fields this message takes 11 parts" in unescape(
        text_of(html, "error-text_length")
    )


# -- names and links too long --------------------------------------------------------------------


def test_a_name_too_long_is_kept_and_reported_beside_it(app, ann):
    campaign_id = new_draft(ann)
    name = "N" * 250
    html = preview(ann, campaign_id, name=name, pasted_numbers="79161111111")
    message = "A campaign name can be at most 200 characters; this one has 250. Shorten it."
    assert text_of(html, "error-name") == message
    assert load(app, campaign_id).name == name  # not cut
    page = ann.get(f"/campaigns/{campaign_id}/edit").text
    assert text_of(page, "field-errors-name") == message  # beside it, from the first look
    assert re.search(r'<input[^>]*aria-invalid="true"[^>]*name="name"', page) or re.search(
        r'<input[^>]*name="name"[^>]*aria-invalid="true"', page
    )
    link = "wap.example.ru/" + "p" * 300
    html = preview(ann, campaign_id, name="Fine", pasted_numbers="79161111111", wapurl=link)
    assert "A WAP-push link can be at most 300 characters; this one has 315." in html
    assert load(app, campaign_id).wapurl == link


# -- errors beside the fields, and the summary ---------------------------------------------------


def test_continue_with_errors_shows_a_summary_linking_to_each_field(app, ann):
    campaign_id = new_draft(ann)
    response = ann.post(
        f"/campaigns/{campaign_id}/edit",
        form(action="review", text="Hi {{name}}", sender="", name="N" * 201),
    )
    assert response.status_code == 400
    page = unescape(response.text)
    summary = re.search(r'<div class="error-summary".*?</div>', page, re.S).group()
    assert "data-focus-on-load" in summary and 'role="alert"' in summary
    links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary)
    targets = [t for t, _ in links]
    assert targets == ["name", "recipients", "text", "sender-group"]
    assert "has double braces" in dict(links)["text"]
    # Each field: its error above the control, which names it in aria-describedby.
    text_box = text_of(page, "field-errors-text")
    assert "has double braces" in text_box
    textarea = re.search(r"<textarea[^>]*name=\"text\"[^>]*>", page).group()
    assert 'aria-invalid="true"' in textarea and "text-error" in textarea
    assert page.index('data-testid="field-errors-text"') < page.index('name="text"')
    assert 'name="field_errors" value="1"' in page  # live answers keep them current

    # A live answer, once the errors are shown, replaces the summary and the boxes too.
    fixed = form(text="Hi there", sender="", name="Fine", field_errors="1")
    live = ann.post(f"/campaigns/{campaign_id}/preview", fixed, headers={"HX-Request": "true"})
    oob = live.text
    assert 'id="error-summary" hx-swap-oob="true"' in oob
    assert re.search(r'id="text-errors"[^>]*hx-swap-oob="true"></div>', oob)  # emptied
    assert "Choose a sender name." in text_of(oob, "field-errors-sender")
    assert "data-focus-on-load" not in oob  # never steals the focus while typing
    # Without field_errors (before Continue), a live answer touches nothing outside the panel.
    quiet = ann.post(
        f"/campaigns/{campaign_id}/preview", form(text="Hi"), headers={"HX-Request": "true"}
    )
    assert "error-summary" not in quiet.text


def test_a_mostly_cyrillic_text_says_so_once_and_boxes_only_the_odd_characters(app, ann):
    campaign_id = new_draft(ann)
    text = "Привет, распродажа сегодня — скидки 50% 😀 " * 3
    html = preview(ann, campaign_id, pasted_numbers="79161111111", text=text)
    assert "Cyrillic letters make this message UCS-2" in text_of(html, "ucs2-cyrillic")
    assert re.findall(r'<mark class="char">(.*?)</mark>', html) == ["—", "😀"]
    assert 'data-testid="marked-text"' not in html
    # A Latin text with a few odd characters: each boxed, and marked where it is.
    html = preview(ann, campaign_id, pasted_numbers="79161111111", text="Sale — today ы")
    assert 'data-testid="ucs2-cyrillic"' not in html
    assert re.findall(r'<mark class="char">(.*?)</mark>', html) == ["—", "ы"]
    assert "<mark>—</mark>" in html


def test_the_contacts_fields_stay_as_typed_in_the_database(app, ann):
    """The contacts themselves are untouched by a fallback (it is only what is sent)."""
    list_id = people(app, ann, [("79161111111", {"name": ""})])
    campaign_id = new_draft(ann)
    preview(ann, campaign_id, list_ids=[list_id], text="Hi {name|friend}")
    with app.app_context():
        assert db.session.scalar(select(Contact.fields)) == {"name": ""}
