"""Balance snapshots and the balance page, against the sandbox over HTTP.

The snapshot tick records every entry of balance.json, is due on its schedule and right after a
campaign finishes, is taken by one worker only, and survives a bad gateway (wrong password, no
answer, HTTP 500, garbage) with a back-off. The low-balance warning crosses once each way, with
one audit event each, and its banner shows on every page to owners, admins and senders. The page
shows the balance, its pace, and its history as a chart and a table with the stored figures.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from html import unescape
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import current_app

from tests.helpers import (
    english_time,
    make_campaign,
    post_form,
    sandbox_login,
    sign_in,
    team_of,
    tick,
    without_team,
)
from webapp.domain import balance, gateways, usage
from webapp.extensions import db
from webapp.formatting import parse_amount
from webapp.jobs import balance as job
from webapp.models import AuditEvent, BalanceSnapshot, CampaignState, Team, utcnow

INTERVAL = timedelta(minutes=15)
MOSCOW = ZoneInfo("Europe/Moscow")


def fast_client(team):
    """The team's real client, with the retries of idempotent reads made quick."""
    client = gateways.client_for(current_app.config, team)
    client.backoff = 0.01
    return client


def snapshot(app, when, interval=INTERVAL):
    """One run of the balance tick at ``when``; {team id: failure}."""
    with app.app_context():
        return job.snapshot_due_teams(db.session, lambda: when, fast_client, interval)


def stored(app, team_id):
    """The team's snapshot rows: (taken_at, type, balance, credit), oldest first."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(
                BalanceSnapshot.taken_at,
                BalanceSnapshot.type,
                BalanceSnapshot.balance,
                BalanceSnapshot.credit,
            )
            .where(BalanceSnapshot.team_id == team_id)
            .order_by(BalanceSnapshot.taken_at, BalanceSnapshot.type)
        ).all()
    return [tuple(r) for r in rows]


def team_row(app, team_id):
    with app.app_context():
        return db.session.get(Team, team_id)


def set_account(sandbox, app, team, **changes):
    sandbox.control("PATCH", f"/accounts/{sandbox_login(app, team)}", json=changes)


def audit_actions(app, team_id, *actions):
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(AuditEvent.action)
                .where(AuditEvent.team_id == team_id, AuditEvent.action.in_(actions))
                .order_by(AuditEvent.id)
            )
        )


def other_team(app, make_person, sandbox, email, *, login, password):
    """A second team, on an iQSMS account at the sandbox's address (``login``/``password``)."""
    person = make_person(email)
    with app.app_context():
        user_team = db.session.get(Team, team_of_person(app, person))
        gateways.use_iqsms(app.config, user_team, sandbox.base_url, login, password)
        db.session.commit()
        return user_team.id


def team_of_person(app, person):

    return team_of(app, person).id


# -- the snapshot tick ---------------------------------------------------------------------------


def test_a_snapshot_records_every_entry_with_its_credit(app, sandbox, team, make_person):
    set_account(sandbox, app, team, balance="1234.56", credit="100", sms_balance=250, sms_credit=50)
    # The sandbox's seeded "credit" account: nothing but credit.
    credit_team = other_team(
        app, make_person, sandbox, "cora@example.com", login="credit", password="credit"
    )
    now = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    assert snapshot(app, now) == {}
    assert stored(app, team.id) == [
        (now, "RUB", Decimal("1234.56"), Decimal("100")),
        (now, "SMS", Decimal("250"), Decimal("50")),
    ]
    assert stored(app, credit_team) == [
        (now, "RUB", Decimal("0"), Decimal("100")),
        (now, "SMS", Decimal("0"), Decimal("0")),
    ]
    row = team_row(app, team.id)
    assert (row.balance_failures, row.balance_error) == (0, "")
    assert (row.balance_checked_at, row.balance_next_at) == (now, now + INTERVAL)
    with app.app_context():
        entries = balance.latest(db.session, team.id)
        assert [(e.type, e.available) for e in entries] == [
            ("RUB", Decimal("1334.56")),
            ("SMS", Decimal("300")),
        ]


def test_due_on_its_schedule_and_right_after_a_campaign_finishes(app, sandbox, team):
    start = utcnow()
    assert snapshot(app, start) == {}
    assert len(stored(app, team.id)) == 2

    def due(when):
        with app.app_context():
            return team.id in balance.due_team_ids(db.session, when)

    assert not due(start + INTERVAL - timedelta(seconds=1))
    snapshot(app, start + timedelta(minutes=5))  # not due: nothing read
    assert len(stored(app, team.id)) == 2

    # A campaign of four messages goes out and finishes: the balance is due at once.
    campaign_id = make_campaign(app, team, 4)
    tick(app)
    with app.app_context():
        from webapp.models import Campaign

        campaign = db.session.get(Campaign, campaign_id)
        assert campaign.state == CampaignState.FINISHED
        finished_at = campaign.finished_at
    assert finished_at > start
    after = finished_at + timedelta(seconds=1)
    assert due(after)
    snapshot(app, after)
    rows = stored(app, team.id)
    assert rows[-2:] == [
        (after, "RUB", Decimal("990.00"), Decimal("0")),  # what the sandbox charged: 4 x 2.50
        (after, "SMS", Decimal("0"), Decimal("0")),
    ]
    # Read since it finished: not due again until the interval has passed.
    assert not due(after + timedelta(minutes=1))
    assert not due(after + INTERVAL - timedelta(seconds=1))
    assert due(after + INTERVAL)


def test_two_workers_do_not_both_take_a_snapshot(app, sandbox, team):
    now = utcnow()
    with app.app_context():
        assert balance.claim(db.session, team.id, now) is True
        assert balance.claim(db.session, team.id, now) is False  # taken, not due any more
        # A claim whose worker died is taken again after CLAIM_TTL.
        assert balance.claim(db.session, team.id, now + balance.CLAIM_TTL) is True

    later = now + INTERVAL * 2
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker():
        try:
            with app.app_context():
                barrier.wait()
                job.snapshot_due_teams(db.session, lambda: later, fast_client, INTERVAL)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [r[:2] for r in stored(app, team.id)] == [(later, "RUB"), (later, "SMS")]


