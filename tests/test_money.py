"""Money before sending (issue 12, items 1 to 3), against the sandbox over HTTP: what the account
has beside the estimate in the composer's live panel and on the confirmation page, the send
refused server-side unless the person chose to send anyway, accounts billed in SMS, a balance
that cannot be read, a fresh reading asked of the worker (never per keystroke), decimal commas
in every money field, prices written as money, and the pace's wording."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape

import pytest
import sqlalchemy as sa

from tests.helpers import (
    HX,
    add_list,
    load,
    make_campaign,
    new_draft,
    preview,
    sandbox_login,
    states,
    team_of,
    text_of,
    tick,
)
from webapp import formatting
from webapp.domain import balance, composer, funds, usage
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    BalanceSnapshot,
    Campaign,
    CampaignState,
    Message,
    Team,
    utcnow,
)

MANY = 4_800


@pytest.fixture
def ann(app, make_person, sandbox):
    app.config["SANDBOX_URL"] = sandbox.base_url
    return make_person("ann@example.com")


def set_account(sandbox, app, team_id, **changes):
    with app.app_context():
        login = db.session.get(Team, team_id).gateway_login
    sandbox.control("PATCH", f"/accounts/{login}", json=changes)


def read_balance(person):
    """The balance read now, as the Balance page's "Refresh now" does (a real gateway call)."""
    assert person.post("/balance/refresh").status_code == 303


def big_list(app, team_id, count=MANY):
    return add_list(app, team_id, "Everyone", [(f"7916{i:07d}", {}) for i in range(count)], ())


def draft_to(person, list_id, text="Spring sale"):
    """A draft to ``list_id`` with ``text``, saved through the composer's live check."""
    campaign_id = new_draft(person)
    preview(person, campaign_id, list_ids=[list_id], text=text)
    return campaign_id


def the_check(app, team_id, campaign_id):
    with app.app_context():
        team = db.session.get(Team, team_id)
        return composer.check(db.session, team, db.session.get(Campaign, campaign_id), utcnow())


def send_form(person, campaign_id, **extra):
    """What the confirmation page's send form posts (its hidden fields as shown)."""
    page = person.get(f"/campaigns/{campaign_id}/confirm").text
    version = re.search(r'name="version"[^>]*value="([^"]*)"', page).group(1)
    recipients = re.search(r'name="recipients"[^>]*value="([^"]*)"', page).group(1)
    return person.post(
        f"/campaigns/{campaign_id}/send", {"version": version, "recipients": recipients, **extra}
    )


def message_count(app, campaign_id):
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Message)
            .where(Message.campaign_id == campaign_id)
        )


# -- the rule ------------------------------------------------------------------------------------


def test_what_the_account_has_covers_the_estimate_or_about_how_many_messages(app, ann, sandbox):
    team = team_of(app, ann)
    campaign_id = draft_to(ann, big_list(app, team.id))
    read_balance(ann)
    found = the_check(app, team.id, campaign_id).funds
    # 4,800 × 1 part × 2.50 = 12,000.00 RUB against 1,000.00: about 400 of them.
    assert (found.type, found.available, found.needed) == ("RUB", Decimal("1000"), Decimal("12000"))
    assert found.short and found.covers == 400 and found.messages == MANY
    assert not found.stale and found.failure == ""

    # Two parts each: 24,000.00 RUB, about 200 of them.
    preview(ann, campaign_id, list_ids=[big_list(app, team.id, 10)], text="x" * 200)
    small = the_check(app, team.id, campaign_id).funds
    assert (small.needed, small.short, small.covers) == (Decimal("50.00"), False, 10)
    preview(ann, campaign_id, list_ids=[load(app, campaign_id).list_ids[0] - 1], text="x" * 200)
    assert the_check(app, team.id, campaign_id).funds.covers == 200

    # The credit counts: balance 1,000 + credit 11,000 covers 12,000 exactly.
    preview(ann, campaign_id, list_ids=[load(app, campaign_id).list_ids[0]], text="Spring sale")
    set_account(sandbox, app, team.id, credit="11000")
    read_balance(ann)
    assert not the_check(app, team.id, campaign_id).funds.short
    # Nothing left at all: none of the messages.
    set_account(sandbox, app, team.id, balance="-5", credit="0")
    read_balance(ann)
    empty = the_check(app, team.id, campaign_id).funds
    assert empty.short and empty.covers == 0


