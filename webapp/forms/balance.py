"""Forms of the balance page: the chart's range and the low-balance warning."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, Form, HiddenField, SelectField, StringField
from wtforms.validators import ValidationError

from webapp.domain.campaigns import local_to_utc
from webapp.models import Team

# The ranges offered as links: how far back from now each reaches.
RANGES: dict[str, timedelta] = {
    "day": timedelta(days=1),
    "week": timedelta(days=7),
    "month": timedelta(days=30),
}
DEFAULT_RANGE = "week"
MAX_CUSTOM_DAYS = 366
FIRST_YEAR, LAST_YEAR = 2000, 2100


@dataclass(frozen=True)
class Period:
    """The chosen range as UTC bounds (end excluded) and how to name it."""

    key: str
    start: datetime
    end: datetime


class DayField(DateField):
    """A date typed as YYYY-MM-DD (what <input type=date> sends), with a message a person
    can act on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("invalid_value_message", _l("Enter a date like 2026-05-01."))
        super().__init__(*args, **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        if valuelist and not "".join(valuelist).strip():
            self.data = None  # left empty: "required" is the form's to say
            return
        super().process_formdata(valuelist)

    def _value(self) -> str:
        # <input type=date> takes YYYY-MM-DD or nothing: anything else the browser drops with
        # a console warning, so only a date that was read is rendered (the error says the rest).
        return self.data.isoformat() if isinstance(self.data, date) else ""


class RangeForm(Form):
    """The chart's range, read from the query string: a link (day, week, month) or a custom
    range of whole days in the team's time zone, both days included."""

    range = HiddenField(default=DEFAULT_RANGE)
    start = DayField(_l("From"), name="from")
    end = DayField(_l("To"), name="to")

    @property
    def key(self) -> str:
        return self.range.data if self.range.data in (*RANGES, "custom") else DEFAULT_RANGE

    def validate(self, extra_validators: Any = None) -> bool:
        if self.key != "custom":
            # Stray dates beside a link's range are not an error: the link wins.
            self.start.errors, self.end.errors = [], []
            return True
        super().validate(extra_validators)
        for field, missing in (
            (self.start, _l("Enter the first day.")),
            (self.end, _l("Enter the last day.")),
        ):
            if field.data is None and not field.errors:
                field.errors = [missing]
            elif field.data is not None and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
                field.errors = [_l("Enter a date between 2000 and 2100.")]
        if self.start.errors or self.end.errors:
            return False
        if self.end.data < self.start.data:
            self.end.errors = [_l("The last day cannot be before the first day.")]
        elif (self.end.data - self.start.data).days + 1 > MAX_CUSTOM_DAYS:
            self.end.errors = [
                _l("Choose at most %(n)s days (a year).", n=MAX_CUSTOM_DAYS),
            ]
        return not self.end.errors

    def period(self, team: Team, now: datetime) -> Period:
        """The UTC bounds of a valid range (a link's range ends now)."""
        if self.key == "custom":
            start: date = self.start.data
            end: date = self.end.data + timedelta(days=1)
            return Period(
                "custom", local_to_utc(start, time(0), team), local_to_utc(end, time(0), team)
            )
        return Period(self.key, now - RANGES[self.key], now)


# An amount's characters once spaces are gone: digits, with "." or "," between or before them.
_AMOUNT = re.compile(r"[0-9.,]*[0-9][0-9.,]*")
# Thousands grouped by commas, as the app writes them: 1,000 and 12,345,678.
_GROUPED = re.compile(r"[1-9][0-9]{0,2}(?:,[0-9]{3})+")
_DIGITS = re.compile(r"[0-9]+")

NOT_AN_AMOUNT = _l(
    "Enter an amount in digits, like 1,500.00 or 1 500,50, "
    "or leave it empty to turn the warning off."
)
AMBIGUOUS_AMOUNT = _l(
    "Group thousands by three (1,000 or 1 000) and write decimals after one point or comma "
    "(99.50 or 99,50)."
)
TOO_MANY_DECIMALS = _l("Use at most two decimal places.")
CENT = Decimal("0.01")


def parse_amount(text: str) -> Decimal | None:
    """An amount as the app writes it ("1,000.00") or as Russian users type it ("1 000,50");
    None for an empty one. Raises ValueError with a message a person can act on otherwise.

    Spaces, non-breaking ones too, are ignored. With both "," and "." the commas group
    thousands. With commas only, groups of exactly three digits are thousands ("1,000",
    "12,345,678"), and a single comma followed by one or two digits is a decimal comma
    ("1,5"). Anything else is refused rather than guessed at: several points ("1.000.000"),
    other groupings ("1,00,000"), more than two decimals, exponents ("1e3"), "nan" or "inf".
    """
    cleaned = "".join(text.split())  # str.split() knows every Unicode space, NBSP included
    if not cleaned:
        return None
    negative = cleaned.startswith("-")
    number = cleaned[1:] if negative else cleaned
    if not _AMOUNT.fullmatch(number):
        raise ValueError(NOT_AN_AMOUNT)
    fraction: str | None = None
    if "." in number:
        whole, _point, fraction = number.partition(".")
    elif number.count(",") == 1 and not _GROUPED.fullmatch(number):
        whole, _comma, fraction = number.partition(",")
    else:
        whole = number
    if "," in whole and not _GROUPED.fullmatch(whole):
        raise ValueError(AMBIGUOUS_AMOUNT)
    if fraction is not None and not _DIGITS.fullmatch(fraction):
        raise ValueError(AMBIGUOUS_AMOUNT if "." in fraction or "," in fraction else NOT_AN_AMOUNT)
    if fraction is not None and len(fraction) > 2:
        raise ValueError(TOO_MANY_DECIMALS)
    amount = Decimal(f"{whole.replace(',', '') or '0'}.{fraction or '0'}").quantize(CENT)
    if negative:
        raise ValueError(_l("The amount cannot be negative."))
    if amount >= Decimal(10) ** 12:
        raise ValueError(_l("Enter an amount below 1,000,000,000,000."))
    return amount


class WarningForm(FlaskForm):
    """The team's low-balance warning: warn while a balance type is below an amount."""

    amount = StringField(
        _l("Warn when the balance is below"),
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    type = SelectField(_l("Balance"), choices=[], validate_choice=False)
    threshold: Decimal | None = None  # the amount read by validate_amount

    def validate_amount(self, field: StringField) -> None:
        try:
            self.threshold = parse_amount(field.data or "")
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc

    def validate_type(self, field: SelectField) -> None:
        if field.data not in [value for value, _label in field.choices]:
            raise ValidationError(_l("Choose one of the balances listed."))