def test_a_wrong_password_is_logged_and_retried_later_and_later(
    app, sandbox, team, make_person, caplog
):
    broken = other_team(
        app, make_person, sandbox, "bob@example.com", login="demo", password="wrong"
    )
    now = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    interval = timedelta(minutes=10)
    with caplog.at_level(logging.WARNING, logger="webapp.jobs.balance"):
        failures = snapshot(app, now, interval)
    assert failures == {
        broken: "The gateway refused the login or password. Check them and try again."
    }
    assert f"balance of team {broken} not read" in caplog.text
    assert len(stored(app, team.id)) == 2  # the other team was read all the same
    assert stored(app, broken) == []

    # Retried after 1, 2, 4, 8 minutes, then every interval (10 minutes), never more.
    waits = []
    when = now
    for _ in range(6):
        row = team_row(app, broken)
        waits.append(row.balance_next_at - when)
        assert row.balance_error.startswith("The gateway refused the login")
        when = row.balance_next_at
        assert snapshot(app, when - timedelta(seconds=1), interval) == {}  # not due yet
        assert broken in snapshot(app, when, interval)
    minutes = [w / timedelta(minutes=1) for w in waits]
    assert minutes == [1, 2, 4, 8, 10, 10]
    assert team_row(app, broken).balance_failures == 7

    # Once the password is right, the next reading succeeds and the error is gone.
    with app.app_context():
        gateways.use_iqsms(
            app.config, db.session.get(Team, broken), sandbox.base_url, "demo", "demo"
        )
        db.session.commit()
    when = team_row(app, broken).balance_next_at
    assert snapshot(app, when, interval) == {}
    row = team_row(app, broken)
    assert (row.balance_failures, row.balance_error) == (0, "")
    assert row.balance_next_at == when + interval
    assert [r[1:3] for r in stored(app, broken)] == [
        ("RUB", Decimal("1000.00")),
        ("SMS", Decimal("0")),
    ]


def test_a_gateway_that_is_down_is_logged_not_raised(
    app, sandbox, team, make_person, unused_port, caplog
):
    app.config["GATEWAY_ALLOWED_HOSTS"] = "127.0.0.1"  # a gateway that is down, on loopback
    down = make_person("dan@example.com")
    down_id = team_of_person(app, down)
    with app.app_context():
        gateways.use_iqsms(
            app.config,
            db.session.get(Team, down_id),
            f"http://127.0.0.1:{unused_port}/",
            "demo",
            "demo",
        )
        db.session.commit()
    now = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    with caplog.at_level(logging.WARNING, logger="webapp.jobs.balance"):
        failures = snapshot(app, now)
    assert failures[down_id].startswith(f"Could not connect to http://127.0.0.1:{unused_port}/")
    assert f"balance of team {down_id} not read" in caplog.text
    assert len(stored(app, team.id)) == 2
    row = team_row(app, down_id)
    assert (row.balance_failures, row.balance_next_at) == (1, now + timedelta(minutes=1))

    # The page says so in plain words, and when it will try again (in the team's zone).
    html = down.get("/balance").get_data(as_text=True)
    assert "The last reading of the balance failed." in html
    assert f"Could not connect to http://127.0.0.1:{unused_port}/" in html
    assert "It will be tried again at 1 May 2026, 12:01 (Moscow, UTC+3)." in html


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("http_500", "did not answer properly"), ("garbage", "did not answer properly")],
)
def test_http_500_and_garbage_are_logged_and_shown(app, sandbox, team, caplog, fault, reason):
    sandbox.set_faults(**{fault: 1.0}, endpoints=["balance.json"])
    now = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    with caplog.at_level(logging.WARNING, logger="webapp.jobs.balance"):
        failures = snapshot(app, now)
    assert reason in failures[team.id]
    assert f"balance of team {team.id} not read" in caplog.text
    assert stored(app, team.id) == []
    row = team_row(app, team.id)
    assert row.balance_failures == 1 and reason in row.balance_error

    sandbox.set_faults()  # the gateway recovers: the retry a minute later reads it
    assert snapshot(app, now + timedelta(minutes=1)) == {}
    assert len(stored(app, team.id)) == 2
    assert team_row(app, team.id).balance_error == ""


def test_a_broken_setting_is_logged_and_the_other_teams_are_read(
    app, sandbox, team, make_person, caplog
):
    broken = team_of_person(app, make_person("eve@example.com"))
    with app.app_context():
        db.session.get(Team, broken).gateway_password_encrypted = b"not a fernet token"
        db.session.commit()
    now = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    with caplog.at_level(logging.WARNING, logger="webapp.jobs.balance"):
        failures = snapshot(app, now)
    assert "cannot be decrypted" in failures[broken]
    assert f"balance of team {broken} not read" in caplog.text
    assert len(stored(app, team.id)) == 2
    # Claimed, so the next tick does not hammer it; taken again once the claim lapses.
    assert snapshot(app, now + timedelta(seconds=10)) == {}
    assert broken in snapshot(app, now + balance.CLAIM_TTL)


# -- the low-balance warning --------------------------------------------------------------------


def test_crossing_the_threshold_writes_one_audit_event_each_way(app, sandbox, team):
    with app.app_context():
        row = db.session.get(Team, team.id)
        row.low_balance_threshold = Decimal("500")
        db.session.commit()
    now = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    actions = ("balance_low", "balance_restored")

    def read(amount, minutes):
        set_account(sandbox, app, team, balance=amount)
        assert snapshot(app, now + timedelta(minutes=minutes)) == {}
        return audit_actions(app, team.id, *actions)

    assert read("1000", 0) == []
    assert read("499.99", 15) == ["balance_low"]
    assert team_row(app, team.id).low_balance_since == now + timedelta(minutes=15)
    assert read("300", 30) == ["balance_low"]  # still low: no second event
    assert team_row(app, team.id).low_balance_since == now + timedelta(minutes=15)
    assert read("500", 45) == ["balance_low", "balance_restored"]  # not below any more
    assert team_row(app, team.id).low_balance_since is None
    assert read("800", 60) == ["balance_low", "balance_restored"]
    with app.app_context():
        low, restored = db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.team_id == team.id, AuditEvent.action.in_(actions))
            .order_by(AuditEvent.id)
        ).all()
        assert low.details == {"type": "RUB", "balance": "499.99", "threshold": "500.00"}
        assert restored.details == {"type": "RUB", "balance": "500.00", "threshold": "500.00"}


