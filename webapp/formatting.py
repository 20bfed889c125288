"""How the app writes figures for people, and reads the amounts they type: money, whole
numbers, balance amounts, percentages, dates and times in the team's time zone, and the
names of countries.

Every template filter and global that formats something lives here and is registered by the
app factory (:func:`init_app`), never by a blueprint; CSV files, form values and audit details
use the plain forms (:func:`plain_money`, ISO dates), whatever the language.

Figures follow the language of the page (``flask_babel.get_locale()``; English outside a
request, as in the worker), through Babel's CLDR data. The patterns, English | Russian
(``␣`` a no-break space U+00A0, the group separator and the space before a currency that
CLDR gives Russian):

=========================  ==========================  ===========================
what                       English                     Russian
=========================  ==========================  ===========================
count ``#,##0``            ``1,234,567``               ``1␣234␣567``
money ``#,##0.00``         ``1,234.50``                ``1␣234,50``
money with its currency    ``RUB␣1,234.50``            ``1␣234,50␣₽``
price ``#,##0.00##``       ``2.50``, ``2.755``         ``2,50``, ``2,755``
percent                    ``97.5%``                   ``97,5␣%``
time ``d MMM y, HH:mm``    ``1 Dec 2026, 14:30``       ``1 декабря 2026, 14:30``
  with seconds             ``1 Dec 2026, 14:30:05``    ``1 декабря 2026, 14:30:05``
  a day                    ``1 Dec 2026``              ``1 декабря 2026``
=========================  ==========================  ===========================

Russian times spell the month in full (``d MMMM y, HH:mm``, the genitive CLDR gives
``MMMM``); English abbreviates it; both use the 24-hour clock. A letter currency code stands
apart from the digits by a no-break space (CLDR's currency spacing, which Babel does not
apply), as browsers' ``Intl.NumberFormat`` write it (static/js/balance-chart.js). Balance
types other than RUB (SMS) are counts. :func:`parse_amount` reads back what a person types,
in either language. Figures a table writes row after row are remembered (texts.per_language).
"""

from __future__ import annotations

import copy
import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, parse_pattern
from flask import Flask
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from webapp import texts, timezones
from webapp.access import current_team
from webapp.domain import messages, usage
from webapp.models import Campaign, Team, utcnow

NONE = "—"  # what the page shows for a figure that is not known
CENT = Decimal("0.01")
# A price per part may be a fraction of a kopeck: the columns hold four decimals (Numeric(10, 4)).
PRICE_PLACES = 4
MONEY = "#,##0.00"
COUNT = "#,##0"
PRICE = "#,##0.00##"
# Date and time patterns by language (Babel's, LDML): a time to the minute, with seconds, a day.
TIME_PATTERNS = {
    "en": {"minutes": "d MMM y, HH:mm", "seconds": "d MMM y, HH:mm:ss", "day": "d MMM y"},
    "ru": {"minutes": "d MMMM y, HH:mm", "seconds": "d MMMM y, HH:mm:ss", "day": "d MMMM y"},
}
ENGLISH = Locale("en")


def current_locale() -> Locale:
    """The language figures are written in: the page's, English outside a request."""
    return get_locale() or ENGLISH


@texts.per_language()
def money(value: Decimal | int | None, currency: str | None = None) -> str:
    """An amount to the kopeck with thousands separated (``1,234.50``, ``1 234,50``), with
    its currency when one is named (``RUB 1,234.50``, ``1 234,50 ₽``); "—" for none."""
    if value is None:
        return NONE
    if currency is not None:
        return _with_currency(Decimal(value), currency, (2, 2))
    return format_decimal(Decimal(value), MONEY, locale=current_locale())


@texts.per_language()
def count(value: int | None) -> str:
    """A whole number with thousands separated: ``12,345``, ``12 345`` ("—" for none)."""
    return NONE if value is None else format_decimal(value, COUNT, locale=current_locale())


def balance_amount(value: Decimal | int | None, type_: str = "RUB", unit: bool = False) -> str:
    """An amount of a balance type: money for RUB (``1,234.50``), whole SMS as a count
    (``5,000``), a fraction of any type to two places. With ``unit``, what it is counted in:
    ``RUB 1,234.50`` (as :func:`money` with its currency), ``5,000 SMS``."""
    if value is None:
        return NONE
    value = Decimal(value)
    if type_ == "RUB":
        return money(value, "RUB" if unit else None)
    whole = value == value.to_integral_value()
    shown = count(int(value)) if whole else money(value)
    return f"{shown}\N{NO-BREAK SPACE}{type_}" if unit else shown