def test_an_account_billed_in_sms_compares_parts(app, ann, sandbox):
    team = team_of(app, ann)
    set_account(sandbox, app, team.id, billing="SMS", balance="0", sms_balance=1000, sms_credit=0)
    campaign_id = draft_to(ann, big_list(app, team.id), text="x" * 200)  # 2 parts each
    read_balance(ann)
    found = the_check(app, team.id, campaign_id).funds
    assert (found.type, found.available, found.needed) == ("SMS", Decimal("1000"), Decimal("9600"))
    assert found.short and found.covers == 500
    lists = load(app, campaign_id).list_ids
    html = unescape(preview(ann, campaign_id, list_ids=lists, text="x" * 200))
    assert "1,000 SMS covers about 500 of 4,800 messages." in text_of(html, "shortfall")
    assert "The messages take 9,600 parts." in text_of(html, "shortfall")


# -- the composer's panel and the confirmation ---------------------------------------------------


def test_the_live_panel_and_the_confirmation_state_the_shortfall(app, ann):
    team = team_of(app, ann)
    read_balance(ann)
    campaign_id = new_draft(ann)
    html = preview(ann, campaign_id, list_ids=[big_list(app, team.id)])
    assert text_of(html, "estimate") == "RUB 12,000.00"
    assert text_of(html, "funds-available") == "RUB 1,000.00"
    assert text_of(html, "shortfall").startswith(
        "Not enough for this campaign: RUB 1,000.00 covers about 400 of 4,800 messages. "
        "The estimate is RUB 12,000.00."
    )
    assert 'name="send_anyway"' not in html  # chosen on the confirmation page only
    assert text_of(html, "readiness") == "Ready: continue to check and send."

    page = ann.get(f"/campaigns/{campaign_id}/confirm").text
    assert "RUB 1,000.00 covers about 400 of 4,800 messages." in text_of(page, "shortfall")
    label = unescape(
        re.search(r'<label class="check" for="send-anyway">(.*?)</label>', page, re.S)[1]
    )
    assert 'type="checkbox"' in label and "checked" not in label
    assert " ".join(re.sub(r"<[^>]+>", "", label).split()) == (
        "Send anyway: RUB 1,000.00 covers about 400 of 4,800 messages. "
        "The campaign pauses when the gateway reports the balance empty."
    )

    # Enough money: said so, and no box to tick.
    small = new_draft(ann)
    html = preview(ann, small, list_ids=[big_list(app, team.id, 10)])
    assert text_of(html, "covered") == "Enough for this campaign's estimate."
    assert 'name="send_anyway"' not in ann.get(f"/campaigns/{small}/confirm").text


def test_what_other_campaigns_still_have_to_send_is_held_for_them(app, ann):
    """Two campaigns that each fit the balance but not together are not both sent without a
    word: a committed campaign's estimate, for its messages not sent yet, is held."""
    team = team_of(app, ann)
    read_balance(ann)  # 1,000.00 RUB
    people = big_list(app, team.id, 240)  # 240 × 2.50 = 600.00 RUB each
    first = draft_to(ann, people)
    assert not the_check(app, team.id, first).funds.short
    assert send_form(ann, first).status_code == 302
    assert load(app, first).estimate == Decimal("600.00")

    second = draft_to(ann, people, text="Second wave")
    found = the_check(app, team.id, second).funds
    assert (found.held, found.held_by, found.spendable) == (Decimal("600.00"), 1, Decimal("400"))
    assert found.short and found.covers == 160
    panel = unescape(preview(ann, second, list_ids=[people], text="Second wave"))
    assert (
        "RUB 600.00 of it is still to be spent by 1 other campaign scheduled or sending: "
        "RUB 400.00 is left for this one." in text_of(panel, "funds-held")
    )
    assert "RUB 400.00 covers about 160 of 240 messages." in text_of(panel, "shortfall")
    assert send_form(ann, second).status_code == 400  # not without "Send anyway"

    # Half of the first sent: half of its estimate is still held.
    with app.app_context():
        db.session.execute(
            sa.update(Campaign)
            .where(Campaign.id == first)
            .values(state="sending", queued=120, accepted=120)
        )
        db.session.commit()
    found = the_check(app, team.id, second).funds
    assert (found.held, found.short) == (Decimal("300.00"), False)
    # Once it is final it holds nothing.
    with app.app_context():
        db.session.execute(
            sa.update(Campaign).where(Campaign.id == first).values(state="cancelled")
        )
        db.session.commit()
    assert the_check(app, team.id, second).funds.held == 0