def make_low(app, sandbox, team):
    """The team's RUB balance at 80.00 against a 100.00 threshold, read by the tick."""
    set_account(sandbox, app, team, balance="80")
    with app.app_context():
        db.session.get(Team, team.id).low_balance_threshold = Decimal("100")
        db.session.commit()
    snapshot(app, datetime(2026, 5, 1, 9, 0, tzinfo=UTC))
    assert team_row(app, team.id).low_balance_since is not None


BANNER = 'data-testid="low-balance-banner"'
PAGES = ["/", "/campaigns", "/contacts", "/senders", "/team", "/balance"]


def test_the_banner_shows_on_every_page_to_everyone_who_sends(app, sandbox, team, make_person):
    owner = make_person("owner@example.com", team=team.id, role="owner")
    admin = make_person("admin@example.com", team=team.id, role="admin")
    sender = make_person("sender@example.com", team=team.id, role="sender")
    viewer = make_person("viewer@example.com", team=team.id, role="viewer")
    for person in (owner, admin, sender, viewer):
        assert BANNER not in person.get("/").get_data(as_text=True)

    make_low(app, sandbox, team)
    for person in (owner, admin, sender):
        for page in PAGES:
            html = without_team(person.get(page).get_data(as_text=True))
            assert BANNER in html, (person.email, page)
            banner = html.split(BANNER)[1].split("</div>")[0]
            assert 'role="alert"' in html.split(BANNER)[0][-80:]
            text = " ".join(unescape(re.sub(r"<[^>]+>", " ", banner)).split())
            assert (
                "Low balance. The balance is RUB 80.00, below your warning threshold of "
                "RUB 100.00, since 1 May 2026, 12:00." in text  # spaces joined by split()
            ), text
            if page != "/balance":
                assert 'href="/balance"' in banner
    # Even on a page that is not there.
    missing = owner.get("/no-such-page")
    assert missing.status_code == 404 and BANNER in missing.get_data(as_text=True)
    for page in PAGES:  # a viewer sends nothing
        assert BANNER not in viewer.get(page).get_data(as_text=True), page


OOB_SLOT = '<div hx-swap-oob="innerHTML:#low-balance-slot">'


def oob_banner(fragment):
    """The out-of-band content for the banner's slot in an htmx response (None if absent)."""
    if OOB_SLOT not in fragment:
        return None
    return fragment.split(OOB_SLOT)[1].rsplit("</div>", 1)[0]


def test_the_pages_htmx_responses_bring_the_banner_up_to_date(app, sandbox, team, make_person):
    owner = make_person("owner@example.com", team=team.id, role="owner")
    viewer = make_person("viewer@example.com", team=team.id, role="viewer")
    make_low(app, sandbox, team)  # RUB 80.00 below 100.00
    # The slot is on every page for owners and admins, banner or not.
    html = owner.get("/balance").get_data(as_text=True)
    assert '<div id="low-balance-slot"><div class="low-balance" role="alert"' in html
    assert OOB_SLOT not in html  # a full page has the slot itself

    # Refresh now finds the balance restored: the card and the banner's slot change together.
    set_account(sandbox, app, team, balance="2000")
    hx = {"HX-Request": "true"}
    fragment = owner.post("/balance/refresh", {"range": "week"}, headers=hx).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="balance-live"') and ">2,000.00<" in fragment
    assert oob_banner(fragment).strip() == ""
    assert team_row(app, team.id).low_balance_since is None
    html = owner.get("/campaigns").get_data(as_text=True)
    assert '<div id="low-balance-slot"></div>' in html

    # And below the threshold again: the banner comes with the refreshed card.
    set_account(sandbox, app, team, balance="60.50")
    fragment = owner.post("/balance/refresh", {"range": "week"}, headers=hx).get_data(as_text=True)
    banner = oob_banner(fragment)
    assert (
        BANNER in banner
        and "The balance is RUB\N{NO-BREAK SPACE}60.50, below your warning threshold of "
        "RUB\N{NO-BREAK SPACE}100.00"
        in banner
    )
    assert "See the balance" not in banner  # this is the balance page
    # A range change carries it too; a viewer, who has no banner, gets no slot to fill.
    fragment = owner.get("/balance?range=day", headers=hx).get_data(as_text=True)
    assert BANNER in oob_banner(fragment)
    for response in (
        viewer.get("/balance?range=day", headers=hx),
        viewer.post("/balance/refresh", {"range": "day"}, headers=hx),
    ):
        fragment = response.get_data(as_text=True)
        assert OOB_SLOT not in fragment and BANNER not in fragment
    assert 'id="low-balance-slot"' not in viewer.get("/balance").get_data(as_text=True)


def test_saving_the_threshold_checks_the_latest_reading_at_once(app, sandbox, team, make_person):
    owner = make_person("owner@example.com", team=team.id, role="owner")
    snapshot(app, utcnow())  # RUB 1,000.00
    response = owner.post("/balance/warning", {"amount": "1 500,00", "type": "RUB"})
    assert response.status_code == 303
    row = team_row(app, team.id)
    assert (row.low_balance_threshold, row.low_balance_type) == (Decimal("1500.00"), "RUB")
    assert row.low_balance_since is not None
    assert audit_actions(app, team.id, "balance_warning_changed", "balance_low") == [
        "balance_warning_changed",
        "balance_low",
    ]
    html = owner.get("/balance").get_data(as_text=True)
    assert BANNER in html
    assert "You will be warned when RUB is below 1,500.00." in html
    assert 'value="1500.00"' in html  # the form shows the saved amount

    # Lowering it below the balance clears the banner at once.
    owner.post("/balance/warning", {"amount": "900", "type": "RUB"})
    assert team_row(app, team.id).low_balance_since is None
    assert BANNER not in owner.get("/").get_data(as_text=True)
    # Turned off: no warning, and the change itself is the record.
    owner.post("/balance/warning", {"amount": "", "type": "RUB"})
    row = team_row(app, team.id)
    assert row.low_balance_threshold is None
    assert "The low-balance warning is off." in owner.get("/balance").get_data(as_text=True)
    assert audit_actions(
        app, team.id, "balance_warning_changed", "balance_low", "balance_restored"
    ) == [
        "balance_warning_changed",
        "balance_low",
        "balance_warning_changed",
        "balance_restored",
        "balance_warning_changed",
    ]


