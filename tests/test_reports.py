"""The spending report against hand-computed figures: real campaigns sent through the sandbox
over HTTP with texts of known parts, several senders, two users, across a local midnight (a
fake clock), with their delivery statuses applied. Every grouping's figures are the ones
written here; the totals are the campaigns' costs and what the sandbox charged, to the kopeck.
Estimated costs are marked; the CSV is the page; teams are walled off; periods are read in
the team's zone and bad ones are explained next to the fields."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import unescape

import pytest
import sqlalchemy as sa

from tests.helpers import english_time, team_of, text_of, without_team
from webapp import periods
from webapp.domain import gateways, reports, sending, statuses, usage
from webapp.extensions import db
from webapp.iqsms.parts import analyse
from webapp.models import Campaign, CampaignState, Membership, Message, Team, UsagePeriod, User

HX = {"HX-Request": "true"}
ISO_DAY = re.compile(r"\d{4}-\d\d-\d\d")

# Europe/Moscow is UTC+3: local midnight between 9 and 10 March 2030 is 21:00 UTC.
BEFORE_MIDNIGHT = datetime(2030, 3, 9, 20, 50, tzinfo=UTC)  # 23:50 local, 9 March

# Texts of known parts (the sandbox and we count them by the same rules).
GSM_1 = "Spring sale: 20% off everything today"
GSM_2 = "Long news: " + "our shop moves to a new address next month, " * 4  # 187 chars
UCS_2 = "Привет! " + "Новая коллекция уже в магазине, " * 3  # 104 chars, 2 parts of 67
UCS_1 = "Скидка 10% только сегодня"

PERIOD = "period=custom&from=2030-03-08&to=2030-03-10"


def test_the_texts_have_the_parts_the_figures_assume():
    assert [analyse(t).parts for t in (GSM_1, GSM_2, UCS_2, UCS_1)] == [1, 2, 2, 1]
    assert [analyse(t).encoding for t in (GSM_1, GSM_2, UCS_2, UCS_1)] == [
        "GSM-7",
        "GSM-7",
        "UCS-2",
        "UCS-2",
    ]


# -- helpers -------------------------------------------------------------------------------------


def phones(count: int, first: int = 0) -> list[str]:
    return [f"7916{n:07d}" for n in range(first, first + count)]


def make_campaign(app, team_id, by, name, text, recipients, *, sender=None, price="2.50"):
    """A campaign ready to send, made as the composer makes it, with the team's price."""
    with app.app_context():
        campaign = Campaign(
            team_id=team_id,
            created_by_id=by,
            name=name,
            state=CampaignState.SENDING,
            text=text,
            sender=sender,
            price_per_part=Decimal(price),
            recipients=len(recipients),
            queued=len(recipients),
            started_at=BEFORE_MIDNIGHT,
        )
        db.session.add(campaign)
        db.session.flush()
        if recipients:
            db.session.execute(
                sa.insert(Message),
                [
                    {"team_id": team_id, "campaign_id": campaign.id, "phone": p, "text": text}
                    for p in recipients
                ],
            )
        db.session.commit()
        return campaign.id


def send(app, at: datetime):
    """One dispatch tick at ``at`` (our clock): sends over HTTP to the sandbox."""
    with app.app_context():
        checks = statuses.Checks.from_config(app.config)
        return sending.dispatch_due_messages(
            db.session,
            clock=lambda: at,
            client_factory=gateways.client_factory(app.config),
            checks=checks,
        )


def drain(app):
    with app.app_context():
        return statuses.drain_status_queues(
            db.session, client_factory=gateways.client_factory(app.config)
        )


def deliveries(sandbox, **settings):
    """How the sandbox will treat the messages accepted from now on."""
    sandbox.control("PATCH", "/settings", json=settings)


ALL_DELIVERED = {"delivered_ratio": 1.0, "delivery_error_ratio": 0.0, "smsc_reject_ratio": 0.0}
ALL_FAILED = {"delivered_ratio": 0.0, "delivery_error_ratio": 1.0, "smsc_reject_ratio": 0.0}


def set_team(app, team_id, **values):
    with app.app_context():
        db.session.execute(sa.update(Team).where(Team.id == team_id).values(**values))
        db.session.commit()