def test_a_shortfall_is_sent_only_when_the_person_chooses_to_send_anyway(app, ann, sandbox):
    team = team_of(app, ann)
    read_balance(ann)
    campaign_id = draft_to(ann, big_list(app, team.id))
    before = load(app, campaign_id)

    refused = send_form(ann, campaign_id)
    assert refused.status_code == 400
    assert text_of(refused.text, "send-anyway-error").startswith(
        "Not sent: the estimate is more than the account has."
    )
    assert 'aria-describedby="send-anyway-error"' in refused.text
    after = load(app, campaign_id)  # untouched
    assert (after.state, after.updated_at, after.list_ids) == (
        "draft",
        before.updated_at,
        before.list_ids,
    )
    assert message_count(app, campaign_id) == 0
    # A forged value other than the checkbox's is no choice either.
    assert send_form(ann, campaign_id, send_anyway="").status_code == 400

    sent = send_form(ann, campaign_id, send_anyway="y")
    assert sent.status_code == 302, sent.text
    assert load(app, campaign_id).state == CampaignState.SCHEDULED
    assert message_count(app, campaign_id) == MANY
    with app.app_context():
        event = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "campaign_sent")
        ).one()
        assert event.details["sent_anyway"] is True
        assert (event.details["available"], event.details["needed"]) == ("1000.00", "12000.00")

    # The gateway reports the balance empty: the campaign pauses, as for any campaign.
    for _ in range(20):
        tick(app)
        if load(app, campaign_id).state == CampaignState.PAUSED:
            break
    campaign = load(app, campaign_id)
    assert campaign.state == CampaignState.PAUSED and "balance is too low" in campaign.pause_reason
    assert states(app, campaign_id)["accepted"] == 400


def test_a_scheduled_campaign_is_held_to_the_same_at_confirmation(app, ann):
    team = team_of(app, ann)
    read_balance(ann)
    campaign_id = new_draft(ann)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    preview(
        ann,
        campaign_id,
        list_ids=[big_list(app, team.id)],
        when="at",
        send_date=tomorrow.strftime("%Y-%m-%d"),
        send_time="12:00",
    )
    assert load(app, campaign_id).send_at is not None
    assert send_form(ann, campaign_id).status_code == 400
    assert load(app, campaign_id).state == CampaignState.DRAFT
    assert send_form(ann, campaign_id, send_anyway="y").status_code == 302
    assert load(app, campaign_id).state == CampaignState.SCHEDULED


def test_the_refusal_holds_in_the_domain_too(app, ann):
    team = team_of(app, ann)
    read_balance(ann)
    campaign_id = draft_to(ann, big_list(app, team.id))
    from webapp.domain import campaigns

    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        with pytest.raises(campaigns.NotCovered, match="covers about 400 of 4,800 messages"):
            campaigns.commit(db.session, campaign)
        db.session.rollback()
        assert campaigns.commit(db.session, campaign, send_anyway=True) == MANY


# -- a balance that cannot be read ---------------------------------------------------------------


def test_a_balance_never_read_is_stated_and_does_not_stop_sending(app, ann):
    team = team_of(app, ann)
    campaign_id = draft_to(ann, big_list(app, team.id, 10))
    html = preview(ann, campaign_id, list_ids=load(app, campaign_id).list_ids)
    assert text_of(html, "funds-unknown") == (
        "The balance has not been read yet, so it cannot be compared with the estimate."
    )
    assert send_form(ann, campaign_id).status_code == 302