def test_turning_the_warning_off_while_low_clears_the_banner(app, sandbox, team, make_person):
    owner = make_person("owner@example.com", team=team.id, role="owner")
    make_low(app, sandbox, team)
    owner.post("/balance/warning", {"amount": "", "type": "RUB"})
    assert team_row(app, team.id).low_balance_since is None
    assert BANNER not in owner.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("typed", "amount"),
    [
        ("", None),
        ("  ", None),
        ("500", "500.00"),
        ("99.50", "99.50"),
        ("99,50", "99.50"),
        ("1,5", "1.50"),
        (",5", "0.50"),
        ("1,000", "1000.00"),  # the app writes amounts so: thousands, not one rouble
        ("1,000.00", "1000.00"),
        ("12,345,678", "12345678.00"),
        ("12,345,678.9", "12345678.90"),
        ("1 000", "1000.00"),
        ("1\u00a0000,50", "1000.50"),  # a non-breaking space, as Russian formats write it
        ("1\u202f500", "1500.00"),  # a narrow one
        (" 1 500,00 ", "1500.00"),
        ("0", "0.00"),
    ],
)
def test_amounts_are_read_as_the_app_writes_them_and_russians_type_them(typed, amount):
    expected = None if amount is None else Decimal(amount)
    assert parse_amount(typed) == expected


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("lots", "Enter an amount in digits"),
        ("1e3", "Enter an amount in digits"),
        ("1E3", "Enter an amount in digits"),
        ("nan", "Enter an amount in digits"),
        ("NaN", "Enter an amount in digits"),
        ("inf", "Enter an amount in digits"),
        ("Infinity", "Enter an amount in digits"),
        ("+5", "Enter an amount in digits"),
        ("0x10", "Enter an amount in digits"),
        ("\u0661\u0662", "Enter an amount in digits"),  # digits, but not ours
        ("100.", "Enter an amount in digits"),
        ("100,", "Enter an amount in digits"),
        (".", "Enter an amount in digits"),
        ("1.000.000", "Group thousands by three"),
        ("1.000,50", "Group thousands by three"),
        ("1,00,000", "Group thousands by three"),
        ("1,000,5", "Group thousands by three"),
        ("10,00.50", "Group thousands by three"),
        ("1234,567.00", "Group thousands by three"),
        ("1.000", "Use at most two decimal places."),
        ("12.345", "Use at most two decimal places."),
        ("0,123", "Use at most two decimal places."),
        ("1,5000", "Use at most two decimal places."),
        ("1,000.123", "Use at most two decimal places."),
        ("-5", "The amount cannot be negative."),
        ("-1,000.00", "The amount cannot be negative."),
        ("1000000000000", "Enter an amount below 1,000,000,000,000."),
    ],
)
def test_odd_or_ambiguous_amounts_are_refused_with_a_reason(typed, error):
    with pytest.raises(ValueError, match="^" + re.escape(error)):
        parse_amount(typed)


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("-5", "The amount cannot be negative."),
        ("lots", "Enter an amount in digits, like 1,500.00 or 1 500,50, or leave it empty"),
        ("1e3", "Enter an amount in digits, like 1,500.00 or 1 500,50, or leave it empty"),
        ("12.345", "Use at most two decimal places."),
        ("1.000,00", "Group thousands by three (1,000 or 1 000) and write decimals after"),
        ("1000000000000", "Enter an amount below 1,000,000,000,000."),
    ],
)
def test_the_threshold_form_explains_a_bad_amount_and_keeps_it(
    app, sandbox, team, make_person, typed, error
):
    owner = make_person("owner@example.com", team=team.id, role="owner")
    response = owner.post("/balance/warning", {"amount": typed, "type": "RUB"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    field = html.split('<label for="amount">')[1].split('<label for="type">')[0]
    assert f'value="{typed}"' in field
    assert 'aria-invalid="true"' in field
    assert f'<p class="field-error" id="amount-error">{error}' in unescape(field)
    assert team_row(app, team.id).low_balance_threshold is None
    assert audit_actions(app, team.id, "balance_warning_changed") == []


def test_a_threshold_typed_as_the_app_writes_it_is_saved_as_meant(app, sandbox, team, make_person):
    owner = make_person("owner@example.com", team=team.id, role="owner")
    for typed, saved in [
        ("1,000", "1000.00"),
        ("1,000.00", "1000.00"),
        ("1\u00a0500,5", "1500.50"),
    ]:
        response = owner.post("/balance/warning", {"amount": typed, "type": "RUB"})
        assert response.status_code == 303, typed
        assert team_row(app, team.id).low_balance_threshold == Decimal(saved), typed


def test_the_threshold_offers_only_the_types_the_page_shows(app, sandbox, team, make_person):
    owner = make_person("owner@example.com", team=team.id, role="owner")
    html = owner.get("/balance").get_data(as_text=True)
    assert re.findall(r'<option[^>]*value="(\w+)"', html) == ["RUB"]  # before any reading
    # A RUB-billed account reports SMS 0 with no credit: not shown, so not offered either, and
    # not accepted when posted (a warning on it would say "SMS is 0" forever).
    snapshot(app, utcnow())
    html = owner.get("/balance").get_data(as_text=True)
    assert 'data-testid="balance-SMS"' not in html
    assert re.findall(r'<option[^>]*value="(\w+)"', html) == ["RUB"]
    for type_ in ("SMS", "EUR"):
        response = owner.post("/balance/warning", {"amount": "10", "type": type_})
        assert response.status_code == 400
        assert "Choose one of the balances listed." in response.get_data(as_text=True)
    row = team_row(app, team.id)
    assert (row.low_balance_threshold, row.low_balance_since) == (None, None)
    assert audit_actions(app, team.id, "balance_warning_changed", "balance_low") == []

    # Once the account holds SMS, the page shows it and the warning can watch it.
    set_account(sandbox, app, team, sms_balance=5)
    snapshot(app, utcnow() + INTERVAL)
    html = owner.get("/balance").get_data(as_text=True)
    assert 'data-testid="balance-SMS"' in html
    assert re.findall(r'<option[^>]*value="(\w+)"', html) == ["RUB", "SMS"]
    assert owner.post("/balance/warning", {"amount": "10", "type": "SMS"}).status_code == 303
    assert team_row(app, team.id).low_balance_type == "SMS"
    assert team_row(app, team.id).low_balance_since is not None  # SMS 5 < 10
    # Spent down to nothing, SMS is still offered: that is when its warning matters.
    set_account(sandbox, app, team, sms_balance=0)
    snapshot(app, utcnow() + 2 * INTERVAL)
    html = owner.get("/balance").get_data(as_text=True)
    assert re.findall(r'<option[^>]*value="(\w+)"', html) == ["RUB", "SMS"]


def test_switching_the_watched_type_while_low_checks_the_new_type_afresh(
    app, sandbox, team, make_person
):
    owner = make_person("owner@example.com", team=team.id, role="owner")
    set_account(sandbox, app, team, sms_balance=5)
    make_low(app, sandbox, team)  # RUB 80.00 below 100.00
    actions = ("balance_warning_changed", "balance_low", "balance_restored")
    assert audit_actions(app, team.id, *actions) == ["balance_low"]

    # SMS 5 is below 10 too: its own entry, since now, and the banner speaks of SMS.
    switched = utcnow()
    assert owner.post("/balance/warning", {"amount": "10", "type": "SMS"}).status_code == 303
    assert team_row(app, team.id).low_balance_since >= switched
    assert audit_actions(app, team.id, *actions) == [
        "balance_low",
        "balance_warning_changed",
        "balance_low",
    ]
    with app.app_context():
        last = db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.team_id == team.id, AuditEvent.action == "balance_low")
            .order_by(AuditEvent.id.desc())
        ).first()
        assert last.details == {"type": "SMS", "balance": "5.00", "threshold": "10.00"}
    html = owner.get("/").get_data(as_text=True)
    assert (
        "The balance is 5\N{NO-BREAK SPACE}SMS, below your warning threshold of "
        "10\N{NO-BREAK SPACE}SMS" in html
    )

    # SMS 5 is not below 3: the warning goes, and the change itself is the record.
    owner.post("/balance/warning", {"amount": "3", "type": "SMS"})
    assert team_row(app, team.id).low_balance_since is None
    assert BANNER not in owner.get("/").get_data(as_text=True)
    assert audit_actions(app, team.id, *actions)[-2:] == [
        "balance_warning_changed",
        "balance_restored",
    ]