def rub_balance(app, team_id) -> Decimal:
    """The sandbox account's RUB balance, read with balance.json over HTTP."""
    with (
        app.app_context(),
        gateways.client_for(app.config, db.session.get(Team, team_id)) as client,
    ):
        entries = client.balance()
    return next(e.balance for e in entries if e.type == "RUB")


def campaign_costs(app, team_id) -> Decimal:
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.sum(Campaign.cost)).where(Campaign.team_id == team_id)
        )


def cells(html: str, testid: str) -> list[list[str]]:
    """The text of every cell of the rows marked ``testid``."""
    rows = re.findall(rf'<tr data-testid="{testid}"[^>]*>(.*?)</tr>', html, re.S)
    return [
        [
            " ".join(unescape(re.sub(r"<[^>]+>", "", cell)).split())
            for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        ]
        for row in rows
    ]


def page(person, query: str) -> tuple[list[list[str]], list[str]]:
    """The report's rows and its totals row, as the page shows them."""
    response = person.get(f"/reports/spending?{query}")
    assert response.status_code == 200, response.text
    return cells(response.text, "report-row"), cells(response.text, "report-total")[0]


def read_csv(person, query: str) -> list[list[str]]:
    response = person.get(f"/reports/spending.csv?{query}")
    assert response.status_code == 200, response.text
    assert response.mimetype == "text/csv"
    body = response.get_data().decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def as_on_page(row: list[str], about: int) -> list[str]:
    """A CSV row as the page shows it: its label cells, then messages, accepted, parts, cost,
    delivered, failed and delivery rate (the CSV adds the estimate columns)."""
    # The page writes a day as people read it (8 Mar 2030), the file as machines do.
    label = [
        english_time(date.fromisoformat(c), day=True) if ISO_DAY.fullmatch(c) else c
        for c in row[:about]
    ]
    messages, accepted, parts, cost, estimated, _parts, _cost, delivered, failed, rate = row[about:]
    cost = ("≈ " if estimated != "no" else "") + cost
    return [*label, messages, accepted, parts, cost, delivered, failed, rate + "%" if rate else "—"]


# -- the scenario --------------------------------------------------------------------------------


@pytest.fixture
def sent(app, sandbox, sandbox_clock, make_person):
    """Ann (owner) and Bob (sender) send five campaigns either side of local midnight:

    | campaign     | by  | sender  | text        | to         | sent (local)      | outcome   |
    | Spring sale  | Ann | MyBrand | GSM-7, 1    | 3 + 1 bad  | 9 March 23:50     | delivered |
    | Long news    | Bob | TEST    | GSM-7, 2    | 2          | 9 March 23:55     | failed    |
    | Midnight     | Bob | MyBrand | GSM-7, 1    | 5          | 3 at 23:58, 2 at 00:02 | delivered |
    | Привет       | Ann | MyBrand | UCS-2, 2    | 4          | 10 March 00:10    | delivered |
    | Без подписи  | Bob | default | UCS-2, 1    | 3          | 10 March 00:20    | on its way |

    at 2.50 a part, with billing details from the gateway.
    """
    app.config["SANDBOX_URL"] = sandbox.base_url
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    bob = make_person("bob@example.com", team=team.id, role="sender")
    before = rub_balance(app, team.id)
    assert before == Decimal("1000.00")

    deliveries(sandbox, **ALL_DELIVERED)
    make_campaign(
        app, team.id, ann.user_id, "Spring sale", GSM_1, [*phones(3), "12345"], sender="MyBrand"
    )
    report = send(app, BEFORE_MIDNIGHT)
    assert (report.accepted, report.rejected) == (3, 1)

    deliveries(sandbox, **ALL_FAILED)
    make_campaign(app, team.id, bob.user_id, "Long news", GSM_2, phones(2, 10), sender="TEST")
    send(app, BEFORE_MIDNIGHT + timedelta(minutes=5))

    # Three messages a second: the first tick sends three, the next (after midnight) the rest.
    deliveries(sandbox, **ALL_DELIVERED)
    set_team(app, team.id, send_rate=3)
    make_campaign(app, team.id, bob.user_id, "Midnight", GSM_1, phones(5, 20), sender="MyBrand")
    assert send(app, BEFORE_MIDNIGHT + timedelta(minutes=8)).accepted == 3
    assert send(app, BEFORE_MIDNIGHT + timedelta(minutes=12)).accepted == 2
    set_team(app, team.id, send_rate=0)

    make_campaign(app, team.id, ann.user_id, "Привет", UCS_2, phones(4, 30), sender="MyBrand")
    send(app, BEFORE_MIDNIGHT + timedelta(minutes=20))

    deliveries(sandbox, deliver_delay=1_000_000.0)  # reaches the operator, never ends
    make_campaign(app, team.id, bob.user_id, "Без подписи", UCS_1, phones(3, 40))
    send(app, BEFORE_MIDNIGHT + timedelta(minutes=30))

    sandbox_clock.advance(60)
    drain(app)
    with app.app_context():
        states = db.session.execute(
            sa.select(Campaign.name, Campaign.state, Campaign.delivered, Campaign.failed)
        ).all()
    assert {tuple(s) for s in states} == {
        ("Spring sale", "finished", 3, 0),
        ("Long news", "finished", 0, 2),
        ("Midnight", "finished", 5, 0),
        ("Привет", "finished", 4, 0),
        ("Без подписи", "finished", 0, 0),
    }
    return {"ann": ann, "bob": bob, "team": team, "before": before}


