"""Send a test (issue 12 item 8): the draft's message as its sample recipient gets it, to a few
typed numbers (by default one's own phone), through the worker like any campaign, with its
status polled beside the button and its cost counted; never to the draft's recipients."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import func, select

from tests.helpers import (
    HX,
    add_list,
    form,
    hidden,
    load,
    new_draft,
    oob_version,
    preview,
    sandbox_login,
    stop,
    team_of,
    text_of,
    tick,
)
from webapp.domain import gateways, statuses, test_sends, usage
from webapp.extensions import db
from webapp.htmx import STOP_POLLING
from webapp.models import Campaign, Message, User

ALL_DELIVERED = {"delivered_ratio": 1.0, "delivery_error_ratio": 0.0, "smsc_reject_ratio": 0.0}
RECIPIENTS = [("79161111111", {"name": "Anna"}), ("79162222222", {"name": "Boris"})]


@pytest.fixture
def ann(app, make_person, sandbox):
    app.config["SANDBOX_URL"] = sandbox.base_url
    sandbox.control("PATCH", "/settings", json=ALL_DELIVERED)
    return make_person("ann@example.com")


@pytest.fixture
def draft(app, ann):
    """A draft to a list of two and a pasted number, whose text has a placeholder."""
    team = team_of(app, ann)
    listed = add_list(app, team.id, "Friends", RECIPIENTS)
    campaign_id = new_draft(ann)
    preview(ann, campaign_id, list_ids=[listed], pasted_numbers="79163333333", text="Hi {name}!")
    return campaign_id


def send_test(person, campaign_id, numbers, headers=HX):
    return person.post(f"/campaigns/{campaign_id}/tests", {"numbers": numbers}, headers=headers)


def states_shown(html: str) -> list[str]:
    return re.findall(r'data-testid="test-state">([^<]+)<', html)


def drain(app):
    with app.app_context():
        statuses.drain_status_queues(db.session, client_factory=gateways.client_factory(app.config))


def test_a_test_reaches_exactly_the_typed_numbers_and_its_status_is_polled_to_the_end(
    app, ann, draft, sandbox, sandbox_clock
):
    team = team_of(app, ann)
    response = send_test(ann, draft, "+7 916 555-00-01, 89165550002")
    assert response.status_code == 200, response.text
    assert states_shown(response.text) == ["Queued", "Queued"]
    assert "data-live-poll" in response.text and 'hx-trigger="every 2s' in response.text
    # Nothing is sent by the request: the worker sends it, like any campaign.
    assert sandbox.received(sandbox_login(app, team)) == []

    tick(app)
    received = sandbox.received(sandbox_login(app, team))
    assert sorted(m["phone"] for m in received) == ["79165550001", "79165550002"]
    # The sample recipient's message (the list's first contact), with the draft's sender.
    assert {(m["text"], m["sender"]) for m in received} == {("Hi Anna!", "MyBrand")}
    panel = ann.get(f"/campaigns/{draft}/tests", headers=HX)
    assert panel.status_code == 200 and states_shown(panel.text) == ["Accepted", "Accepted"]
    assert "data-live-poll" in panel.text

    sandbox_clock.advance(60)
    drain(app)
    panel = ann.get(f"/campaigns/{draft}/tests", headers=HX)
    assert panel.status_code == STOP_POLLING  # every message final: the poll stops
    assert states_shown(panel.text) == ["Delivered", "Delivered"]
    assert "data-live-poll" not in panel.text
    assert "RUB\N{NO-BREAK SPACE}5.00" in panel.text  # two one-part messages at 2.50

    # The draft is untouched: still a draft, no messages, its recipients sent nothing.
    assert load(app, draft).state == "draft"
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count()).select_from(Message).where(Message.campaign_id == draft)
            )
            == 0
        )
        test = db.session.scalar(select(Campaign).where(Campaign.test_of == draft))
        assert (test.recipients, test.state, test.text) == (2, "finished", "Hi Anna!")
    # The composer shows the test beside the button, and the draft can still be edited.
    composer = ann.get(f"/campaigns/{draft}/edit").text
    assert states_shown(composer) == ["Delivered", "Delivered"]
    assert "+79165550001" in composer


def test_its_cost_is_counted_in_usage_and_the_spending_report(app, ann, draft, sandbox_clock):
    team = team_of(app, ann)
    send_test(ann, draft, "+79165550001")
    tick(app)
    sandbox_clock.advance(60)
    drain(app)
    with app.app_context():
        test = db.session.scalar(select(Campaign).where(Campaign.test_of == draft))
        assert (test.parts, str(test.cost)) == (1, "2.5000")
        start = test.scheduled_at.replace(hour=0, minute=0, second=0, microsecond=0)
        totals = usage.totals(db.session, team.id, start, start.replace(year=start.year + 1))
    assert (totals.accepted, totals.parts, totals.cost, totals.delivered) == (1, 1, 2.5, 1)
    report = ann.get("/reports/spending?period=today&by=campaign").text
    assert f"Test of {load(app, draft).name}" in report and "2.50" in report


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("", "Type the number to send the test to."),
        ("hello", "hello is not a phone number."),
        ("+7 916 555-00-01, 12", "12 is not a valid number."),
        (", ".join(f"+7916555000{i}" for i in range(6)), "at most 5 numbers; you typed 6"),
        ("9" * 201, "Type at most 5 numbers (200 characters); this has 201."),
    ],
)
def test_bad_numbers_are_refused_beside_the_field_as_typed(app, ann, draft, typed, error):
    response = send_test(ann, draft, typed)
    assert response.status_code == 200
    shown = unescape(re.search(r'data-testid="test-send-error">(.*?)</p>', response.text).group(1))
    assert error in shown
    assert f'value="{typed}"' in unescape(response.text) or not typed
    with app.app_context():
        assert db.session.scalar(select(Campaign).where(Campaign.test_of == draft)) is None


def test_a_stop_listed_number_and_a_draft_not_ready_are_refused_in_plain_words(app, ann):
    team = team_of(app, ann)
    empty = new_draft(ann)
    response = send_test(ann, empty, "+79165550001")
    assert "Write the message and choose recipients first" in response.text
    stop(app, team.id, "79165550009")
    preview(ann, empty, pasted_numbers="79161111111", text="Hello")
    response = send_test(ann, empty, "+79165550009")
    assert "+79165550009 is on the stop list" in response.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Campaign)) == 1


def test_a_team_sends_a_bounded_number_of_tests_an_hour(app, ann, draft, monkeypatch):
    monkeypatch.setattr(test_sends, "HOURLY_LIMIT", 2)
    for _ in range(2):
        assert "test-send-error" not in send_test(ann, draft, "+79165550001").text
    refused = send_test(ann, draft, "+79165550001")
    assert "A team can send at most 2 tests an hour" in refused.text
    # Another draft of the same team counts against the same limit.
    other = new_draft(ann)
    preview(ann, other, pasted_numbers="79161111111", text="Hello")
    assert "at most 2 tests an hour" in send_test(ann, other, "+79165550001").text
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count()).select_from(Campaign).where(Campaign.test_of.is_not(None))
            )
            == 2
        )


def test_the_profile_phone_is_the_default_number(app, ann, draft):
    composer = ann.get(f"/campaigns/{draft}/edit").text
    assert 'name="numbers" type="text" value=""' in composer or 'value=""' in composer
    assert "Add your phone to your account" in composer

    refused = ann.post("/account/phone", {"phone": "not a phone"})
    assert refused.status_code == 400
    assert "That is not a phone number." in refused.text and 'value="not a phone"' in refused.text
    assert ann.post("/account/phone", {"phone": "8 (916) 555-00-07"}).status_code == 302
    with app.app_context():
        assert db.session.get(User, ann.user_id).phone == "79165550007"
    composer = ann.get(f"/campaigns/{draft}/edit").text
    assert 'value="+79165550007"' in composer
    assert "Add your phone to your account" not in composer
    assert 'value="+79165550007"' in ann.get("/account").text

    # Without htmx the send works too, and comes back to the composer.
    response = send_test(ann, draft, "+79165550007", headers={})
    assert response.status_code == 302 and response.headers["Location"].endswith(
        f"/campaigns/{draft}/edit"
    )
    with app.app_context():
        test = db.session.scalar(select(Campaign).where(Campaign.test_of == draft))
        assert test.pasted_numbers == "79165550007" and test.created_by_id == ann.user_id

    assert ann.post("/account/phone", {"phone": ""}).status_code == 302
    with app.app_context():
        assert db.session.get(User, ann.user_id).phone is None


def test_the_test_is_of_what_the_composer_holds_even_before_its_autosave(app, ann, draft, sandbox):
    """htmx sends the composer's fields with the test (hx-include): typed a moment ago and not
    yet autosaved, they are saved first and the test is of them; the composer's version moves
    on. Another tab's newer save is not overwritten: nothing is sent, and the panel says so."""
    opened = ann.get(f"/campaigns/{draft}/edit").text
    composer = form(
        list_ids=[load(app, draft).list_ids[0]],
        pasted_numbers="79163333333",
        text="Bye {name}!",
        version=hidden(opened, "version"),
        tab="tab-a",
    )
    response = ann.post(
        f"/campaigns/{draft}/tests", {**composer, "numbers": "+79165550001"}, headers=HX
    )
    assert response.status_code == 200 and states_shown(response.text) == ["Queued"]
    moved = oob_version(response.text)
    assert moved is not None and moved != composer["version"]
    assert load(app, draft).text == "Bye {name}!"
    tick(app)
    team = team_of(app, ann)
    assert [m["text"] for m in sandbox.received(sandbox_login(app, team))] == ["Bye Anna!"]

    # Another tab saves after this one opened; this tab's test is refused, nothing sent.
    preview(ann, draft, list_ids=composer["list_ids"], text="Tab B", version=moved, tab="tab-b")
    stale = {**composer, "text": "Tab A again", "numbers": "+79165550001"}
    refused = ann.post(f"/campaigns/{draft}/tests", stale, headers=HX)
    assert refused.status_code == 200 and oob_version(refused.text) is None
    assert "changed elsewhere" in text_of(refused.text, "test-send-error")
    assert load(app, draft).text == "Tab B"
    with app.app_context():
        tests = db.session.scalar(
            select(func.count()).select_from(Campaign).where(Campaign.test_of == draft)
        )
    assert tests == 1