def percent(value: float | Decimal | None, decimals: int = 1) -> str:
    """A percentage: ``97.5%``, ``97,5 %`` ("—" when there is none, as a rate before any
    report)."""
    if value is None:
        return NONE
    locale = current_locale()
    pattern = copy.copy(parse_pattern(locale.percent_formats[None].pattern))
    pattern.frac_prec = (decimals, decimals)
    return pattern.apply(Decimal(str(value)) / 100, locale)


def plain_money(value: Decimal | None, places: int = 2) -> str:
    """An amount as a machine or a form field reads it: ``1234.50`` ("" for none); what
    :func:`parse_amount` reads back. With ``places`` over two (a price), the decimals past
    the second only when the amount has them: ``2.50``, ``2.755``."""
    if value is None:
        return ""
    whole, _point, fraction = f"{Decimal(value):.{places}f}".partition(".")
    return f"{whole}.{fraction[:2]}{fraction[2:].rstrip('0')}"


def price(value: Decimal | int | None, currency: str | None = None) -> str:
    """A price per part, written as money (``2.50``, not the column's ``2.5000``), with the
    third and fourth decimals only when the price has them (``2.755``), and its currency when
    one is named (``RUB 2.755``, ``2,755 ₽``); "—" for none."""
    if value is None:
        return NONE
    if currency is not None:
        return _with_currency(Decimal(value), currency, (2, PRICE_PLACES))
    return format_decimal(Decimal(value), PRICE, locale=current_locale())


def _with_currency(value: Decimal, currency: str, places: tuple[int, int]) -> str:
    locale = current_locale()
    pattern = copy.copy(locale.currency_formats["standard"])
    pattern.frac_prec = places
    text = pattern.apply(value, locale, currency=currency, currency_digits=False)
    symbol = re.escape(locale.currency_symbols.get(currency, currency))
    # CLDR's currency spacing: a symbol that ends (or starts) in a letter is kept apart from
    # the digits, "RUB 1,234.50"; a sign such as ₽ or $ is not.
    if symbol[-1:].isalpha():
        text = re.sub(rf"({symbol})(?=\d)", "\\1\N{NO-BREAK SPACE}", text)
    if symbol[:1].isalpha():
        text = re.sub(rf"(?<=\d)({symbol})", "\N{NO-BREAK SPACE}\\1", text)
    return text


# -- dates and times -----------------------------------------------------------------------------


@texts.per_language()
def zoned_time(
    when: datetime | None, zone: ZoneInfo, *, seconds: bool = False, day: bool = False
) -> str:
    """A UTC time as read in ``zone``: ``1 Dec 2026, 14:30`` (``1 декабря 2026, 14:30``), to
    the second with ``seconds``, only its day with ``day``; "" for none."""
    if when is None:
        return ""
    locale = current_locale()
    pattern = _time_patterns(locale)["day" if day else "seconds" if seconds else "minutes"]
    return format_datetime(when.astimezone(zone), pattern, locale=locale)


def _time_patterns(locale: Locale) -> dict[str, str]:
    return TIME_PATTERNS.get(locale.language, TIME_PATTERNS["en"])


def team_time(
    when: datetime | None, team: Team, *, seconds: bool = False, day: bool = False
) -> str:
    """A UTC time as ``team`` reads it, in its time zone (:func:`zoned_time`)."""
    return zoned_time(when, timezones.team_zone(team), seconds=seconds, day=day)


def local_time(when: datetime | None, seconds: bool = False, day: bool = False) -> str:
    """A UTC time as the current team reads it (:func:`team_time`)."""
    return team_time(when, current_team(), seconds=seconds, day=day)


def local_clock(when: datetime | None) -> str:
    """A UTC time's hour and minute as the current team reads it: ``14:30`` ("" for none)."""
    zone, locale = timezones.team_zone(current_team()), current_locale()
    return format_datetime(when.astimezone(zone), "HH:mm", locale=locale) if when else ""


def utc_time(when: datetime | None) -> str:
    """A UTC time as UTC, where no team's zone applies (a sign-in without a team)."""
    return zoned_time(when, ZoneInfo("UTC"))


