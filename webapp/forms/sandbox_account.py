"""The form of the team's sandbox account page: topping it up."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import ValidationError

from webapp.domain.sandbox_account import MAX_TOP_UP, too_much
from webapp.formatting import parse_amount


class TopUpForm(FlaskForm):
    """An amount of RUB to add, typed as people type money ("1 000,50" too); a valid form holds
    it as :attr:`value`."""

    amount = StringField(
        _l("Amount, RUB"),
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    value: Decimal | None = None

    def validate_amount(self, field: StringField) -> None:
        try:
            value = parse_amount(field.data or "")
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
        if value is None or not Decimal(0) < value <= MAX_TOP_UP:
            raise ValidationError(too_much())
        self.value = value
