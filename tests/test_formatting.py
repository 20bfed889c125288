"""How figures are written for people (webapp/formatting.py): the filters' output in English
and in Russian, that the app factory registers every one of them, that two pages show the
same amount the same way, and that a Russian page reads as a Russian writes figures."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from tests.helpers import make_campaign, team_of, text_of
from webapp import formatting
from webapp.extensions import db
from webapp.models import BalanceSnapshot, Campaign, Team, utcnow

NBSP = "\N{NO-BREAK SPACE}"
RU = {"Accept-Language": "ru-RU,ru;q=0.9"}


@pytest.fixture
def in_language(app):
    """``in_language(code)``: a request context whose figures are in that language."""
    contexts = []

    def enter(code: str) -> None:
        context = app.test_request_context()
        context.push()
        forced = force_locale(code)
        forced.__enter__()
        contexts.append((context, forced))

    yield enter
    for context, forced in reversed(contexts):
        forced.__exit__(None, None, None)
        context.pop()


@pytest.mark.parametrize(
    ("value", "english", "russian"),
    [
        (Decimal("1000"), "1,000.00", "1 000,00"),
        (Decimal("1234567.5"), "1,234,567.50", "1 234 567,50"),
        (Decimal("2.4"), "2.40", "2,40"),
        (7, "7.00", "7,00"),
        (None, "—", "—"),
    ],
)
def test_money_is_to_the_kopeck_with_thousands_separated(in_language, value, english, russian):
    in_language("en")
    assert formatting.money(value) == english
    in_language("ru")
    assert formatting.money(value) == russian.replace(" ", NBSP)


def test_money_with_its_currency_reads_as_each_language_writes_it(in_language):
    in_language("en")
    assert formatting.money(Decimal("1234.5"), "RUB") == f"RUB{NBSP}1,234.50"
    assert formatting.money(Decimal("-5"), "RUB") == f"-RUB{NBSP}5.00"
    assert formatting.price(Decimal("2.7550"), "RUB") == f"RUB{NBSP}2.755"
    assert formatting.balance_amount(Decimal("1234.5"), "RUB", unit=True) == f"RUB{NBSP}1,234.50"
    in_language("ru")
    assert formatting.money(Decimal("1234.5"), "RUB") == f"1{NBSP}234,50{NBSP}₽"
    assert formatting.price(Decimal("2.5"), "RUB") == f"2,50{NBSP}₽"
    assert formatting.balance_amount(Decimal("5000"), "SMS", unit=True) == f"5{NBSP}000{NBSP}SMS"
    assert formatting.money(None, "RUB") == "—"


def test_numbers_balances_and_percentages_in_english(in_language):
    in_language("en")
    assert formatting.count(1234567) == "1,234,567"
    assert formatting.count(None) == "—"
    assert formatting.balance_amount(Decimal("1234.5"), "RUB") == "1,234.50"
    assert formatting.balance_amount(Decimal("5000"), "SMS") == "5,000"
    assert formatting.balance_amount(Decimal("5000.00"), "SMS") == "5,000"
    assert formatting.balance_amount(Decimal("12.5"), "SMS") == "12.50"
    assert formatting.balance_amount(None) == "—"
    assert formatting.price(Decimal("2.5000")) == "2.50"
    assert formatting.price(Decimal("0.3333")) == "0.3333"
    assert formatting.percent(97.456) == "97.5%"
    assert formatting.percent(Decimal("33.5"), 0) == "34%"
    assert formatting.percent(None) == "—"
    assert formatting.plain_money(Decimal("1234.5")) == "1234.50"
    assert formatting.plain_money(None) == ""


def test_numbers_balances_and_percentages_in_russian(in_language):
    in_language("ru")
    assert formatting.count(1234567) == f"1{NBSP}234{NBSP}567"
    assert formatting.balance_amount(Decimal("5000.00"), "SMS") == f"5{NBSP}000"
    assert formatting.balance_amount(Decimal("12.5"), "SMS") == "12,50"
    assert formatting.price(Decimal("2.7550")) == "2,755"
    assert formatting.percent(97.456) == f"97,5{NBSP}%"
    # The machine forms stay as machines read them, whatever the language.
    assert formatting.plain_money(Decimal("1234.5")) == "1234.50"


def test_outside_a_request_figures_are_in_english():
    # As in the worker: no request, no app, and the default language.
    assert formatting.money(Decimal("1234.5"), "RUB") == f"RUB{NBSP}1,234.50"
    assert formatting.zoned_time(datetime(2026, 12, 1, 11, 30, tzinfo=UTC), ZoneInfo("UTC")) == (
        "1 Dec 2026, 11:30"
    )


def test_times_read_as_each_language_writes_them_in_the_given_zone(in_language):
    when = datetime(2026, 12, 1, 11, 30, 5, tzinfo=UTC)
    moscow = ZoneInfo("Europe/Moscow")  # UTC+3
    in_language("en")
    assert formatting.zoned_time(when, moscow) == "1 Dec 2026, 14:30"
    assert formatting.zoned_time(when, moscow, seconds=True) == "1 Dec 2026, 14:30:05"
    assert formatting.zoned_time(when, moscow, day=True) == "1 Dec 2026"
    assert formatting.day(date(2026, 5, 9)) == "9 May 2026"
    assert formatting.zoned_time(None, moscow) == ""
    in_language("ru")
    assert formatting.zoned_time(when, moscow) == "1 декабря 2026, 14:30"
    assert formatting.zoned_time(when, moscow, seconds=True) == "1 декабря 2026, 14:30:05"
    assert formatting.day(date(2026, 5, 9)) == "9 мая 2026"
    assert formatting.team_time(when, Team(timezone="Asia/Vladivostok")) == "1 декабря 2026, 21:30"


def test_regions_are_named_in_the_page_language(in_language):
    in_language("en")
    assert formatting.region_name("KZ") == "Kazakhstan"
    in_language("ru")
    assert formatting.region_name("KZ") == "Казахстан"
    assert formatting.region_name("ZZ9") == "ZZ9"  # no name known: the code itself


def test_names_sort_as_the_language_does_without_icu():
    names = ["Эстония", "Ёлкино", "Йемен", "Иордания", "Египет", "Ямайка"]
    assert sorted(names, key=formatting.collation_key) == [
        "Египет",
        "Ёлкино",
        "Иордания",
        "Йемен",
        "Эстония",
        "Ямайка",
    ]
    latin = ["Zambia", "Åland Islands", "Albania", "Côte d’Ivoire", "Curaçao", "Cuba"]
    assert sorted(latin, key=formatting.collation_key) == [
        "Åland Islands",
        "Albania",
        "Côte d’Ivoire",
        "Cuba",
        "Curaçao",
        "Zambia",
    ]


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("amount", [Decimal("0.00"), Decimal("1000.00"), Decimal("1234567.89")])
def test_an_amount_written_by_the_app_reads_back_as_itself(in_language, language, amount):
    in_language(language)
    assert formatting.parse_amount(formatting.money(amount)) == amount
    assert formatting.parse_amount(formatting.plain_money(amount)) == amount


@pytest.mark.parametrize(
    "typed", ["2,75", "2.75", "1 000,50", f"1{NBSP}000,50", "1\N{NARROW NO-BREAK SPACE}000,50"]
)
def test_amounts_are_read_as_people_type_them_in_either_language(typed):
    expected = Decimal("2.75") if typed.startswith("2") else Decimal("1000.50")
    assert formatting.parse_amount(typed) == expected


def test_the_factory_registers_every_filter_and_global(app):
    for name, function in formatting.FILTERS.items():
        assert app.jinja_env.filters[name] is function, name
    for name, value in formatting.GLOBALS.items():
        assert app.jinja_env.globals[name] is value, name
    template = "{{ 1234.5|money }} {{ 1234.5|money('RUB') }} {{ 1234|count }} {{ none|percent }}"
    with app.test_request_context():
        rendered = app.jinja_env.from_string(template).render()
    assert rendered == f"1,234.50 RUB{NBSP}1,234.50 1,234 —"
    with app.test_request_context(headers=RU):
        rendered = app.jinja_env.from_string(template).render()
    assert rendered == f"1{NBSP}234,50 1{NBSP}234,50{NBSP}₽ 1{NBSP}234 —"


def add_balances(app, team_id: int, amounts: dict[str, str]) -> None:
    now = utcnow()  # one reading of every type
    with app.app_context():
        for type_, amount in amounts.items():
            db.session.add(
                BalanceSnapshot(
                    team_id=team_id,
                    taken_at=now,
                    type=type_,
                    balance=Decimal(amount),
                    credit=Decimal(0),
                )
            )
        db.session.commit()


def test_a_balance_is_written_alike_on_the_home_page_and_the_balance_page(app, make_person):
    ann = make_person("ann@example.com")
    add_balances(app, team_of(app, ann).id, {"RUB": "1234.5", "SMS": "5000.00"})
    home = ann.get("/").text
    balance = ann.get("/balance").text
    for type_, written, card in (
        ("RUB", f"RUB{NBSP}1,234.50", "1,234.50"),
        ("SMS", f"5,000{NBSP}SMS", "5,000"),
    ):
        assert re.search(rf'data-testid="balance-{type_}"><strong>{written}</strong>', home)
        after = balance.split(f'data-testid="balance-{type_}"')[1]
        assert re.search(rf'data-testid="balance-amount">{card}<', after)


def test_a_campaigns_cost_is_written_alike_on_its_page_and_the_home_page(app, make_person):
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    campaign_id = make_campaign(app, team, 1)
    with app.app_context():
        db.session.execute(
            sa.update(Campaign).where(Campaign.id == campaign_id).values(cost=Decimal("1234.5"))
        )
        db.session.commit()
    assert text_of(ann.get(f"/campaigns/{campaign_id}").text, "cost") == "RUB 1,234.50"
    running = ann.get("/").text.split('data-testid="home-running"')[1]
    assert re.search(r'<td class="num">1,234.50</td>', running)


def test_a_russian_page_writes_money_and_dates_as_a_russian_reads_them(app, make_person):
    ann = make_person("ann@example.com")
    team = team_of(app, ann)
    campaign_id = make_campaign(app, team, 1)
    started = datetime(2026, 12, 1, 11, 30, tzinfo=UTC)  # 14:30 in Moscow
    with app.app_context():
        db.session.execute(sa.update(Team).values(timezone="Europe/Moscow"))
        db.session.execute(
            sa.update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(cost=Decimal("1234.5"), started_at=started)
        )
        db.session.commit()
    russian = ann.get(f"/campaigns/{campaign_id}", headers=RU).text
    assert f'data-testid="cost">1{NBSP}234,50{NBSP}₽<' in russian
    assert "1 декабря 2026, 14:30" in russian
    english = ann.get(f"/campaigns/{campaign_id}", headers={"Accept-Language": "en"}).text
    assert f'data-testid="cost">RUB{NBSP}1,234.50<' in english
    assert "1 Dec 2026, 14:30" in english


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
    add_balances(app, team_of(app, ann).id, {"RUB": "1234.5"})
    with app.app_context():
        db.session.execute(sa.update(BalanceSnapshot).values(credit=Decimal("1500")))
        db.session.commit()
    card = ann.get("/balance").text.split('data-testid="balance-RUB"')[1]
    assert ">1,234.50<" in card and 'data-testid="balance-credit">1,500.00<' in card


def test_what_a_table_writes_row_after_row_is_remembered_by_language(app):
    """A message table's state labels, gateway statuses and figures are remembered
    (texts.per_language), each language apart: a Russian page after an English one, or a
    text in English (as a mail) made while a Russian page is rendered, gets its own words."""
    from webapp.gateway_texts import status_words
    from webapp.models.campaign import message_state_label

    def table_row() -> tuple[str, str, str]:
        return (
            message_state_label("delivered"),
            status_words("delivered"),
            formatting.money(Decimal("1234.5")),
        )

    english = ("delivered", "delivered to the phone (delivered)", "1,234.50")
    russian = ("доставлено", "доставлено на телефон (delivered)", f"1{NBSP}234,50")
    for _round in range(2):  # the second time from what was remembered
        with app.test_request_context():
            assert table_row() == english
        with app.test_request_context(headers=RU):
            assert table_row() == russian
            with force_locale("en"):
                assert table_row() == english
            assert table_row() == russian