def team_date(when: datetime | None) -> str:
    """A UTC time's day as the current team reads it: ``1 Dec 2026``, ``1 декабря 2026``."""
    return team_time(when, current_team(), day=True)


def day(value: date | None) -> str:
    """A calendar day (already the team's, as a report's period): ``1 Dec 2026``."""
    if value is None:
        return ""
    locale = current_locale()
    return format_date(value, _time_patterns(locale)["day"], locale=locale)


def team_zone_name() -> str:
    """The zone the current team's times are shown in, by its city and offset in the page's
    language: ``Москва, UTC+3``, ``Moscow, UTC+3``."""
    return zone_name_of(current_team())


def zone_name_of(team: Team, at: datetime | None = None) -> str:
    """The zone ``team``'s times are shown in, by its city and its offset ``at`` (now), in
    the page's language (:func:`team_zone_name` of any team, as a check's message names it)."""
    zone = timezones.team_zone(team).key
    return timezones.short_label(zone, current_locale(), at or utcnow())


# -- names ---------------------------------------------------------------------------------------


def region_name(code: str) -> str:
    """A country or region by its ISO code in the page's language: ``RU``: ``Россия``."""
    return current_locale().territories.get(code, code)


def collation_key(text: str) -> tuple[str, str]:
    """A sort key for names in English or Russian close to CLDR's root collation, for want of
    ICU: case and accents second (Åland with A, Ё with Е), but Й its own letter after И."""
    base = "".join(c if c in "йЙ" else unicodedata.normalize("NFD", c)[0] for c in text)
    return base.casefold(), text


def report_label(grouping: str, row: Any) -> str:
    """What a spending report's row is about, in words: a campaign's name, a day, a sender
    name, an email (``row`` a :class:`webapp.domain.reports.Row`)."""
    if grouping == "day":
        return day(row.key)
    if row.label is not None:
        return row.label
    return _("account default sender") if grouping == "sender" else _("deleted user")


# -- reading an amount ---------------------------------------------------------------------------

# An amount's characters once spaces are gone: digits, with "." or "," between or before them.
_AMOUNT = re.compile(r"[0-9.,]*[0-9][0-9.,]*")
# Thousands grouped by commas, as the app writes them: 1,000 and 12,345,678.
_GROUPED = re.compile(r"[1-9][0-9]{0,2}(?:,[0-9]{3})+")
_DIGITS = re.compile(r"[0-9]+")
_COMMA_THEN_THREE = re.compile(r"[0-9]{1,3},[0-9]{3}")

NOT_AN_AMOUNT = _l("Enter an amount in digits, like 1,500.00 or 1 500,50.")
AMBIGUOUS_AMOUNT = _l(
    "Group thousands by three (1,000 or 1 000) and write decimals after one point or comma "
    "(99.50 or 99,50)."
)
AMBIGUOUS_COMMA = _l(
    "A comma before three digits may group thousands or start decimals: write 2.755 for "
    "decimals, or 1 000 for thousands."
)
TOO_MANY_DECIMALS = {
    2: _l("Use at most two decimal places."),
    PRICE_PLACES: _l("Use at most four decimal places."),
}


class NotAnAmount(ValueError):
    """What was typed is not written like an amount at all (letters, an exponent...): a form
    field may say so with an example of its own (webapp/forms/fields.py)."""


