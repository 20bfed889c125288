"""The form of the team's sandbox account page: topping it up."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms.validators import ValidationError

from webapp.domain.sandbox_account import MAX_TOP_UP, too_much
from webapp.forms.fields import AmountField


class TopUpForm(FlaskForm):
    """An amount of RUB to add, typed as people type money ("1 000,50" too); a valid form holds
    it as :attr:`value`."""

    amount = AmountField(_l("Amount, RUB"), required=_l("Enter the amount to add."))
    value: Decimal | None = None

    def validate_amount(self, field: AmountField) -> None:
        if not Decimal(0) < field.data <= MAX_TOP_UP:
            raise ValidationError(too_much())
        self.value = field.data