BY_CAMPAIGN = [
    # campaign, sender, created by | messages, accepted, parts, cost, delivered, failed, rate
    ["Привет", "MyBrand", "ann@example.com", "4", "4", "8", "20.00", "4", "0", "100.0%"],
    ["Midnight", "MyBrand", "bob@example.com", "5", "5", "5", "12.50", "5", "0", "100.0%"],
    ["Long news", "TEST", "bob@example.com", "2", "2", "4", "10.00", "0", "2", "0.0%"],
    # 7.50 each: more messages first (the rejected one counts as a message, not a part).
    ["Spring sale", "MyBrand", "ann@example.com", "4", "3", "3", "7.50", "3", "0", "100.0%"],
    [
        "Без подписи",
        "account default sender",
        "bob@example.com",
        "3",
        "3",
        "3",
        "7.50",
        "0",
        "0",
        "—",
    ],
]
# 18 messages (one rejected), 23 parts x 2.50 = 57.50; 12 delivered of 14 known: 85.7 %.
TOTAL = ["18", "17", "23", "57.50", "12", "2", "85.7%"]

BY_DAY = [
    ["8 Mar 2030", "0", "0", "0", "0.00", "0", "0", "—"],
    # Spring sale (4 messages, 3 parts), Long news (2, 4), Midnight's first 3 (3, 3).
    ["9 Mar 2030", "9", "8", "10", "25.00", "6", "2", "75.0%"],
    # Midnight's last 2 (2, 2), Привет (4, 8), Без подписи (3, 3).
    ["10 Mar 2030", "9", "9", "13", "32.50", "6", "0", "100.0%"],
]

BY_SENDER = [
    ["MyBrand", "13", "12", "16", "40.00", "12", "0", "100.0%"],
    ["TEST", "2", "2", "4", "10.00", "0", "2", "0.0%"],
    ["account default sender", "3", "3", "3", "7.50", "0", "0", "—"],
]

BY_USER = [
    # Long news 10.00 + Midnight 12.50 + Без подписи 7.50; 5 delivered of 7 known.
    ["bob@example.com", "10", "10", "12", "30.00", "5", "2", "71.4%"],
    # Spring sale 7.50 + Привет 20.00.
    ["ann@example.com", "8", "7", "11", "27.50", "7", "0", "100.0%"],
]


@pytest.mark.parametrize(
    ("grouping", "expected"),
    [("campaign", BY_CAMPAIGN), ("day", BY_DAY), ("sender", BY_SENDER), ("user", BY_USER)],
)
def test_every_grouping_has_the_hand_computed_figures(app, sent, grouping, expected):
    rows, total = page(sent["ann"], f"{PERIOD}&by={grouping}")
    assert rows == expected
    assert total[0] == "Total" and total[1:] == TOTAL