def test_a_failed_reading_is_stated_with_when_it_was_last_read(app, ann, sandbox):
    team = team_of(app, ann)
    read_balance(ann)
    campaign_id = draft_to(ann, big_list(app, team.id))
    sandbox.set_faults(http_500=1.0, endpoints=["balance.json"])
    read_balance(ann)  # the gateway does not answer properly
    html = preview(ann, campaign_id, list_ids=load(app, campaign_id).list_ids)
    failure = text_of(html, "funds-failure")
    assert (
        failure.startswith("The last attempt to read it failed: ") and "did not answer" in failure
    )
    assert re.match(
        r"Balance plus credit, as of \d+ \w{3} \d{4}, \d\d:\d\d", text_of(html, "funds-as-of")
    )
    assert text_of(html, "funds-available") == "RUB 1,000.00"  # the last figures known, stated


# -- fresh readings, by the worker ---------------------------------------------------------------


def age_the_reading(app, team_id, minutes=5):
    """Make the team's latest reading and attempt ``minutes`` old, as time would."""
    with app.app_context():
        then = utcnow() - timedelta(minutes=minutes)
        db.session.execute(
            sa.update(BalanceSnapshot)
            .where(BalanceSnapshot.team_id == team_id)
            .values(taken_at=then)
        )
        db.session.execute(
            sa.update(Team)
            .where(Team.id == team_id)
            .values(balance_checked_at=then, balance_next_at=utcnow() + timedelta(minutes=10))
        )
        db.session.commit()


def due(app, team_id):
    with app.app_context():
        return team_id in balance.due_team_ids(db.session, utcnow())


def test_opening_the_composer_asks_the_worker_for_a_fresh_reading_once(app, ann):
    team = team_of(app, ann)
    read_balance(ann)
    campaign_id = draft_to(ann, big_list(app, team.id, 10))
    assert not due(app, team.id)
    ann.get(f"/campaigns/{campaign_id}/edit")
    assert not due(app, team.id)  # read just now: fresh enough
    age_the_reading(app, team.id)
    # The live panel, on every keystroke, reads the stored snapshot only and asks for nothing.
    html = preview(ann, campaign_id, list_ids=load(app, campaign_id).list_ids, text="Hi")
    assert not due(app, team.id)
    assert 'data-testid="funds-reading"' in html  # it says it is old, and asks for itself again
    # Opening the composer (or the confirmation) asks the worker's balance tick for it.
    ann.get(f"/campaigns/{campaign_id}/edit")
    assert due(app, team.id)
    with app.app_context():
        assert balance.claim(db.session, team.id, utcnow())  # the worker takes it
    ann.get(f"/campaigns/{campaign_id}/confirm")
    assert not due(app, team.id)  # attempted within the minute: not asked again


def test_the_panel_asks_for_itself_while_the_reading_is_on_its_way_then_stops(app, ann):
    team = team_of(app, ann)
    read_balance(ann)
    campaign_id = draft_to(ann, big_list(app, team.id, 10))
    age_the_reading(app, team.id)
    url = f"/campaigns/{campaign_id}/funds"
    first = ann.get(url, headers=HX)
    assert first.status_code == 200
    assert re.search(rf'hx-get="[^"]*/campaigns/{campaign_id}/funds\?polls=1"', first.text)
    assert 'hx-trigger="load delay:3s"' in first.text
    last = ann.get(f"{url}?polls={funds.POLLS}", headers=HX)
    assert last.status_code == 286 and "hx-get" not in last.text
    read_balance(ann)  # the worker's reading arrives
    fresh = ann.get(f"{url}?polls=1", headers=HX)
    assert fresh.status_code == 286 and 'data-testid="funds-reading"' not in fresh.text
    # On the confirmation page the box's state is carried through the swap.
    read_balance(ann)
    big = draft_to(ann, big_list(app, team.id))
    age_the_reading(app, team.id)
    swapped = ann.get(f"/campaigns/{big}/funds?polls=1&confirming=1&send_anyway=y", headers=HX)
    assert re.search(
        r'<input[^>]*checked[^>]*id="send-anyway"|<input[^>]*id="send-anyway"[^>]*checked',
        swapped.text,
    )
    assert 'hx-include="#send-anyway"' in swapped.text


