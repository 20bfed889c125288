"""Forms of the team pages: a new team, members and invitations, sending settings, deleting
the team."""

from __future__ import annotations

import phonenumbers
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from webapp import timezones
from webapp.formatting import (
    ENGLISH,
    PRICE_PLACES,
    collation_key,
    current_locale,
    region_name,
)
from webapp.forms.fields import AmountField
from webapp.models import Role, utcnow
from webapp.models.team import ROLE_LABELS

ROLE_CHOICES = [
    SelectChoice(Role.VIEWER.value, _l("Viewer: sees everything, changes nothing")),
    SelectChoice(Role.SENDER.value, _l("Sender: sends campaigns, manages contacts")),
    SelectChoice(Role.ADMIN.value, _l("Admin: also members, gateway and sender names")),
    SelectChoice(Role.OWNER.value, _l("Owner: everything, including billing and the team")),
]


class TeamForm(FlaskForm):
    name = StringField(
        _l("Team name"), validators=[DataRequired(_l("Give the team a name.")), Length(max=100)]
    )


class InviteForm(FlaskForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default=Role.SENDER.value)
    note = StringField(
        _l("Who is it for? (an email address, or a note for you)"), validators=[Length(max=254)]
    )


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=[SelectChoice(r.value, ROLE_LABELS[r]) for r in Role])


class DeleteTeamForm(FlaskForm):
    confirm_name = StringField(_l("Type the team's name to confirm"))


# The countries most of the product's teams send to, first in the region picker, in this order.
FIRST_REGIONS = ("RU", "KZ", "BY", "UZ", "KG", "TJ", "AM", "AZ")
FIRST_GROUP = _l("Most used")
OTHERS_GROUP = _l("All countries and regions")


def region_choices() -> list[SelectChoice]:
    """Every region a phone number may be read in, by its name in the page's language and its
    calling code (``Russia (+7)``, ``Россия (+7)``), the most used ones first, then the rest
    by name; each still the ISO code that is stored."""

    def choice(region: str, group: str) -> SelectChoice:
        name = f"{region_name(region)} (+{phonenumbers.country_code_for_region(region)})"
        search = f"{region} {ENGLISH.territories.get(region, '')}"  # "RU Russia" finds it too
        return SelectChoice(region, name, render_kw={"data-search": search}, optgroup=group)

    first, others = str(FIRST_GROUP), str(OTHERS_GROUP)
    rest = sorted(
        phonenumbers.SUPPORTED_REGIONS - set(FIRST_REGIONS),
        key=lambda region: collation_key(region_name(region)),
    )
    return [choice(r, first) for r in FIRST_REGIONS] + [choice(r, others) for r in rest]


def timezone_choices(current: str | None) -> list[SelectChoice]:
    """Every zone offered, by offset and place in the page's language (``(UTC+03:00) Москва``),
    and the one ``current``ly stored if it is no longer offered (webapp.timezones.choices)."""
    rows = timezones.choices(current_locale(), utcnow(), keep=current)
    return [SelectChoice(n, text, render_kw={"data-search": search}) for n, text, search in rows]


class SendingSettingsForm(FlaskForm):
    """The team's sending settings (admins): region, time zone, price per part, send rate."""

    phone_region = SelectField(_l("Phone region"), choices=[], validators=[DataRequired()])
    timezone = SelectField(_l("Time zone"), choices=[], validators=[DataRequired()])
    # Up to four decimals, as the column holds: a price may be a fraction of a kopeck.
    price_per_part = AmountField(
        _l("Price per message part, RUB"),
        places=PRICE_PLACES,
        required=_l("Enter the price per part."),
        not_an_amount=_l("Enter the price in digits, like 2.50 or 2,75."),
        validators=[NumberRange(min=0, max=1000, message=_l("Enter a price from 0 to 1,000 RUB."))],
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
        # In the page's language, and keeping a stored zone no longer offered (W-SU).
        self.phone_region.choices = region_choices()
        self.timezone.choices = timezone_choices(self.timezone.data)
