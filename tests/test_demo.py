"""`flask demo`: a team with a month of history on the sandbox, as the pages show it, every
counter equal to the rows it counts; a second run refuses, and --reset makes it anew."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from decimal import Decimal
from html import unescape
from itertools import pairwise

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from tests.helpers import PASSWORD, assert_counters_match, sign_in, states
from webapp.demo.story import EN, RU
from webapp.extensions import db
from webapp.iqsms.parts import count_parts
from webapp.models import (
    AuditEvent,
    BalanceSnapshot,
    Campaign,
    CampaignState,
    Message,
    MessageState,
    Notification,
    Team,
    User,
    utcnow,
)

EMAIL = "demo@example.com"


@pytest.fixture
def demo_app(app, sandbox):
    """The app on the ``sandbox`` fixture's gateway, where `flask demo` finds it running."""
    app.config["SANDBOX_URL"] = sandbox.base_url
    return app


def run_demo(app, *args: str):
    return app.test_cli_runner().invoke(args=["demo", "--password", PASSWORD, *args])


def signed_in(app) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, EMAIL).status_code == 302
    return client


def row_of(html: str, name: str) -> str:
    """The campaigns table's row of ``name``, as text."""
    row = rf'<tr data-campaign-id="\d+">\s*<td><a [^>]*>{re.escape(name)}</a>.*?</tr>'
    found = re.search(row, html, re.S)
    assert found, f"no row for {name}"
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", found.group(0))).split())


def team_rows(app):
    with app.app_context():
        team = db.session.scalar(sa.select(Team))
        campaigns = db.session.scalars(
            sa.select(Campaign).where(Campaign.team_id == team.id).order_by(Campaign.id)
        ).all()
        db.session.expunge_all()
        return team, campaigns