# -- decimal commas and prices as money ----------------------------------------------------------


def sending_settings(person, price):
    return person.post(
        "/team/settings",
        {
            "sending-phone_region": "RU",
            "sending-timezone": "Europe/Moscow",
            "sending-price_per_part": price,
            "sending-send_rate": "50",
        },
    )


def price_of(app, team_id):
    with app.app_context():
        return db.session.get(Team, team_id).price_per_part


@pytest.mark.parametrize(
    ("typed", "stored", "shown"),
    [
        ("2,75", "2.75", "2.75"),
        ("2.75", "2.75", "2.75"),
        (" 2,5 ", "2.50", "2.50"),
        ("0,3333", "0.3333", "0.3333"),
        ("2.755", "2.755", "2.755"),
        ("1 000", "1000", "1000.00"),
    ],
)
def test_the_price_per_part_reads_decimal_commas(app, ann, typed, stored, shown):
    team = team_of(app, ann)
    assert sending_settings(ann, typed).status_code == 302
    assert price_of(app, team.id) == Decimal(stored)
    page = ann.get("/team/settings").text
    box = re.search(r'<input[^>]*name="sending-price_per_part"[^>]*>', page)[0]
    assert f'value="{shown}"' in box
    assert 'type="text"' in box and 'inputmode="decimal"' in box


@pytest.mark.parametrize(
    ("stored", "russian"),
    [
        ("2.50", "2,50"),
        ("2.75", "2,75"),
        ("0.3333", "0,3333"),
        ("2.755", "2,7550"),
        ("1000", "1000,00"),
    ],
)
def test_a_russian_reader_sees_the_price_with_a_decimal_comma_that_reads_back(
    app, ann, stored, russian
):
    """English keeps "2.50"; Russian writes "2,50" (three decimals to four: "2,755" could be
    thousands), and saving the box unchanged keeps the price."""
    team = team_of(app, ann)
    assert sending_settings(ann, stored).status_code == 302
    for language, shown in (("ru", russian), ("en", formatting.plain_money(Decimal(stored), 4))):
        page = ann.get("/team/settings", headers={"Accept-Language": language}).text
        box = re.search(r'<input[^>]*name="sending-price_per_part"[^>]*>', page)[0]
        assert f'value="{shown}"' in box
        assert sending_settings(ann, shown).status_code == 302
        assert price_of(app, team.id) == Decimal(stored)


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("2,7x", "Enter the price in digits, like 2.50 or 2,75."),
        ("2,755", "A comma before three digits may group thousands or start decimals"),
        ("1.23456", "Use at most four decimal places."),
        ("1 000,50", "Enter a price from 0 to 1,000 RUB."),
        ("", "Enter the price per part."),
    ],
)
def test_a_price_that_cannot_be_read_is_refused_beside_the_field_as_typed(app, ann, typed, error):
    team = team_of(app, ann)
    response = sending_settings(ann, typed)
    assert response.status_code == 400
    field = response.text.split('for="sending-price_per_part"')[1].split('for="sending-send_rate"')[
        0
    ]
    assert f'value="{typed}"' in field and 'aria-invalid="true"' in field
    errors = re.findall(r'<p class="field-error" id="sending-price_per_part-error">([^<]*)', field)
    assert len(errors) == 1 and unescape(errors[0]).startswith(error)
    assert price_of(app, team.id) == Decimal("2.50")