# -- the page -----------------------------------------------------------------------------------


def store_snapshots(app, team_id, readings):
    """Store readings {utc time: {type: (balance, credit)}} as the tick would."""
    with app.app_context():
        for at, entries in readings.items():
            for type_, (amount, credit) in entries.items():
                db.session.add(
                    BalanceSnapshot(
                        team_id=team_id,
                        taken_at=at,
                        type=type_,
                        balance=Decimal(amount),
                        credit=Decimal(credit),
                    )
                )
        db.session.commit()


def table_rows(html):
    """The history table as [(datetime attribute, shown time, {type: shown amount})]."""
    table = html.split('data-testid="balance-table"')[1].split("</table>")[0]
    types = re.findall(r'<th scope="col" class="num">(\w+)</th>', table)
    rows = []
    for row in re.findall(r"<tr><th scope=\"row\">(.*?)</tr>", table, re.S):
        at, shown = re.search(r'<time datetime="([^"]+)">([^<]+)</time>', row).groups()
        amounts = re.findall(r'<td class="num" data-type="\w+">([^<]*)</td>', row)
        rows.append((at, shown, dict(zip(types, amounts, strict=True))))
    return rows


def before_row(html):
    """The table's row of the reading before the period, as table_rows gives rows, or None."""
    table = html.split('data-testid="balance-table"')[1].split("</table>")[0]
    types = re.findall(r'<th scope="col" class="num">(\w+)</th>', table)
    found = re.search(r'<tr class="before-period" data-before-period>(.*?)</tr>', table, re.S)
    if found is None:
        return None
    at, shown = re.search(r'<time datetime="([^"]+)">([^<]+)</time>', found.group(1)).groups()
    assert "before the period" in found.group(1)
    amounts = re.findall(r'<td class="num" data-type="\w+">([^<]*)</td>', found.group(1))
    return at, shown, dict(zip(types, amounts, strict=True))


def chart_data(html):
    block = re.search(
        r'<script type="application/json" id="balance-chart-data">(.*?)</script>', html, re.S
    )
    return json.loads(block.group(1))


def test_before_the_first_snapshot_the_page_says_so(app, make_person):
    person = make_person("ann@example.com")
    html = person.get("/balance").get_data(as_text=True)
    assert 'data-testid="balance-empty"' in html
    assert "The chart starts with the first reading of the balance." in html
    assert "balance-chart-data" not in html


