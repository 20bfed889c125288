"""How figures are written for people (webapp/formatting.py): the filters' output, that the app
factory registers every one of them, and that two pages show the same amount the same way."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.helpers import make_campaign, team_of, text_of
from webapp import formatting
from webapp.extensions import db
from webapp.models import BalanceSnapshot, Campaign, utcnow


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (Decimal("1000"), "1,000.00"),
        (Decimal("1234567.5"), "1,234,567.50"),
        (Decimal("2.4"), "2.40"),
        (7, "7.00"),
        (None, "—"),
    ],
)
def test_money_is_to_the_kopeck_with_thousands_separated(value, written):
    assert formatting.money(value) == written


def test_numbers_balances_and_percentages():
    assert formatting.count(12345) == "12,345"
    assert formatting.count(None) == "—"
    assert formatting.balance_amount(Decimal("1234.5"), "RUB") == "1,234.50"
    assert formatting.balance_amount(Decimal("5000"), "SMS") == "5,000"
    assert formatting.balance_amount(Decimal("5000.00"), "SMS") == "5,000"
    assert formatting.balance_amount(Decimal("12.5"), "SMS") == "12.50"
    assert formatting.balance_amount(None) == "—"
    assert formatting.percent(97.456) == "97.5%"
    assert formatting.percent(Decimal("33.5"), 0) == "34%"
    assert formatting.percent(None) == "—"
    assert formatting.plain_money(Decimal("1234.5")) == "1234.50"
    assert formatting.plain_money(None) == ""


@pytest.mark.parametrize("amount", [Decimal("0.00"), Decimal("1000.00"), Decimal("1234567.89")])
def test_an_amount_written_by_the_app_reads_back_as_itself(amount):
    assert formatting.parse_amount(formatting.money(amount)) == amount
    assert formatting.parse_amount(formatting.plain_money(amount)) == amount


def test_the_factory_registers_every_filter_and_global(app):
    for name, function in formatting.FILTERS.items():
        assert app.jinja_env.filters[name] is function, name
    with app.test_request_context():
        rendered = app.jinja_env.from_string(
            "{{ 1234.5|money }} {{ 1234|count }} {{ none|percent }}"
        ).render()
    assert rendered == "1,234.50 1,234 —"


def test_a_balance_is_written_alike_on_the_home_page_and_the_balance_page(app, make_person):
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    now = utcnow()
    with app.app_context():
        for type_, amount in (("RUB", "1234.5"), ("SMS", "5000.00")):
            db.session.add(
                BalanceSnapshot(
                    team_id=team.id,
                    taken_at=now,
                    type=type_,
                    balance=Decimal(amount),
                    credit=Decimal(0),
                )
            )
        db.session.commit()
    home = ann.get("/").text
    balance = ann.get("/balance").text
    for type_, written in (("RUB", "1,234.50"), ("SMS", "5,000")):
        assert re.search(rf'data-testid="balance-{type_}"><strong>{written}</strong>', home)
        card = balance.split(f'data-testid="balance-{type_}"')[1]
        assert re.search(rf'data-testid="balance-amount">{written}<', card)


def test_a_campaigns_cost_is_written_alike_on_its_page_and_the_home_page(app, make_person):
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    campaign_id = make_campaign(app, team, 1)
    with app.app_context():
        db.session.execute(
            sa.update(Campaign).where(Campaign.id == campaign_id).values(cost=Decimal("1234.5"))
        )
        db.session.commit()
    assert text_of(ann.get(f"/campaigns/{campaign_id}").text, "cost") == "1,234.50 RUB"
    running = ann.get("/").text.split('data-testid="home-running"')[1]
    assert re.search(r'<td class="num">1,234.50</td>', running)


def test_the_gateway_check_writes_a_balance_as_the_balance_page_does(app, make_person, sandbox):
    """The connection check wrote the credit as the gateway sent it ("1500.0")."""
    app.config["GATEWAY_ALLOWED_HOSTS"] = "127.0.0.1"  # the sandbox stands in for iQSMS
    ann = make_person("ann@example.com")
    sandbox.control(
        "POST",
        "/accounts",
        json={"login": "acme", "password": "right", "balance": "1234.5", "credit": "1500"},
    )
    form = {"mode": "iqsms", "login": "acme", "password": "right", "url": sandbox.base_url}
    checked = ann.post("/team/gateway/test", form).text
    assert "<strong>1,234.50</strong> (credit 1,500.00)" in checked
    with app.app_context():
        db.session.add(
            BalanceSnapshot(
                team_id=team_of(app, ann).id,
                taken_at=utcnow(),
                type="RUB",
                balance=Decimal("1234.5"),
                credit=Decimal("1500"),
            )
        )
        db.session.commit()
    card = ann.get("/balance").text.split('data-testid="balance-RUB"')[1]
    assert ">1,234.50<" in card and 'data-testid="balance-credit">1,500.00<' in card