def test_the_totals_are_the_campaigns_costs_and_what_the_sandbox_charged(app, sent):
    team_id = sent["team"].id
    with app.app_context():
        team = db.session.get(Team, team_id)
        period = periods.choose(team, BEFORE_MIDNIGHT, "custom", "2030-03-08", "2030-03-10")
        report = reports.spending(db.session, team, period, "day")
    charged = sent["before"] - rub_balance(app, team_id)
    assert report.total.cost == campaign_costs(app, team_id) == charged == Decimal("57.50")
    assert report.total.parts == 23 and not report.total.estimated
    # The UTC instants of the period are the team's midnights.
    assert period.start == datetime(2030, 3, 7, 21, 0, tzinfo=UTC)
    assert period.end == datetime(2030, 3, 10, 21, 0, tzinfo=UTC)


def test_the_page_shows_the_summary_links_and_no_estimate(app, sent):
    html = without_team(sent["ann"].get(f"/reports/spending?{PERIOD}").text)
    assert text_of(html, "summary-cost") == "RUB 57.50"
    assert text_of(html, "summary-parts") == "23"
    assert text_of(html, "summary-rate") == "85.7%"
    assert text_of(html, "period").startswith("8 Mar 2030 to 10 Mar 2030")
    assert 'data-testid="estimated"' not in html and 'data-testid="estimate-note"' not in html
    with app.app_context():
        hello = db.session.scalar(sa.select(Campaign.id).where(Campaign.name == "Привет"))
    assert f'<a href="/campaigns/{hello}">Привет</a>' in html


@pytest.mark.parametrize("grouping", ["campaign", "day", "sender", "user"])
def test_the_csv_is_the_page(app, sent, grouping):
    rows, total = page(sent["ann"], f"{PERIOD}&by={grouping}")
    table = read_csv(sent["ann"], f"{PERIOD}&by={grouping}")
    about = 3 if grouping == "campaign" else 1
    header, body, last = table[0], table[1:-1], table[-1]
    assert header[about:] == [
        "Messages",
        "Accepted",
        "Parts",
        "Cost, RUB",
        "Estimated",
        "Estimated parts",
        "Estimated cost, RUB",
        "Delivered",
        "Failed",
        "Delivery rate, %",
    ]
    assert [as_on_page(r, about) for r in body] == rows
    assert last[:about] == ["Total"] + [""] * (about - 1)
    assert as_on_page(last, about)[about:] == total[1:]
    assert {r[about + 4] for r in body} == {"no"}


def test_people_who_left_or_were_deleted_still_count(app, sent):
    ann, bob = sent["ann"], sent["bob"]
    with app.app_context():
        db.session.execute(sa.delete(Membership).where(Membership.user_id == bob.user_id))
        db.session.commit()
    rows, _ = page(ann, f"{PERIOD}&by=user")
    assert [r[0] for r in rows] == ["bob@example.com", "ann@example.com"]
    with app.app_context():
        db.session.delete(db.session.get(User, bob.user_id))
        db.session.commit()
    rows, total = page(ann, f"{PERIOD}&by=user")
    assert rows == [["deleted user", *BY_USER[0][1:]], BY_USER[1]]
    assert total[1:] == TOTAL
    rows, _ = page(ann, f"{PERIOD}&by=campaign")
    assert [r[2] for r in rows] == [
        "ann@example.com",
        "deleted user",
        "deleted user",
        "ann@example.com",
        "deleted user",
    ]


def test_another_teams_usage_never_appears(app, sandbox, sent, make_person):
    carl = make_person("carl@example.com")
    carls = team_of(app, carl)
    make_campaign(app, carls.id, carl.user_id, "Carl's", UCS_2, phones(7), sender="MyBrand")
    send(app, BEFORE_MIDNIGHT + timedelta(minutes=40))
    for grouping, expected in [("campaign", BY_CAMPAIGN), ("day", BY_DAY), ("user", BY_USER)]:
        rows, total = page(sent["ann"], f"{PERIOD}&by={grouping}")
        assert rows == expected and total[1:] == TOTAL
    rows, total = page(carl, f"{PERIOD}&by=campaign")
    assert rows == [
        ["Carl's", "MyBrand", "carl@example.com", "7", "7", "14", "35.00", "0", "0", "—"]
    ]
    assert "Привет" not in read_csv(carl, f"{PERIOD}&by=campaign")[1][0]
    assert len(read_csv(carl, f"{PERIOD}&by=campaign")) == 3  # header, Carl's, total