def test_the_page_shows_the_latest_balance_with_credit_and_the_stored_history(app, make_person):
    person = make_person("ann@example.com")
    team_id = team_of_person(app, person)
    now = utcnow().replace(microsecond=0)
    readings = {
        now - timedelta(days=5, hours=5): {"RUB": ("1000.00", "0"), "SMS": ("40", "0")},
        now - timedelta(days=2): {"RUB": ("812.50", "0"), "SMS": ("35", "0")},
        now - timedelta(hours=20): {"RUB": ("640.25", "50"), "SMS": ("12", "5")},
        now - timedelta(hours=1): {"RUB": ("1500.75", "50"), "SMS": ("1200", "5")},
        now - timedelta(days=12): {"RUB": ("2000.00", "0"), "SMS": ("0", "0")},  # month only
    }
    store_snapshots(app, team_id, readings)
    html = person.get("/balance").get_data(as_text=True)

    # Now: every type with its credit and what is available, as of the last reading.
    rub = html.split('data-testid="balance-RUB"')[1].split("</li>")[0]
    assert ">1,500.75<" in rub and ">50.00<" in rub and ">1,550.75<" in rub
    sms = html.split('data-testid="balance-SMS"')[1].split("</li>")[0]
    assert ">1,200<" in sms and ">5<" in sms and ">1,205<" in sms
    last = (now - timedelta(hours=1)).astimezone(MOSCOW)
    assert f"As of {english_time(last)} (Moscow, UTC+3)." in html

    # The week (today and the six days before, in the team's zone): the table holds exactly the
    # stored figures of the week, newest first, and the chart's data the same points, oldest
    # first.
    today = now.astimezone(MOSCOW).date()
    week_start = datetime.combine(today - timedelta(days=6), time(0), MOSCOW).astimezone(UTC)
    week = sorted((at for at in readings if at >= week_start), reverse=True)
    expected = [
        (
            at.isoformat(timespec="seconds"),
            english_time(at, MOSCOW),
            {
                "RUB": f"{Decimal(readings[at]['RUB'][0]):,.2f}",
                "SMS": f"{int(readings[at]['SMS'][0]):,}",
            },
        )
        for at in week
    ]
    assert table_rows(html) == expected
    # The chart's x axis is the whole week, and its line starts at the week's start with the
    # reading before it (12 days ago), which the table shows last, marked as such.
    chart = chart_data(html)
    assert chart["zone"] == "Europe/Moscow"
    assert chart["start"] == week_start.timestamp()
    assert chart["end"] - chart["start"] == 7 * 86400  # to the end of today
    assert chart["times"] == [chart["start"], *(int(at.timestamp()) for at in reversed(week))]
    # The legend's times, as the table writes them.
    assert chart["labels"] == [english_time(t, MOSCOW) for t in [week_start, *reversed(week)]]
    twelve_days_ago = now - timedelta(days=12)
    drawn = [twelve_days_ago, *reversed(week)]
    assert chart["series"] == [
        {
            "type": "RUB",
            "label": "RUB",  # the legend's name, in the page's language (₽ in Russian)
            "decimals": 2,
            "values": [float(readings[at]["RUB"][0]) for at in drawn],
        },
        {
            "type": "SMS",
            "label": "SMS",
            "decimals": 0,
            "values": [float(readings[at]["SMS"][0]) for at in drawn],
        },
    ]
    assert before_row(html) == (
        twelve_days_ago.isoformat(timespec="seconds"),
        english_time(twelve_days_ago, MOSCOW),
        {"RUB": "2,000.00", "SMS": "0"},
    )
    assert "The last row is the reading before these days" in html
    assert 'data-testid="chart-RUB"' in html and 'data-testid="chart-SMS"' in html

    # The day and the month hold their own readings, and start from the one before them.
    day = person.get("/balance?range=day").get_data(as_text=True)
    assert [r[2]["RUB"] for r in table_rows(day)] == ["1,500.75", "640.25"]
    assert before_row(day)[2] == {"RUB": "812.50", "SMS": "35"}
    assert chart_data(day)["series"][0]["values"] == [812.5, 640.25, 1500.75]
    assert chart_data(day)["end"] - chart_data(day)["start"] == 86400
    month = person.get("/balance?range=month").get_data(as_text=True)
    assert [r[2]["RUB"] for r in table_rows(month)] == [
        "1,500.75",
        "640.25",
        "812.50",
        "1,000.00",
        "2,000.00",
    ]
    assert before_row(month) is None  # nothing was read before the month
    assert len(chart_data(month)["times"]) == 5


def test_a_type_that_stays_at_zero_is_not_drawn(app, sandbox, team, make_person):
    snapshot(app, utcnow())  # a RUB account: SMS 0 with no credit
    html = make_person("ann2@example.com", team=team.id, role="viewer").get("/balance")
    html = html.get_data(as_text=True)
    assert 'data-testid="balance-RUB"' in html and 'data-testid="balance-SMS"' not in html
    assert [s["type"] for s in chart_data(html)["series"]] == ["RUB"]
    assert list(table_rows(html)[0][2]) == ["RUB"]


def test_the_range_picker_links_work_without_javascript_and_htmx_gets_the_live_part(
    app, make_person
):
    person = make_person("ann@example.com")
    store_snapshots(app, team_of_person(app, person), {utcnow(): {"RUB": ("10", "0")}})
    html = without_team(person.get("/balance").get_data(as_text=True))
    for key in ("day", "week", "month"):
        assert f'<a href="/balance?range={key}" hx-get="/balance?range={key}"' in html
    assert re.search(r'href="/balance\?range=week"[^>]*aria-current="true"', html)
    html = without_team(person.get("/balance?range=month").get_data(as_text=True))
    assert re.search(r'href="/balance\?range=month"[^>]*aria-current="true"', html)
    assert 'hx-push-url="true"' in html
    assert "<html" in html and 'id="balance-live"' in html

    response = person.get("/balance?range=day", headers={"HX-Request": "true"})
    fragment = without_team(response.get_data(as_text=True))
    assert "<html" not in fragment and fragment.lstrip().startswith('<div id="balance-live"')
    assert "HX-Request" in response.headers["Vary"]
    assert re.search(r'href="/balance\?range=day"[^>]*aria-current="true"', fragment)
    # A pushed URL reloaded, or restored from history, is a full page.
    restored = person.get(
        "/balance?range=day",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    ).get_data(as_text=True)
    assert "<html" in restored


def test_a_custom_range_holds_whole_days_in_the_teams_zone(app, make_person):
    person = make_person("ann@example.com")
    team_id = team_of_person(app, person)

    def moscow(*args):
        return datetime(*args, tzinfo=MOSCOW).astimezone(UTC)

    store_snapshots(
        app,
        team_id,
        {
            moscow(2026, 3, 31, 23, 59): {"RUB": ("1", "0")},
            moscow(2026, 4, 1, 0, 0): {"RUB": ("2", "0")},
            moscow(2026, 4, 3, 23, 59): {"RUB": ("3", "0")},
            moscow(2026, 4, 4, 0, 0): {"RUB": ("4", "0")},
        },
    )
    response = person.get("/balance?range=custom&from=2026-04-01&to=2026-04-03")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert [r[1:] for r in table_rows(html)] == [
        ("3 Apr 2026, 23:59", {"RUB": "3.00"}),
        ("1 Apr 2026, 00:00", {"RUB": "2.00"}),
    ]
    assert 'value="2026-04-01"' in html and 'value="2026-04-03"' in html
    assert "Balance from 1 Apr 2026, 00:00 to 3 Apr 2026, 23:59 (Moscow, UTC+3)" in html
    # The chart spans those days exactly, starting from the reading of the day before.
    assert before_row(html)[1:] == ("31 Mar 2026, 23:59", {"RUB": "1.00"})
    chart = chart_data(html)
    start, end = moscow(2026, 4, 1, 0, 0).timestamp(), moscow(2026, 4, 4, 0, 0).timestamp()
    assert (chart["start"], chart["end"]) == (start, end)
    assert chart["times"] == [start, moscow(2026, 4, 1, 0, 0).timestamp(), end - 60]
    assert chart["series"][0]["values"] == [1.0, 2.0, 3.0]
    # "Refresh now" keeps the range shown.
    assert '<input type="hidden" name="from" value="2026-04-01">' in html


