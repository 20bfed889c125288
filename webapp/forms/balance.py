"""Forms of the balance page: the chart's range and the low-balance warning."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Form, HiddenField, SelectField, StringField
from wtforms.validators import ValidationError
from wtforms.widgets import DateInput

from webapp import periods
from webapp.forms.fields import AmountField
from webapp.models import Team

# The ranges offered as links (their keys are the page's URLs), as presets of webapp/periods.py.
RANGES = {"day": "last-24-hours", "week": "last-7-days", "month": "last-30-days"}
DEFAULT_RANGE = "week"


class DayField(StringField):
    """A day typed as YYYY-MM-DD (what <input type=date> sends); webapp/periods.py reads it."""

    widget = DateInput()

    def _value(self) -> str:
        # <input type=date> takes YYYY-MM-DD or nothing: anything else the browser drops with
        # a console warning, so only a day is rendered (the error says what is wrong).
        text = (self.data or "").strip()
        return text if periods.is_day(text) else ""


class RangeForm(Form):
    """The chart's range, read from the query string: a link (day, week, month) or a custom
    range of whole days in the team's time zone, both days included. A valid form holds the
    range as :attr:`period`."""

    range = HiddenField(default=DEFAULT_RANGE)
    start = DayField(_l("From"), name="from")
    end = DayField(_l("To"), name="to")
    period: periods.Period | None = None

    @property
    def key(self) -> str:
        return self.range.data if self.range.data in (*RANGES, periods.CUSTOM) else DEFAULT_RANGE

    def read(self, team: Team, now: datetime) -> bool:
        """Read the range into :attr:`period` (False, with the fields' errors, if it cannot
        be). A link's range shows its days in the date fields, ready to be changed."""
        name = RANGES.get(self.key, periods.CUSTOM)
        try:
            typed = (self.start.data or "", self.end.data or "")
            self.period = periods.choose(team, now, name, *typed)
        except periods.PeriodError as exc:
            for key, code in exc.problems.items():
                field = self.start if key == "from" else self.end
                field.errors = [periods.problem(key, code)]
            return False
        if self.key != periods.CUSTOM:
            # Stray dates beside a link's range are not an error: the link wins.
            self.start.data = self.period.first.isoformat()
            self.end.data = self.period.last.isoformat()
        return True


class WarningForm(FlaskForm):
    """The team's low-balance warning: warn while a balance type is below an amount."""

    amount = AmountField(
        _l("Warn when the balance is below"),
        not_an_amount=_l(
            "Enter an amount in digits, like 1,500.00 or 1 500,50, "
            "or leave it empty to turn the warning off."
        ),
    )
    type = SelectField(_l("Balance"), choices=[], validate_choice=False)

    @property
    def threshold(self) -> Decimal | None:
        """The amount read (None: the warning off)."""
        return self.amount.data

    def validate_type(self, field: SelectField) -> None:
        if field.data not in [value for value, _label in field.choices]:
            raise ValidationError(_l("Choose one of the balances listed."))