# -- estimated costs -----------------------------------------------------------------------------


def test_without_billing_details_the_cost_is_estimated_and_marked(
    app, sandbox, sandbox_clock, make_person
):
    app.config["SANDBOX_URL"] = sandbox.base_url
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    before = rub_balance(app, team.id)

    sandbox.control("PATCH", "/settings", json={"billing_details": False})
    make_campaign(app, team.id, ann.user_id, "No details", UCS_2, phones(3), sender="MyBrand")
    send(app, BEFORE_MIDNIGHT)
    sandbox.control("PATCH", "/settings", json={"billing_details": True})
    make_campaign(app, team.id, ann.user_id, "Details", GSM_1, phones(2, 10), sender="MyBrand")
    send(app, BEFORE_MIDNIGHT + timedelta(minutes=1))

    with app.app_context():
        usage = {
            name: (parts, cost, estimated_parts, estimated_cost)
            for name, parts, cost, estimated_parts, estimated_cost in db.session.execute(
                sa.select(
                    Campaign.name,
                    UsagePeriod.parts,
                    UsagePeriod.cost,
                    UsagePeriod.estimated_parts,
                    UsagePeriod.estimated_cost,
                ).join(Campaign, Campaign.id == UsagePeriod.campaign_id)
            )
        }
    # 3 messages x 2 parts (counted by us) x 2.50 (the team's price): all estimated.
    assert usage["No details"] == (6, Decimal("15.00"), 6, Decimal("15.00"))
    assert usage["Details"] == (2, Decimal("5.00"), 0, Decimal("0.00"))
    # Our price is the sandbox's, so the estimate is what it charged.
    assert before - rub_balance(app, team.id) == Decimal("20.00")

    query = "period=custom&from=2030-03-09&to=2030-03-09"
    html = ann.get(f"/reports/spending?{query}&by=campaign").text
    rows = cells(html, "report-row")
    assert [r[0] for r in rows] == ["No details", "Details"]
    assert [r[6] for r in rows] == ["≈ 15.00", "5.00"]
    assert cells(html, "report-total")[0][4] == "≈ 20.00"
    note = text_of(html, "estimate-note")
    assert note == (
        "≈ RUB 15.00 for 6 parts estimated at the team’s price per part (RUB 2.50) because "
        "the gateway did not report the cost."
    )
    assert text_of(html, "summary-cost") == "≈ RUB 20.00"
    # The day holds both: partly estimated, and the mark says how much.
    html = ann.get(f"/reports/spending?{query}&by=day").text
    assert cells(html, "report-row")[0][4] == "≈ 20.00"
    assert "Partly estimated: 6 of 8 parts." in html

    table = read_csv(ann, f"{query}&by=campaign")
    assert [r[:1] + r[6:10] for r in table[1:]] == [
        ["No details", "15.00", "yes", "6", "15.00"],
        ["Details", "5.00", "no", "0", "0.00"],
        ["Total", "20.00", "partly", "6", "15.00"],
    ]


def test_the_note_names_each_price_the_estimates_used(app, sandbox, make_person):
    app.config["SANDBOX_URL"] = sandbox.base_url
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    sandbox.control("PATCH", "/settings", json={"billing_details": False})
    make_campaign(app, team.id, ann.user_id, "Old price", GSM_1, phones(2), price="2.40")
    make_campaign(app, team.id, ann.user_id, "New price", GSM_1, phones(2, 10), price="2.50")
    send(app, BEFORE_MIDNIGHT)
    html = ann.get("/reports/spending?period=custom&from=2030-03-09&to=2030-03-09").text
    assert [r[6] for r in cells(html, "report-row")] == ["≈ 5.00", "≈ 4.80"]
    assert "(RUB 2.40, RUB 2.50)" in text_of(html, "estimate-note")


# -- periods -------------------------------------------------------------------------------------