def parse_amount(text: str, places: int = 2) -> Decimal | None:
    """An amount as the app writes it in either language (:func:`money`: "1,000.00",
    "1 000,00" with no-break spaces) or as Russian users type it ("1 000,50"); None for an
    empty one. Raises ValueError with a message a person can act on otherwise
    (:class:`NotAnAmount` when it is not written like an amount at all).

    Spaces, no-break ones too (U+00A0, U+202F: Russian thousands), are ignored. With both ","
    and "." the commas group thousands. With commas only, groups of exactly three digits are
    thousands ("1,000", "12,345,678"), and a single comma followed by other than three digits
    is a decimal comma ("1,5"; "2,7550" with four ``places``). With more than two ``places``
    (a price), one comma before three digits ("2,755") could be either, so it is refused too,
    as is anything else that would be a guess: several points ("1.000.000"), other groupings
    ("1,00,000"), more decimals than ``places`` (2 or :data:`PRICE_PLACES`), exponents
    ("1e3"), "nan" or "inf".
    """
    cleaned = "".join(text.split())  # str.split() knows every Unicode space, NBSP included
    if not cleaned:
        return None
    negative = cleaned.startswith("-")
    number = cleaned[1:] if negative else cleaned
    if not _AMOUNT.fullmatch(number):
        raise NotAnAmount(NOT_AN_AMOUNT)
    fraction: str | None = None
    if places > 2 and _COMMA_THEN_THREE.fullmatch(number):
        raise ValueError(AMBIGUOUS_COMMA)
    if "." in number:
        whole, _point, fraction = number.partition(".")
    elif number.count(",") == 1 and not _GROUPED.fullmatch(number):
        whole, _comma, fraction = number.partition(",")
    else:
        whole = number
    if "," in whole and not _GROUPED.fullmatch(whole):
        raise ValueError(AMBIGUOUS_AMOUNT)
    if fraction is not None and not _DIGITS.fullmatch(fraction):
        if "." in fraction or "," in fraction:
            raise ValueError(AMBIGUOUS_AMOUNT)
        raise NotAnAmount(NOT_AN_AMOUNT)
    if fraction is not None and len(fraction) > places:
        raise ValueError(TOO_MANY_DECIMALS[places])
    amount = Decimal(f"{whole.replace(',', '') or '0'}.{fraction or '0'}")
    amount = amount.quantize(Decimal(1).scaleb(-places))
    if negative:
        raise ValueError(_l("The amount cannot be negative."))
    if amount >= Decimal(10) ** 12:
        raise ValueError(_l("Enter an amount below 1,000,000,000,000."))
    return amount


def campaign_state(campaign: Campaign) -> str:
    """The campaign's state as shown (messages.shown_state): "starting" for a scheduled one
    whose time has come, "awaiting_reports" for a finished one still awaiting reports."""
    return messages.shown_state(campaign, utcnow())


# How each state a campaign is shown in reads, on every page (messages.SHOWN_STATES).
CAMPAIGN_STATE_LABELS = {
    "draft": _l("draft"),
    "scheduled": _l("scheduled"),
    messages.STARTING: _l("starting"),
    "sending": _l("sending"),
    "paused": _l("paused"),
    messages.AWAITING_REPORTS: _l("sent, awaiting reports"),
    "finished": _l("finished"),
    "cancelled": _l("cancelled"),
}


def campaign_state_label(shown: str) -> str:
    """A shown campaign state (campaign_state) in words."""
    return str(CAMPAIGN_STATE_LABELS.get(shown, shown))


def no_longer_a_draft(campaign: Campaign) -> str:
    """What a composer's page says of a campaign sent (or deleted) meanwhile."""
    state = campaign_state_label(campaign_state(campaign))
    return str(_l("This campaign is %(state)s: it is no longer a draft.", state=state))


# The campaign summary's counters, in the order a message moves through them.
SUMMARY_STATES = (
    ("queued", _l("Queued")),
    ("sending", _l("Sending")),
    ("accepted", _l("Accepted")),
    ("enroute", _l("On its way")),
    ("delivered", _l("Delivered")),
    ("failed", _l("Failed")),
    ("rejected", _l("Rejected")),
    ("unknown", _l("Unknown")),
    ("expired", _l("Expired")),
    ("cancelled", _l("Cancelled")),
)

FILTERS = {
    "money": money,
    "price": price,
    "count": count,
    "balance_amount": balance_amount,
    "percent": percent,
    "team_date": team_date,
    "day": day,
}
GLOBALS = {
    "campaign_local": local_time,
    "campaign_clock": local_clock,
    "utc_time": utc_time,
    "region_name": region_name,
    "team_zone_name": team_zone_name,
    "report_label": report_label,
    "campaign_state": campaign_state,
    "campaign_state_label": campaign_state_label,
    "campaign_state_choices": list(CAMPAIGN_STATE_LABELS.items()),
    "summary_states": SUMMARY_STATES,
    "settled": messages.settled,
    "undelivered": messages.undelivered,
    "delivery_rate": usage.delivery_rate,
}


def init_app(app: Flask) -> None:
    """Give every template the filters and globals above."""
    app.jinja_env.filters.update(FILTERS)
    app.jinja_env.globals.update(GLOBALS)