def test_another_teams_draft_is_a_404_and_viewers_cannot_send_tests(app, ann, draft, make_person):
    bob = make_person("bob@example.com")
    assert send_test(bob, draft, "+79165550001").status_code == 404
    assert bob.get(f"/campaigns/{draft}/tests", headers=HX).status_code == 404
    viewer = make_person("vic@example.com", team=team_of(app, ann).id, role="viewer")
    assert send_test(viewer, draft, "+79165550001").status_code == 403
    with app.app_context():
        assert db.session.scalar(select(Campaign).where(Campaign.test_of == draft)) is None


def test_a_test_send_never_goes_back_to_a_draft(app, ann, draft):
    """Reopened before the worker starts it, a test would become a campaign of its own that
    no list shows: it is refused, and the test stays as it was."""
    send_test(ann, draft, "+79165550001")
    with app.app_context():
        test = db.session.scalar(select(Campaign).where(Campaign.test_of == draft))
        test_id, state = test.id, test.state
    assert state == "scheduled"
    response = ann.post(f"/campaigns/{test_id}/reopen")
    assert response.status_code == 302
    assert "A test send cannot be edited" in ann.get(response.location).text
    with app.app_context():
        test = db.session.get(Campaign, test_id)
        assert test.state == "scheduled" and test.test_of == draft
        assert (
            db.session.scalar(
                select(func.count()).select_from(Message).where(Message.campaign_id == test_id)
            )
            == 1
        )
    assert ann.get(f"/campaigns/{test_id}/edit").status_code == 302  # not a draft: its page


def test_a_test_the_account_cannot_pay_for_says_so_and_offers_no_send_anyway(app, ann, draft):
    from decimal import Decimal

    from webapp.models import BalanceSnapshot, utcnow

    team = team_of(app, ann)
    with app.app_context():
        db.session.add(
            BalanceSnapshot(team_id=team.id, taken_at=utcnow(), type="RUB", balance=Decimal(1))
        )
        db.session.commit()
    response = send_test(ann, draft, "+79165550001")
    shown = unescape(re.search(r'data-testid="test-send-error">(.*?)</p>', response.text)[1])
    assert shown == (
        "The account has RUB\N{NO-BREAK SPACE}1.00, not enough for this test "
        "(RUB\N{NO-BREAK SPACE}2.50). Top up the account first."
    )
    with app.app_context():
        assert db.session.scalar(select(Campaign).where(Campaign.test_of == draft)) is None