# 21:30 UTC on 10 March is 00:30 on 11 March in Moscow: "today" is the 11th there.
NOW = datetime(2030, 3, 10, 21, 30, tzinfo=UTC)


def moscow(**values) -> Team:
    return Team(name="T", timezone="Europe/Moscow", **values)


def test_days_are_cut_where_the_offset_changes():
    berlin = Team(name="T", timezone="Europe/Berlin")
    period = periods.choose(berlin, NOW, "custom", "2030-03-29", "2030-04-01")
    assert reports.day_runs(berlin, period) == [
        (datetime(2030, 3, 30, 23, tzinfo=UTC), 60),  # 29 and 30 March, UTC+1
        (datetime(2030, 3, 31, 22, tzinfo=UTC), date(2030, 3, 31)),  # 23 hours long
        (datetime(2030, 4, 1, 22, tzinfo=UTC), 120),  # 1 April, UTC+2
    ]
    period = periods.choose(moscow(), NOW, "custom", "2029-01-01", "2030-12-31")
    assert reports.day_runs(moscow(), period) == [(datetime(2030, 12, 31, 21, tzinfo=UTC), 180)]


def add_usage(app, team_id, campaign_id, *starts: datetime) -> None:
    """One message of one part at 1.00 sent in each quarter hour of ``starts``, recorded as
    dispatch records it."""
    with app.app_context():
        for start in starts:
            sent = usage.Sent(accepted=1, parts=1, cost=Decimal("1.00"))
            usage.record_sent(db.session, team_id, campaign_id, start, sent)
        db.session.commit()


@pytest.mark.parametrize(
    ("zone", "starts", "days"),
    [
        # Summer time begins on 31 March 2030 in Berlin: that day is 23 hours long.
        (
            "Europe/Berlin",
            ["2030-03-30 22:45", "2030-03-30 23:00", "2030-03-31 21:45", "2030-03-31 22:00"],
            {"2030-03-30": 1, "2030-03-31": 2, "2030-04-01": 1},
        ),
        # Kathmandu is UTC+5:45: its midnight is a quarter past the hour in UTC.
        (
            "Asia/Kathmandu",
            ["2030-03-30 18:00", "2030-03-30 18:15", "2030-03-31 18:00", "2030-03-31 18:15"],
            {"2030-03-30": 1, "2030-03-31": 2, "2030-04-01": 1},
        ),
    ],
)
def test_days_follow_the_teams_zone_and_its_clock_changes(app, make_person, zone, starts, days):
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    set_team(app, team.id, timezone=zone)
    campaign_id = make_campaign(app, team.id, ann.user_id, "C", GSM_1, [])
    add_usage(
        app,
        team.id,
        campaign_id,
        *(datetime.fromisoformat(s).replace(tzinfo=UTC) for s in starts),
    )
    rows, total = page(ann, "period=custom&from=2030-03-29&to=2030-04-01&by=day")
    shown = {english_time(date.fromisoformat(d), day=True): n for d, n in days.items()}
    assert {r[0]: int(r[1]) for r in rows} == {"29 Mar 2030": 0, **shown}
    assert total[4] == "4.00"
    # One day alone: from its own midnight (a quarter hour starting then is in) up to the
    # next (one starting then is out), not UTC's.
    rows, total = page(ann, "period=custom&from=2030-03-31&to=2030-03-31&by=day")
    assert rows == [["31 Mar 2030", "2", "2", "2", "2.00", "0", "0", "—"]]


# -- the page: links, htmx, errors ---------------------------------------------------------------


