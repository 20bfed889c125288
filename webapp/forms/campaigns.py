"""Forms of the composer, the confirmation step and the team's sending settings."""

from __future__ import annotations

import warnings
from functools import cache
from zoneinfo import available_timezones

import phonenumbers
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class ComposerForm(FlaskForm):
    """Everything a draft holds. Choices of lists and senders are set by the view; the
    composer's check, not the form, decides what stops sending, so nothing typed is refused."""

    name = StringField(_l("Campaign name"), validators=[Length(max=200)], filters=[_strip])
    list_ids = SelectMultipleField(
        _l("Contact lists"),
        coerce=int,
        choices=[],
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    pasted_numbers = TextAreaField(
        _l("Numbers"),
        validators=[Length(max=200_000, message=_l("Paste at most 200,000 characters."))],
        render_kw={"rows": 4, "spellcheck": "false", "autocomplete": "off"},
    )
    text = TextAreaField(
        _l("Message"),
        validators=[Length(max=5_000, message=_l("A message can be at most 5,000 characters."))],
        render_kw={"rows": 6},
    )
    sender = SelectField(_l("Sender name"), choices=[], validate_choice=False)
    flash = BooleanField(_l("Flash SMS: shown at once on the screen, not saved on the phone"))
    wapurl = StringField(
        _l("WAP-push link (optional)"),
        validators=[Optional(), Length(max=300)],
        filters=[_strip],
        render_kw={"placeholder": "wap.example.ru", "autocomplete": "off"},
    )
    when = RadioField(
        _l("When"),
        choices=[SelectChoice("now", _l("Send now")), SelectChoice("at", _l("At a date and time"))],
        default="now",
    )
    send_date = DateField(
        _l("Date"), validators=[Optional()], format="%Y-%m-%d", render_kw={"type": "date"}
    )
    send_time = TimeField(
        _l("Time"), validators=[Optional()], format="%H:%M", render_kw={"type": "time"}
    )


class ConfirmForm(FlaskForm):
    """The send button: it carries what the person confirmed, to refuse a changed draft."""

    version = HiddenField()
    recipients = HiddenField()


@cache
def _timezones() -> list[str]:
    # zoneinfo also looks for the tzdata package, which some installed import hooks warn about.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImportWarning)
        return sorted(available_timezones())


def _region_choices() -> list[SelectChoice]:
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    return [SelectChoice(r, f"{r} (+{phonenumbers.country_code_for_region(r)})") for r in regions]


class SendingSettingsForm(FlaskForm):
    """The team's sending settings (admins): region, time zone, price per part, send rate."""

    phone_region = SelectField(
        _l("Phone region"), choices=_region_choices(), validators=[DataRequired()]
    )
    timezone = SelectField(_l("Time zone"), choices=[], validators=[DataRequired()])
    price_per_part = DecimalField(
        _l("Price per message part, RUB"),
        places=4,
        validators=[
            InputRequired(_l("Enter the price per part.")),
            NumberRange(min=0, max=1000, message=_l("Enter a price from 0 to 1,000 RUB.")),
        ],
    )
    send_rate = IntegerField(
        _l("Send rate, messages per second at most"),
        validators=[
            InputRequired(_l("Enter the send rate.")),
            NumberRange(min=1, max=10_000, message=_l("Enter a rate from 1 to 10,000.")),
        ],
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.timezone.choices = _timezones()