def test_a_month_of_history_as_the_pages_show_it(demo_app, sandbox):
    done = run_demo(demo_app)
    assert done.exit_code == 0, done.output
    assert f"Sign in as {EMAIL} with the password {PASSWORD}" in done.output
    team, campaigns = team_rows(demo_app)
    assert team.name == RU.team
    by_state = {c.name: c.state for c in campaigns}
    finished = [c for c in campaigns if c.state == CampaignState.FINISHED]
    assert [c.name for c in finished] == [spec.name for spec in RU.past]
    assert by_state[RU.live.name] == CampaignState.SCHEDULED  # sent now: the worker sends it
    assert by_state[RU.scheduled.name] == CampaignState.SCHEDULED
    assert by_state[RU.draft[0]] == CampaignState.DRAFT
    for campaign in campaigns:
        assert_counters_match(demo_app, campaign.id)

    # The campaigns list: each finished campaign with what its rows say, at the month's times.
    client = signed_in(demo_app)
    html = client.get("/campaigns").get_data(as_text=True)
    month_ago = utcnow() - timedelta(days=31)
    for campaign in finished:
        counted = states(demo_app, campaign.id)
        row = row_of(html, campaign.name)
        assert f" {sum(counted.values()):,} " in row
        assert f"{counted[MessageState.DELIVERED]:,} delivered" in row
        undelivered = counted.get(MessageState.FAILED, 0) + counted.get(MessageState.UNKNOWN, 0)
        assert f"{undelivered:,} not delivered" in row
        assert month_ago < campaign.started_at < campaign.finished_at < utcnow() - timedelta(days=2)
        assert campaign.cost == campaign.parts * Decimal("2.50") > 0
    outcomes = [states(demo_app, c.id) for c in finished]
    assert all(o[MessageState.DELIVERED] > 0.85 * sum(o.values()) for o in outcomes)
    assert sum(o.get(MessageState.FAILED, 0) for o in outcomes) > 0
    assert 0 < sum(o.get(MessageState.UNKNOWN, 0) for o in outcomes) <= 10  # one lost reply

    # The balance: a month of readings, falling as campaigns spent, up once with the top-up,
    # ending where the sandbox account stands now.
    html = client.get("/balance?range=month").get_data(as_text=True)
    table = html.split('data-testid="balance-table"')[1].split("</table>")[0]
    times = [datetime.fromisoformat(t) for t in re.findall(r'<time datetime="([^"]+)"', table)]
    assert min(times) < utcnow() - timedelta(days=29) and max(times) > utcnow() - timedelta(hours=1)
    chart = json.loads(html.split('id="balance-chart-data">')[1].split("</script>")[0])
    assert chart, "the chart has its points"
    with demo_app.app_context():
        rub = db.session.scalars(
            sa.select(BalanceSnapshot.balance)
            .where(BalanceSnapshot.team_id == team.id, BalanceSnapshot.type == "RUB")
            .order_by(BalanceSnapshot.taken_at)
        ).all()
        spent = db.session.scalar(
            sa.select(sa.func.sum(Message.cost)).where(Message.team_id == team.id)
        )
        # The reply of one call was lost: the gateway took (and charged) what we hold unknown.
        unknown = db.session.scalars(
            sa.select(Message.text).where(
                Message.team_id == team.id, Message.state == MessageState.UNKNOWN
            )
        ).all()
    steps = [b - a for a, b in pairwise(rub) if b != a]
    assert [s for s in steps if s > 0] == [Decimal("10000.00")]
    assert sum(1 for s in steps if s < 0) == len(RU.past)
    lost = sum(count_parts(text) for text in unknown) * Decimal("2.50")
    assert rub[-1] == Decimal("1000.00") + Decimal("10000.00") - spent - lost
    account = sandbox.control("GET", f"/accounts/{team.gateway_login}").json()
    assert Decimal(account["balance"]) == rub[-1]

    # The home page: what runs now; the notifications of the month, two unread.
    home = client.get("/").get_data(as_text=True)
    assert RU.live.name in home and RU.scheduled.name in home
    with demo_app.app_context():
        told = db.session.scalars(sa.select(Notification)).all()
        events = db.session.scalars(sa.select(AuditEvent.created_at)).all()
    assert len(told) == len(RU.past) + 1  # each campaign finished, and the balance ran low
    assert sum(1 for n in told if n.read_at is None) == 2
    assert min(events) < utcnow() - timedelta(days=29)


def test_a_second_run_refuses_and_reset_makes_it_anew(demo_app):
    assert run_demo(demo_app).exit_code == 0
    _, before = team_rows(demo_app)

    again = run_demo(demo_app)
    assert again.exit_code == 1
    assert f"{EMAIL} has an account already" in again.output
    assert "flask demo --reset" in again.output
    assert [(c.id, c.state) for c in team_rows(demo_app)[1]] == [(c.id, c.state) for c in before]

    reset = run_demo(demo_app, "--reset", "--language", "en")
    assert reset.exit_code == 0, reset.output
    with demo_app.app_context():
        assert db.session.scalars(sa.select(User.email)).all() == [EMAIL]
        assert db.session.scalars(sa.select(Team.name)).all() == [EN.team]
        counted = sa.select(sa.func.count()).select_from
        assert db.session.scalar(counted(Campaign)) == len(before)  # none left of the first
        assert db.session.scalar(counted(Message)) == sum(c.recipients for c in before)
    _, after = team_rows(demo_app)
    assert [c.recipients for c in after] == [c.recipients for c in before]
    for campaign in after:
        assert_counters_match(demo_app, campaign.id)
    assert EN.live.name in signed_in(demo_app).get("/campaigns").get_data(as_text=True)


def test_an_email_in_a_team_with_others_is_not_reset(demo_app, make_person):
    assert run_demo(demo_app).exit_code == 0
    team, _ = team_rows(demo_app)
    make_person("colleague@example.com", team=team.id, role="sender")
    refused = run_demo(demo_app, "--reset")
    assert refused.exit_code == 1
    assert "with other people" in refused.output
    assert team_rows(demo_app)[0].id == team.id
