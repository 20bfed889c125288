"""Form fields that several areas' forms share: an amount of money or another decimal.

Every money or decimal field of the app is an :class:`AmountField` (the price per part, the
low-balance threshold, the sandbox top-up): a text box with a decimal keyboard, never
``<input type=number>``, which drops or reinterprets a Russian keyboard's decimal comma
("2,75" became 275). What it reads is :func:`webapp.formatting.parse_amount`'s rule.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from babel.numbers import get_decimal_symbol
from wtforms import Form, StringField
from wtforms.validators import StopValidation

from webapp.formatting import NotAnAmount, current_locale, parse_amount, plain_money


class AmountField(StringField):
    """An amount typed as people type them: "2,75", "2.75", "1 000,50", "1,000.00".

    ``data`` is the :class:`~decimal.Decimal` read (to ``places`` decimals), or None when the
    box is empty. What cannot be read is refused with the reason beside the field (the
    field's own ``not_an_amount`` example, when it is not written like an amount at all), and
    is rendered back exactly as typed; ``required`` is the message for an empty box, when one
    is required. The form's other validators (a range) run only on an amount that was read.
    """

    def __init__(
        self,
        label: Any = None,
        validators: Any = None,
        *,
        places: int = 2,
        required: Any = None,
        not_an_amount: Any = None,
        **kwargs: Any,
    ) -> None:
        render_kw = {"inputmode": "decimal", "autocomplete": "off", **kwargs.pop("render_kw", {})}
        super().__init__(label, validators, render_kw=render_kw, **kwargs)
        self.places = places
        self.required = required
        self.not_an_amount = not_an_amount

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            return
        self.data = None
        try:
            self.data = parse_amount(str(valuelist[0]), self.places)
        except NotAnAmount as exc:
            raise ValueError(str(self.not_an_amount or exc)) from exc
        except ValueError as exc:
            raise ValueError(str(exc)) from exc

    def pre_validate(self, form: Form) -> None:
        if self.process_errors:
            raise StopValidation()  # the reason is already the field's error; no range on it
        if self.data is None and self.required:
            raise StopValidation(str(self.required))
        if self.data is None:
            raise StopValidation()  # an empty, optional amount: nothing to check

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])  # as typed, readable or not
        if isinstance(self.data, (Decimal, int)):
            return shown_amount(Decimal(self.data), self.places)
        return str(self.data or "")


def shown_amount(value: Decimal, places: int = 2) -> str:
    """An amount as a box shows it for the reader to edit: :func:`plain_money` with the
    language's decimal mark ("2.50", "2,50" in Russian), no thousands separators; what
    :func:`parse_amount` reads back. Three decimals after a comma ("2,755") could be thousands,
    which parse_amount refuses: written to four then ("2,7550")."""
    whole, _point, fraction = plain_money(value, places).partition(".")
    mark = get_decimal_symbol(current_locale())
    if mark == "," and len(fraction) == 3:
        fraction += "0"
    return f"{whole}{mark}{fraction}"
