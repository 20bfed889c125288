"""The team's home page: balance and its change, today's and this month's messages and
delivery rate, campaigns sending now (polled, then 286), what spent most, the last failures with
their reasons, and sender names awaiting approval. Figures are checked against the sandbox's
own balance and a real count of the messages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape

import sqlalchemy as sa
from flask import Flask

from tests.helpers import make_campaign, sandbox_login, sign_in, states, tick
from tests.helpers import text_of as text_by_testid
from webapp.domain import gateways, home, statuses
from webapp.extensions import db
from webapp.jobs import balance as balance_job
from webapp.models import (
    Campaign,
    CampaignState,
    Message,
    MessageState,
    SenderName,
    Team,
    UsagePeriod,
    utcnow,
)

HX = {"HX-Request": "true"}
DAY = r"\d{1,2} \w{3} \d{4}"  # a day as an English page writes it: 1 Dec 2026
DAY_TIME = rf"{DAY}, \d\d:\d\d"


def snapshot(app: Flask) -> dict[int, str]:
    with app.app_context():
        interval = balance_job.configured_interval(app)
        factory = gateways.client_factory(app.config)
        return balance_job.snapshot_due_teams(db.session, utcnow, factory, interval)


def sandbox_balance(app: Flask, team: Team) -> Decimal:
    """The RUB balance as the sandbox itself reports it, over HTTP."""
    with (
        app.app_context(),
        gateways.client_for(app.config, db.session.get(Team, team.id)) as client,
    ):
        return next(b.balance for b in client.balance() if b.type == "RUB")


def text_of(response) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))


def section(page: str, testid: str) -> str:
    """The text of the element marked ``data-testid=testid`` (up to its section's end)."""
    match = re.search(rf'data-testid="{testid}".*?</(section|table)>', page, re.S)
    assert match, testid
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", match.group(0))))


def test_home_shows_what_is_left_what_it_cost_and_what_failed(app, sandbox, sandbox_clock, team):
    phones = [f"7916{i:07d}" for i in range(38)] + ["12345", "7"]  # two the gateway rejects
    campaign_id = make_campaign(app, team, 40, text="Hello {n}", phones=phones)
    snapshot(app)  # the balance before
    tick(app)
    sandbox_clock.advance(60)
    with app.app_context():
        statuses.drain_status_queues(db.session, client_factory=gateways.client_factory(app.config))
    assert snapshot(app) == {}  # due again: the campaign finished since the last read

    counted = states(app, campaign_id)
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign.state == CampaignState.FINISHED
        cost = campaign.cost
    assert counted[MessageState.REJECTED] == 2
    assert cost == Decimal("2.50") * 38  # one part each, at the sandbox's 2.50
    left = sandbox_balance(app, team)
    assert left == Decimal("1000.00") - cost  # what the sandbox charged, to the kopeck

    owner = client_for_owner(app, team)
    page = owner.get("/").get_data(as_text=True)
    balance_text = section(page, "home-balance")
    assert f"RUB {left:,.2f}" in balance_text
    # No reading is a day old: the change is since the first one, taken before sending.
    assert re.search(rf"RUB\s{cost:,.2f} less than on {DAY} at \d\d:\d\d", balance_text)
    # A day's history at most: the pace is what it spent, a day (not a seventh of it).
    assert re.search(rf"Since {DAY}: RUB {cost:,.2f} a day\.", balance_text)
    assert f"lasts about {int(left // cost)} days" in balance_text
    delivered, failed = counted.get(MessageState.DELIVERED, 0), counted.get(MessageState.FAILED, 0)
    rate = f"{100 * delivered / (delivered + failed):.1f}%"
    for testid in ("home-today", "home-month"):
        figures = section(page, testid)
        assert "40 messages" in figures
        assert f"38 parts, RUB {cost:,.2f}" in figures
        assert rate in figures
        assert f"{delivered} delivered, {failed} failed, 2 rejected" in figures
    top = section(page, "home-top-campaigns")
    assert f"Test 40 38 {cost:,.2f} 100%" in top
    failures = section(page, "home-failures")
    assert "+12345" in failures and "the number is malformed (invalid mobile phone)" in failures
    assert failures.count("rejected") >= 2
    assert 'data-testid="home-nothing-running"' in page


def client_for_owner(app: Flask, team: Team):
    """A client signed in as the person who made ``team`` (ann@, the ``team`` fixture)."""
    client = app.test_client()
    assert sign_in(client, "ann@example.com").status_code == 302
    return client


def test_the_day_before_yesterday_balance_shows_the_change(app, sandbox, team):
    snapshot(app)
    with app.app_context():
        from webapp.models import BalanceSnapshot

        db.session.execute(
            sa.update(BalanceSnapshot)
            .where(BalanceSnapshot.team_id == team.id)
            .values(taken_at=utcnow() - timedelta(days=2))
        )
        stored = db.session.get(Team, team.id)
        stored.balance_next_at = None
        db.session.commit()
    sandbox.control("PATCH", f"/accounts/{sandbox_login(app, team)}", json={"balance": "812.50"})
    snapshot(app)
    page = client_for_owner(app, team).get("/").get_data(as_text=True)
    text = section(page, "home-balance")
    assert "RUB 812.50" in text and "187.50 less than 24 hours ago" in text
    # The week as a line: two days ago at the top (1,000.00), now at the bottom (812.50).
    trend = re.search(r'<svg class="sparkline".*?</svg>', page, re.S).group(0)
    assert re.search(rf"RUB since {DAY_TIME}: from 1,000.00 to 812.50", unescape(trend))
    xy = re.search(r'points="([^"]+)"', trend).group(1).split()
    (x1, y1), (x2, y2) = (tuple(map(float, p.split(","))) for p in xy)
    assert x1 == 0.0 and x2 > 239 and (y1, y2) == (2.0, 46.0)


def test_a_running_campaign_is_shown_live_until_it_is_over(app, sandbox, sandbox_clock, team):
    campaign_id = make_campaign(app, team, 30)
    owner = client_for_owner(app, team)
    page = owner.get("/").get_data(as_text=True)
    running = section(page, "home-running")
    assert "0 of 30 settled: 0 delivered, 30 queued" in running
    assert 'id="dashboard"' in page and "data-live-poll" in page
    fragment = owner.get("/", headers=HX)
    assert fragment.status_code == 200
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith("{#") is False and 'id="dashboard"' in body
    assert "<html" not in body and "data-live-poll" in body
    tick(app)
    assert states(app, campaign_id) == {MessageState.ACCEPTED: 30}
    # Finished sending; its delivery reports are still to come.
    delivering = owner.get("/", headers=HX)
    assert delivering.status_code == 200
    assert "0 of 30 settled: 0 delivered, 30 on their way" in text_of(delivering)
    assert "sent, awaiting reports" in text_of(delivering)
    sandbox_clock.advance(60)
    with app.app_context():
        statuses.drain_status_queues(db.session, client_factory=gateways.client_factory(app.config))
    # Every report in, but its cost is not in the balance shown yet: the page waits for it.
    waiting = owner.get("/", headers=HX)
    assert waiting.status_code == 200 and "data-live-poll" in waiting.get_data(as_text=True)
    assert "Nothing is running now." in text_of(waiting)
    assert snapshot(app) == {}
    done = owner.get("/", headers=HX)
    assert done.status_code == 286  # nothing sending, the balance read: the poll stops
    assert "RUB 925.00" in text_of(done)
    assert "data-live-poll" not in done.get_data(as_text=True)
    assert "Nothing is running now." in text_of(done)


def test_polling_slows_down_while_nothing_changes(app, team):
    make_campaign(app, team, 3, state=CampaignState.PAUSED, pause_reason="Top up, then resume.")
    owner = client_for_owner(app, team)
    page = owner.get("/").get_data(as_text=True)
    assert "Top up, then resume." in page
    url = unescape(re.search(r'hx-get="([^"]+)"', page).group(1))
    assert "wait=2" in url
    for expected in ("wait=4", "wait=8", "wait=10", "wait=10"):
        body = owner.get(url, headers=HX).get_data(as_text=True)
        url = unescape(re.search(r'hx-get="([^"]+)"', body).group(1))
        assert expected in url


def test_today_and_this_month_are_counted_in_the_team_zone(app, team):
    """Moscow is UTC+3: 21:05 UTC on the 30th is already the 1st there."""
    now = datetime(2026, 11, 30, 21, 20, tzinfo=UTC)  # 2026-12-01 00:20 in Moscow
    campaign_id = make_campaign(app, team, 1)

    def period(at: datetime, accepted: int, delivered: int, failed: int) -> dict:
        return {
            "team_id": team.id,
            "campaign_id": campaign_id,
            "period_start": at,
            "accepted": accepted,
            "rejected": 0,
            "parts": accepted,
            "cost": Decimal("2.50") * accepted,
            "estimated_parts": 0,
            "estimated_cost": Decimal(0),
            "delivered": delivered,
            "failed": failed,
        }

    with app.app_context():
        db.session.execute(
            sa.insert(UsagePeriod),
            [
                period(datetime(2026, 11, 1, 6, 0, tzinfo=UTC), 100, 90, 10),  # November
                period(datetime(2026, 11, 30, 20, 45, tzinfo=UTC), 10, 10, 0),  # 23:45 Moscow
                period(datetime(2026, 11, 30, 21, 0, tzinfo=UTC), 4, 3, 1),  # 00:00 Moscow
                period(datetime(2026, 11, 30, 21, 15, tzinfo=UTC), 6, 3, 0),  # 00:15 Moscow
            ],
        )
        db.session.commit()
        overview = home.overview(db.session, db.session.get(Team, team.id), now)
    assert (overview.today.messages, overview.today.delivered, overview.today.failed) == (10, 6, 1)
    assert overview.today.cost == Decimal("25.00")
    assert round(overview.today.delivery_rate, 1) == 85.7
    # December began at 00:00 Moscow time: the same ten messages.
    assert overview.month.messages == 10
    assert [(t.campaign.id, t.share) for t in overview.top_campaigns] == [(campaign_id, 100.0)]


def test_a_share_of_this_month_never_passes_the_whole(app, team, monkeypatch):
    """The worker records what a sending campaign spends between the home page's reads: the
    share is taken against the total of the same statement, never one read a moment before."""
    campaign_id = make_campaign(app, team, 1)

    def spend(accepted: int) -> None:
        db.session.execute(
            sa.insert(UsagePeriod),
            [
                {
                    "team_id": team.id,
                    "campaign_id": campaign_id,
                    "period_start": utcnow() - timedelta(seconds=accepted),
                    "accepted": accepted,
                    "rejected": 0,
                    "parts": accepted,
                    "cost": Decimal("2.50") * accepted,
                    "estimated_parts": 0,
                    "estimated_cost": Decimal(0),
                    "delivered": 0,
                    "failed": 0,
                }
            ],
        )
        db.session.commit()

    read_top = home.top_campaigns

    def worker_sends_meanwhile(*args, **kwargs):
        spend(24)  # after the month's total was read: 20 then, 44 now
        return read_top(*args, **kwargs)

    monkeypatch.setattr(home, "top_campaigns", worker_sends_meanwhile)
    with app.app_context():
        spend(20)
        overview = home.overview(db.session, db.session.get(Team, team.id), utcnow())
    assert overview.month.cost == Decimal("50.00")
    [top] = overview.top_campaigns
    assert (top.totals.cost, top.share) == (Decimal("110.00"), 100.0)


def test_sender_names_awaiting_approval_are_listed(app, team):
    with app.app_context():
        db.session.add_all(
            [
                SenderName(team_id=team.id, name="NewShop", status="pending", info="in review"),
                SenderName(team_id=team.id, name="Fresh", status="new"),
                SenderName(team_id=team.id, name="MyBrand", status="active"),
            ]
        )
        db.session.commit()
    page = client_for_owner(app, team).get("/").get_data(as_text=True)
    awaiting = section(page, "home-awaiting")
    assert "NewShop" in awaiting and "in review" in awaiting and "Fresh" in awaiting
    assert "MyBrand" not in awaiting


def test_the_last_failures_come_newest_first_with_reasons(app, team):
    campaign_id = make_campaign(app, team, 3)
    base = utcnow() - timedelta(minutes=10)
    with app.app_context():
        ids = db.session.scalars(
            sa.select(Message.id).where(Message.campaign_id == campaign_id).order_by(Message.id)
        ).all()
        changes = [
            (MessageState.FAILED, "delivery error", base + timedelta(minutes=1)),
            (MessageState.FAILED, "smsc reject", base + timedelta(minutes=5)),
            (MessageState.UNKNOWN, "timeout", None),
        ]
        for message_id, (state, status, final_at) in zip(ids, changes, strict=True):
            db.session.execute(
                sa.update(Message)
                .where(Message.id == message_id)
                .values(state=state, gateway_status=status, final_at=final_at, updated_at=base)
            )
        db.session.execute(
            sa.update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(queued=0, failed=2, unknown=1)
        )
        db.session.commit()
        failures = home.last_failures(db.session, team.id)
    assert [f.reason for f in failures] == [
        "refused by the operator (smsc reject)",
        "the phone was unreachable until it expired (delivery error)",
        "no answer from the gateway (timeout): it may have been sent, so it was not retried",
    ]


def test_a_failed_balance_reading_is_said_on_the_home_page(app, sandbox, team):
    sandbox.set_faults(http_500=1.0, endpoints=["balance.json"])
    failures = snapshot(app)
    assert list(failures) == [team.id]
    text = section(client_for_owner(app, team).get("/").get_data(as_text=True), "home-balance")
    assert "Not read yet" in text
    assert "The last reading failed: The gateway at" in text and "did not answer properly" in text


def test_the_delivery_rate_is_the_same_on_the_campaign_page_home_and_the_report(
    app, sandbox, sandbox_clock, team
):
    """One definition: delivered out of the messages the gateway said delivered or failed. An
    expired message went without a status too long; a late one still settles it, so it counts
    on no side (the campaign page counted it as failed, home and the report did not)."""
    sandbox.control(
        "PATCH", "/settings", json={"delivered_ratio": 0.6, "delivery_error_ratio": 0.4}
    )
    campaign_id = make_campaign(app, team, 40)
    tick(app)
    sandbox_clock.advance(3.5)  # about half the reports are due: the others never come
    with app.app_context():
        statuses.drain_status_queues(db.session, client_factory=gateways.client_factory(app.config))
        statuses.expire_messages(db.session, utcnow() + timedelta(hours=73), timedelta(hours=72))
    counted = states(app, campaign_id)
    delivered, failed = counted[MessageState.DELIVERED], counted[MessageState.FAILED]
    assert counted[MessageState.EXPIRED] and delivered and failed
    rate = f"{100 * delivered / (delivered + failed):.1f}%"

    owner = client_for_owner(app, team)
    campaign_page = owner.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    home_page = owner.get("/").get_data(as_text=True)
    report = owner.get("/reports/spending?period=today").get_data(as_text=True)
    assert text_by_testid(campaign_page, "delivery-rate") == rate
    assert text_by_testid(home_page, "home-today-rate") == rate
    assert text_by_testid(report, "summary-rate") == rate