def test_prices_are_written_as_money_everywhere(app, ann):
    team = team_of(app, ann)
    shown = ann.get(f"/campaigns/{make_campaign(app, team, 1)}").text
    assert re.search(r"<dt>Price per part</dt>\s*<dd>RUB\s2\.50</dd>", shown)
    campaign_id = new_draft(ann)
    html = unescape(preview(ann, campaign_id, pasted_numbers="79160000001"))
    assert "× RUB\N{NO-BREAK SPACE}2.50 per part" in html and "2.5000" not in html
    assert "2.5000" not in ann.get(f"/campaigns/{campaign_id}/confirm").text


def test_the_money_formats_read_back():
    assert formatting.price(Decimal("2.5000")) == "2.50"
    assert formatting.price(Decimal("2.7550")) == "2.755"
    assert formatting.price(Decimal("1000.1234")) == "1,000.1234"
    assert formatting.plain_money(Decimal("2.7550"), 4) == "2.755"
    assert formatting.plain_money(Decimal("2.5000"), 4) == "2.50"
    for value in ("2.50", "2.755", "0.0001", "999.9999"):
        written = formatting.price(Decimal(value))
        assert formatting.parse_amount(written, formatting.PRICE_PLACES) == Decimal(value)
    assert formatting.parse_amount("2,7550", 4) == Decimal("2.755")
    assert formatting.parse_amount("2,755") == Decimal("2755.00")  # an amount: thousands


def test_the_threshold_and_the_top_up_take_decimal_commas_too(app, ann, sandbox):
    team = team_of(app, ann)
    assert ann.post("/balance/warning", {"amount": "1 000,50", "type": "RUB"}).status_code == 303
    with app.app_context():
        assert db.session.get(Team, team.id).low_balance_threshold == Decimal("1000.50")
    page = ann.get("/balance").text
    assert re.search(r'<input[^>]*name="amount"[^>]*value="1000.50"', page)
    bad = ann.post("/team/gateway/sandbox/top-up", {"amount": "12,5x"})
    assert bad.status_code == 400 and "Enter an amount in digits, like 1,500.00" in bad.text
    assert "turn the warning off" not in bad.text  # the threshold's wording stays its own
    assert ann.post("/team/gateway/sandbox/top-up", {"amount": "12,5"}).status_code == 302
    assert sandbox.control("GET", f"/accounts/{sandbox_login(app, team)}").json()["balance"] == (
        "1012.50"
    )


# -- the pace ------------------------------------------------------------------------------------


def spend_and_hold(app, team, spent, available, now):
    """``spent`` RUB a day ago (by a team older than the pace's week), ``available`` RUB now."""
    campaign_id = make_campaign(app, team, 1, state=CampaignState.FINISHED)
    with app.app_context():
        for when, amount in ((now - timedelta(days=30), "1000"), (now, available)):
            db.session.add(
                BalanceSnapshot(
                    team_id=team.id, taken_at=when, type="RUB", balance=Decimal(amount), credit=0
                )
            )
        parts = int(Decimal(spent) / Decimal("2.5"))
        sent = usage.Sent(accepted=parts, parts=parts, cost=Decimal(spent))
        usage.record_sent(db.session, team.id, campaign_id, now - timedelta(days=1), sent)
        db.session.commit()


def pace_text(html):
    return " ".join(
        re.sub(
            r"<[^>]+>", "", html.split('data-testid="balance-pace">')[1].split("</p>")[0]
        ).split()
    )


def test_spending_faster_than_a_days_balance_says_less_than_a_day(app, ann):
    team = team_of(app, ann)
    now = utcnow()
    spend_and_hold(app, team, "700.00", "50.00", now)  # 100 a day, 50 left
    with app.app_context():
        found = balance.pace(db.session, db.session.get(Team, team.id), now)
    assert (found.days_left, found.nothing_left) == (0, False)
    assert pace_text(ann.get("/balance").text) == (
        "Over the last 7 days: RUB 100.00 a day. At this pace the balance lasts less than a day."
    )


def test_nothing_is_left_to_spend_only_when_nothing_is_left(app, ann):
    team = team_of(app, ann)
    now = utcnow()
    spend_and_hold(app, team, "700.00", "0", now)
    assert pace_text(ann.get("/balance").text) == (
        "Over the last 7 days: RUB 100.00 a day. Nothing is left to spend."
    )
