"""Periods (webapp/periods.py): presets and typed days in the team's time zone, one meaning of
each preset and one set of limits on every page that offers a period — the balance page's range
and the spending report's period."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tests.helpers import english_time, team_of
from webapp import periods
from webapp.extensions import db
from webapp.forms.reports import SpendingChoice
from webapp.models import BalanceSnapshot, Team, utcnow

# 21:30 UTC on 10 March is 00:30 on 11 March in Moscow: "today" is the 11th there.
NOW = datetime(2030, 3, 10, 21, 30, tzinfo=UTC)
MOSCOW = ZoneInfo("Europe/Moscow")


def moscow() -> Team:
    return Team(name="T", timezone="Europe/Moscow")


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [
        ("today", date(2030, 3, 11), date(2030, 3, 11)),
        ("yesterday", date(2030, 3, 10), date(2030, 3, 10)),
        ("last-7-days", date(2030, 3, 5), date(2030, 3, 11)),
        ("last-30-days", date(2030, 2, 10), date(2030, 3, 11)),
        ("this-month", date(2030, 3, 1), date(2030, 3, 11)),
        ("last-month", date(2030, 2, 1), date(2030, 2, 28)),
    ],
)
def test_presets_are_whole_days_in_the_teams_zone(name, first, last):
    period = periods.choose(moscow(), NOW, name)
    assert (period.name, period.first, period.last) == (name, first, last)
    assert period.start == datetime.combine(first, time(0), UTC) - timedelta(hours=3)
    assert period.end == datetime.combine(last, time(0), UTC) + timedelta(hours=21)


def test_the_last_24_hours_end_now():
    period = periods.choose(moscow(), NOW, "last-24-hours")
    assert (period.start, period.end) == (NOW - timedelta(hours=24), NOW)
    assert (period.first, period.last) == (date(2030, 3, 10), date(2030, 3, 11))


@pytest.mark.parametrize(
    ("args", "name", "first", "last"),
    [
        ({}, "this-month", date(2030, 3, 1), date(2030, 3, 11)),  # the default
        ({"period": "forever"}, "this-month", date(2030, 3, 1), date(2030, 3, 11)),
        ({"period": "last-30-days"}, "this-month", date(2030, 3, 1), date(2030, 3, 11)),
        ({"from": "2030-01-01", "to": "2030-01-02"}, "custom", date(2030, 1, 1), date(2030, 1, 2)),
    ],
)
def test_the_report_reads_what_it_does_not_offer_as_its_default(args, name, first, last):
    choice = SpendingChoice.read(args, moscow(), NOW)
    assert choice.period is not None
    assert (choice.period.name, choice.period.first, choice.period.last) == (name, first, last)


def test_typed_days_are_inclusive_and_checked():
    period = periods.choose(moscow(), NOW, "custom", " 2030-01-01 ", "2030-01-01")
    assert period.start == datetime(2029, 12, 31, 21, tzinfo=UTC)
    assert period.end == datetime(2030, 1, 1, 21, tzinfo=UTC)
    longest = periods.choose(moscow(), NOW, "custom", "2028-01-01", "2029-12-31")
    assert len(longest.days) == periods.MAX_DAYS == 731
    for typed, problems in [
        (("2030-03-10", "2030-03-09"), {"to": "before_start"}),
        (("2028-01-01", "2030-01-01"), {"to": "too_long"}),
        (("2030-02-30", "tomorrow"), {"from": "invalid", "to": "invalid"}),
        (("20300301", "2030-W10-1"), {"from": "invalid", "to": "invalid"}),
        (("", "2030-03-09"), {"from": "missing"}),
        (("1999-12-31", "2101-01-01"), {"from": "out_of_range", "to": "out_of_range"}),
    ]:
        with pytest.raises(periods.PeriodError) as caught:
            periods.choose(moscow(), NOW, "custom", *typed)
        assert caught.value.problems == problems
    assert periods.problem("to", "missing") == "Enter the last day."
    assert periods.problem("from", "out_of_range") == "Enter a date between 2000 and 2100."


# -- the same on both pages ----------------------------------------------------------------------


def _with_a_reading(app, person) -> Team:
    """The person's team, with one balance reading (the balance page shows its range picker
    once there is one)."""
    team = team_of(app, person)
    with app.app_context():
        db.session.add(
            BalanceSnapshot(
                team_id=team.id, taken_at=utcnow(), type="RUB", balance=Decimal(10), credit=0
            )
        )
        db.session.commit()
    return team


def _typed_days(html: str) -> dict[str, str]:
    """The days the page's period fields hold."""
    return dict(re.findall(r'name="(from|to)" type="(?:date|text)" value="([^"]*)"', html))


def test_last_7_days_is_the_same_span_on_the_balance_page_and_the_report(app, make_person):
    ann = make_person("ann@example.com")
    team = _with_a_reading(app, ann)
    balance_page = ann.get("/balance?range=week").text
    report = ann.get("/reports/spending?period=last-7-days").text
    today = datetime.now(ZoneInfo(team.timezone)).date()
    days = {"from": (today - timedelta(days=6)).isoformat(), "to": today.isoformat()}
    assert _typed_days(balance_page) == _typed_days(report) == days
    # Both from the team's midnight six days ago to the end of today.
    first, last = today - timedelta(days=6), today
    assert (
        f"Balance from {english_time(first, day=True)}, 00:00 "
        f"to {english_time(last, day=True)}, 23:59"
    ) in balance_page
    period = f"{english_time(first, day=True)} to {english_time(last, day=True)}"
    assert f'data-testid="period">{period}' in report


@pytest.mark.parametrize(
    ("typed", "field", "error"),
    [
        # Years beyond 2100 are typing mistakes on both pages (the report took them).
        (("2500-01-01", "2500-01-02"), "from", "Enter a date between 2000 and 2100."),
        # Two years at most on both (the balance page allowed one).
        (("2024-01-01", "2026-01-01"), "to", "Choose at most 731 days (two years) at a time."),
        (("2026-03-02", "2026-03-01"), "to", "The last day cannot be before the first day."),
        (("2026-02-30", "2026-03-01"), "from", "Enter a real date as YYYY-MM-DD"),
    ],
)
def test_both_pages_refuse_the_same_days_with_the_same_words(app, make_person, typed, field, error):
    ann = make_person("ann@example.com")
    _with_a_reading(app, ann)
    query = f"from={typed[0]}&to={typed[1]}"
    balance_page = ann.get(f"/balance?range=custom&{query}").text
    report = ann.get(f"/reports/spending?period=custom&{query}").text
    assert re.search(rf'id="{field}-error">{re.escape(error)}', balance_page)
    assert re.search(rf'data-testid="period-{field}-error">{re.escape(error)}', report)


def test_both_pages_take_a_year_and_more(app, make_person):
    ann = make_person("ann@example.com")
    _with_a_reading(app, ann)
    query = "from=2025-01-01&to=2026-03-01"  # 425 days: the balance page refused them
    assert 'class="field-error"' not in ann.get(f"/balance?range=custom&{query}").text
    assert ann.get(f"/reports/spending?period=custom&{query}").status_code == 200