@pytest.mark.parametrize(
    ("query", "field", "error"),
    [
        ("from=2026-04-10&to=2026-04-01", "to", "The last day cannot be before the first day."),
        ("from=2024-01-01&to=2026-04-01", "to", "Choose at most 731 days (two years) at a time."),
        (
            "from=yesterday&to=2026-04-01",
            "from",
            "Enter a real date as YYYY-MM-DD, for example 2026-03-31.",
        ),
        ("from=2026-04-01&to=", "to", "Enter the last day."),
        ("from=1900-01-01&to=1900-01-02", "from", "Enter a date between 2000 and 2100."),
    ],
)
def test_a_bad_custom_range_is_explained_and_the_dates_typed_are_kept(
    app, make_person, query, field, error
):
    person = make_person("ann@example.com")
    store_snapshots(app, team_of_person(app, person), {utcnow(): {"RUB": ("10", "0")}})
    response = person.get(f"/balance?range=custom&{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'<p class="field-error" id="{field}-error">{error}</p>' in html
    # A date input holds a date or nothing: the browser drops anything else, with a warning.
    for name, typed in re.findall(r"(from|to)=([^&]*)", query):
        shown = typed if re.fullmatch(r"\d{4}-\d{2}-\d{2}", typed) else ""
        assert f'name="{name}" type="date" value="{shown}"' in html
    assert "Correct the days above to see the balance over them." in html
    assert "balance-chart-data" not in html
    # The balance now is still shown.
    assert 'data-testid="balance-RUB"' in html


@pytest.mark.parametrize(
    "query", ["from=garbage&to=2026-13-45", "range=day&from=yesterday&to=%3Cb%3E", "to=1.5.2026"]
)
def test_dates_beside_a_range_link_never_reach_the_date_inputs(app, make_person, query):
    person = make_person("ann@example.com")
    store_snapshots(app, team_of_person(app, person), {utcnow(): {"RUB": ("10", "0")}})
    html = person.get(f"/balance?{query}").get_data(as_text=True)
    values = dict(re.findall(r'name="(from|to)" type="date" value="([^"]*)"', html))
    # The range link's own days, in the team's zone, and nothing that is not a date: the last
    # 24 hours, or the last 7 days (today and the six before).
    now = utcnow().astimezone(MOSCOW)
    days = timedelta(days=1) if "range=day" in query else timedelta(days=6)
    assert values == {"from": f"{now - days:%Y-%m-%d}", "to": f"{now:%Y-%m-%d}"}
    assert 'class="field-error"' not in html and "balance-chart-data" in html


def test_refresh_now_reads_the_balance_at_once(app, sandbox, team, make_person):
    viewer = make_person("vera@example.com", team=team.id, role="viewer")
    set_account(sandbox, app, team, balance="321.09")
    response = viewer.post("/balance/refresh", {"range": "day"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    fragment = without_team(response.get_data(as_text=True))
    assert fragment.lstrip().startswith('<div id="balance-live"')
    assert ">321.09<" in fragment
    assert re.search(r'href="/balance\?range=day"[^>]*aria-current="true"', fragment)
    assert [r[1:3] for r in stored(app, team.id)] == [("RUB", Decimal("321.09")), ("SMS", 0)]

    # Without JavaScript: the form posts, the page comes back with the news.
    set_account(sandbox, app, team, balance="300")
    response = viewer.post("/balance/refresh", {"range": "month"})
    assert response.status_code == 303
    assert without_team(response.headers["Location"]) == "/balance?range=month"
    html = viewer.get("/balance?range=month").get_data(as_text=True)
    assert "Balance read just now." in html and ">300.00<" in html


def test_refresh_now_says_what_went_wrong(app, sandbox, team, make_person):
    owner = make_person("olga@example.com", team=team.id, role="owner")
    sandbox.set_faults(http_500=1.0, endpoints=["balance.json"])
    response = owner.post("/balance/refresh", {"range": "week"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert 'data-testid="refresh-failure"' in fragment
    assert "The balance could not be read just now." in fragment
    assert "did not answer properly" in fragment
    assert stored(app, team.id) == []
    response = owner.post("/balance/refresh", {"range": "week"}, follow_redirects=True)
    assert "The balance could not be read: The gateway at" in response.get_data(as_text=True)


# -- the pace -----------------------------------------------------------------------------------


def spend(app, team_id, campaign_id, when, parts, cost):
    with app.app_context():
        usage.record_sent(
            db.session,
            team_id,
            campaign_id,
            when,
            usage.Sent(accepted=parts, parts=parts, cost=Decimal(cost)),
        )
        db.session.commit()


def test_the_pace_is_the_last_seven_days_spending_and_how_long_the_balance_lasts(
    app, sandbox, team, make_person
):
    now = datetime(2026, 5, 8, 12, 7, tzinfo=UTC)
    campaign_id = make_campaign(app, team, 1, state=CampaignState.FINISHED)
    spend(app, team.id, campaign_id, now - timedelta(days=7, minutes=30), 400, "999.00")  # before
    spend(app, team.id, campaign_id, now - timedelta(days=6, hours=23), 140, "350.00")
    spend(app, team.id, campaign_id, now - timedelta(minutes=5), 140, "350.00")
    store_snapshots(app, team.id, {now - timedelta(minutes=1): {"RUB": ("912.34", "100")}})
    with app.app_context():
        found = balance.pace(db.session, db.session.get(Team, team.id), now)
    # 700.00 RUB in 7 days: 100.00 a day; 1,012.34 available lasts 10 whole days.
    assert (found.type, found.spent, found.per_day) == ("RUB", Decimal("700.00"), Decimal("100.00"))
    assert (found.available, found.days_left) == (Decimal("1012.34"), 10)


def test_the_pace_of_an_account_billed_in_sms_counts_parts(app, sandbox, team):
    now = datetime(2026, 5, 8, 12, 0, tzinfo=UTC)
    campaign_id = make_campaign(app, team, 1, state=CampaignState.FINISHED)
    spend(app, team.id, campaign_id, now - timedelta(days=3), 70, "0")
    store_snapshots(
        app,
        team.id,
        {
            now - timedelta(days=30): {"RUB": ("0", "0"), "SMS": ("5060", "10")},
            now: {"RUB": ("0", "0"), "SMS": ("4990", "10")},
        },
    )
    with app.app_context():
        found = balance.pace(db.session, db.session.get(Team, team.id), now)
    assert (found.type, found.per_day, found.days_left) == ("SMS", Decimal("10.00"), 500)


def test_the_pace_of_a_young_account_is_over_the_time_it_has_existed(app, sandbox, team):
    born = datetime(2026, 5, 8, 12, 5, tzinfo=UTC)
    campaign_id = make_campaign(app, team, 1, state=CampaignState.FINISHED)
    store_snapshots(app, team.id, {born: {"RUB": ("1000", "0")}})
    spend(app, team.id, campaign_id, born + timedelta(minutes=10), 148, "371.00")
    store_snapshots(app, team.id, {born + timedelta(minutes=15): {"RUB": ("629", "0")}})

    def pace_at(now):
        with app.app_context():
            return balance.pace(db.session, db.session.get(Team, team.id), now)

    # 371 RUB in its first quarter hour: a day's spending at least, not a seventh of it.
    found = pace_at(born + timedelta(minutes=15))
    assert (found.spent, found.per_day, found.days_left) == (Decimal("371"), Decimal("371"), 1)
    assert found.since == born
    # Three days on, over those three days; the first usage period counts if it is earlier
    # than the first reading.
    spend(app, team.id, campaign_id, born - timedelta(minutes=1), 1, "4.00")  # 12:00-12:15
    found = pace_at(datetime(2026, 5, 11, 12, 0, tzinfo=UTC))
    assert found.since == datetime(2026, 5, 8, 12, 0, tzinfo=UTC)
    assert (found.spent, found.per_day, found.days_left) == (Decimal("375"), Decimal("125"), 5)
    # A week and more: the last seven days, as for any account (the 12:00 quarter hour is
    # older than that by now).
    found = pace_at(datetime(2026, 5, 15, 12, 10, tzinfo=UTC))
    assert (found.since, found.spent, found.per_day) == (None, Decimal("371"), Decimal("53"))


def test_no_spending_has_no_pace_and_an_empty_balance_lasts_no_days(app, sandbox, team):
    now = datetime(2026, 5, 8, 12, 0, tzinfo=UTC)
    with app.app_context():
        row = db.session.get(Team, team.id)
        assert balance.pace(db.session, row, now).available is None
    store_snapshots(app, team.id, {now: {"RUB": ("50", "0")}})
    with app.app_context():
        found = balance.pace(db.session, db.session.get(Team, team.id), now)
        assert (found.per_day, found.days_left) == (Decimal("0.00"), None)
    campaign_id = make_campaign(app, team, 1, state=CampaignState.FINISHED)
    spend(app, team.id, campaign_id, now - timedelta(days=1), 4, "10.00")
    store_snapshots(app, team.id, {now + timedelta(minutes=1): {"RUB": ("-2.50", "0")}})
    with app.app_context():
        found = balance.pace(db.session, db.session.get(Team, team.id), now)
        assert found.days_left == 0


def pace_text(html):
    return " ".join(html.split('data-testid="balance-pace">')[1].split("</p>")[0].split())


def test_the_page_shows_the_pace(app, sandbox, team, make_person):
    person = make_person("pat@example.com", team=team.id, role="viewer")
    now = utcnow()
    campaign_id = make_campaign(app, team, 1, state=CampaignState.FINISHED)
    spend(app, team.id, campaign_id, now - timedelta(days=2), 28, "70.00")
    store_snapshots(app, team.id, {now: {"RUB": ("100", "0")}})
    store_snapshots(app, team.id, {now - timedelta(days=9): {"RUB": ("170", "0")}})
    assert pace_text(person.get("/balance").get_data(as_text=True)) == (
        "Over the last 7 days: RUB 10.00 a day. "
        "<strong>At this pace the balance lasts about 10 days.</strong>"
    )


def test_a_young_accounts_pace_says_since_when(app, sandbox, team, make_person):
    person = make_person("pat@example.com", team=team.id, role="viewer")
    now = utcnow()
    first = now - timedelta(days=2)
    store_snapshots(app, team.id, {first: {"RUB": ("1000", "0")}})
    assert pace_text(person.get("/balance").get_data(as_text=True)) == (
        f"Nothing was spent since {english_time(first, MOSCOW, day=True)}."
    )
    campaign_id = make_campaign(app, team, 1, state=CampaignState.FINISHED)
    spend(app, team.id, campaign_id, now - timedelta(hours=1), 28, "70.00")
    store_snapshots(app, team.id, {now: {"RUB": ("930", "0")}})
    assert pace_text(person.get("/balance").get_data(as_text=True)) == (
        f"Since {english_time(first, MOSCOW, day=True)}: RUB 35.00 a day. "
        "<strong>At this pace the balance lasts about 26 days.</strong>"
    )
    # The home page shows the same partial.
    home = person.get("/").get_data(as_text=True)
    since = english_time(first, MOSCOW, day=True)
    assert pace_text(home).startswith(f"Since {since}: RUB 35.00")


@pytest.fixture
def interval_from_environment(monkeypatch, clean_environment):
    """IQSMS_BALANCE_INTERVAL=60 in the environment of the app made after this."""
    monkeypatch.setenv("IQSMS_BALANCE_INTERVAL", "60")


def test_the_balance_interval_setting_takes_effect(interval_from_environment, app, team):
    """BALANCE_INTERVAL (here from the environment) is how long a snapshot stays fresh, for the
    worker's tick and for "Refresh now" alike."""
    assert job.configured_interval(app) == timedelta(seconds=60)

    def freshness() -> timedelta:
        with app.app_context():
            row = db.session.get(Team, team.id)
            return row.balance_next_at - row.balance_checked_at

    with app.app_context():
        job.run(app)
    assert freshness() == timedelta(seconds=60)
    client = app.test_client()
    assert sign_in(client, "ann@example.com").status_code == 302
    assert post_form(client, "/balance/refresh").status_code == 303
    assert freshness() == timedelta(seconds=60)