def test_links_work_without_javascript_and_htmx_swaps_the_same_region(app, make_person):
    ann = make_person("ann@example.com")
    full = ann.get("/reports/spending?period=last-month&by=day")
    full_text = without_team(full.text)
    assert full.status_code == 200 and "<html" in full.text
    assert 'id="spending-report"' in full.text and 'hx-push-url="true"' in full.text
    links = re.findall(r'<a href="([^"]+)" hx-get="([^"]+)"', full_text)
    hrefs = {unescape(href) for href, hx_get in links if href == hx_get}
    assert "/reports/spending?period=today&by=day" in hrefs
    assert "/reports/spending?by=sender&period=last-month" in hrefs
    assert 'method="get" action="/reports/spending"' in full_text
    fragment = ann.get("/reports/spending?period=last-month&by=day", headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert fragment.text.lstrip().startswith('<div id="spending-report"')
    assert "Vary" in fragment.headers and "HX-Request" in fragment.headers["Vary"]
    # A history restore (a pushed URL opened again) gets the whole page.
    restore = ann.get(
        "/reports/spending?period=last-month&by=day",
        headers={**HX, "HX-History-Restore-Request": "true"},
    )
    assert "<html" in restore.text
    # The chosen preset and grouping are marked; the date fields show the preset's days.
    assert re.search(r'aria-current="page">Last month<', full.text)
    assert re.search(r'aria-current="page">By day<', full.text)
    assert re.search(r'name="from" type="date" value="\d{4}-\d\d-01"', full.text)


@pytest.mark.parametrize(
    ("typed", "field", "message"),
    [
        (("2030-03-10", "2030-03-09"), "to", "The last day cannot be before the first day."),
        (("2030-02-30", "2030-03-09"), "from", "Enter a real date as YYYY-MM-DD"),
        (("2026-01-01", "2029-01-01"), "to", "Choose at most 731 days (two years) at a time."),
        (("", "2030-03-09"), "from", "Enter the first day."),
        (("2030-03-01", "2101-01-01"), "to", "Enter a date between 2000 and 2100."),
    ],
)
def test_a_bad_period_is_explained_next_to_its_field_and_kept(
    app, make_person, typed, field, message
):
    ann = make_person("ann@example.com")
    query = f"period=custom&from={typed[0]}&to={typed[1]}&by=sender"
    response = ann.get(f"/reports/spending?{query}")
    assert response.status_code == 400
    assert text_of(response.text, f"period-{field}-error").startswith(message)
    for name, value in zip(("from", "to"), typed, strict=True):
        assert re.search(rf'name="{name}" type="(date|text)" value="{value}"', response.text)
    assert f'id="report-{field}" name="{field}" type="' in response.text
    assert 'data-testid="report"' not in response.text
    # htmx swaps only 2xx answers: the fragment says the same with 200.
    fragment = ann.get(f"/reports/spending?{query}", headers=HX)
    assert fragment.status_code == 200
    assert text_of(fragment.text, f"period-{field}-error").startswith(message)
    exported = ann.get(f"/reports/spending.csv?{query}")
    assert exported.status_code == 400 and message in exported.text


def test_a_mistyped_date_stays_as_typed_in_a_text_field(app, make_person):
    ann = make_person("ann@example.com")
    html = ann.get("/reports/spending?period=custom&from=9.3.2030&to=2030-03-10").text
    assert 'name="from" type="text" value="9.3.2030"' in html
    assert 'name="to" type="date" value="2030-03-10"' in html


def test_an_empty_period_says_so_and_days_are_zero(app, make_person):
    ann = make_person("ann@example.com")
    html = ann.get("/reports/spending?period=custom&from=2030-03-01&to=2030-03-03").text
    assert text_of(html, "no-spending") == "Nothing was sent in this period."
    rows, total = page(ann, "period=custom&from=2030-03-01&to=2030-03-03&by=day")
    assert [r[0] for r in rows] == ["1 Mar 2030", "2 Mar 2030", "3 Mar 2030"]
    assert total[1:] == ["0", "0", "0", "0.00", "0", "0", "—"]


def test_names_that_look_like_formulas_are_plain_text_in_the_csv(app, make_person):
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    campaign_id = make_campaign(app, team.id, ann.user_id, "=HYPERLINK(1)", GSM_1, [])
    add_usage(app, team.id, campaign_id, datetime(2030, 3, 9, 12, tzinfo=UTC))
    table = read_csv(ann, "period=custom&from=2030-03-09&to=2030-03-09&by=campaign")
    assert table[1][:3] == ["'=HYPERLINK(1)", "account default sender", "ann@example.com"]
    response = ann.get("/reports/spending.csv?period=custom&from=2030-03-09&to=2030-03-09")
    assert (
        response.headers["Content-Disposition"]
        == 'attachment; filename="spending-by-campaign-2030-03-09-2030-03-09.csv"'
    )
