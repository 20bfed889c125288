"""Forms of the composer and the confirmation step."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional
from wtforms.widgets import CheckboxInput, ListWidget

from webapp import timezones
from webapp.domain import drafts
from webapp.models import Campaign, ContactList, Team


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class ComposerForm(FlaskForm):
    """Everything a draft holds. Choices of lists and senders are set by the view; the
    composer's check, not the form, decides what stops sending, so nothing typed is refused."""

    # No length validators: they would render ``maxlength``, and the browser would cut what is
    # typed or pasted without a word. The composer's check states each limit beside its field
    # and reports what is past it (webapp.domain.composer); the request's size bounds them.
    name = StringField(_l("Campaign name"), filters=[_strip])
    list_ids = SelectMultipleField(
        _l("Contact lists"),
        coerce=int,
        choices=[],
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    pasted_numbers = TextAreaField(
        _l("Numbers"), render_kw={"rows": 4, "spellcheck": "false", "autocomplete": "off"}
    )
    text = TextAreaField(_l("Message"), render_kw={"rows": 6})
    sender = SelectField(_l("Sender name"), choices=[], validate_choice=False)
    flash = BooleanField(_l("Flash SMS: shown at once on the screen, not saved on the phone"))
    wapurl = StringField(
        _l("WAP-push link (optional)"),
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
    # The draft's revision this form was filled from (drafts.version): a save over a newer
    # one, made in another tab, is refused. Kept current by each autosave's answer.
    version = HiddenField()
    # This composer page, among the tabs open on the draft (see drafts.save_draft).
    tab = HiddenField()

    @classmethod
    def of(cls, campaign: Campaign, team: Team) -> ComposerForm:
        """The form as a stored draft fills it (its time in the team's zone)."""
        local = timezones.in_team_zone(campaign.send_at, team)
        data = {
            "name": campaign.name,
            "list_ids": list(campaign.list_ids or []),
            "pasted_numbers": campaign.pasted_numbers,
            "text": campaign.text,
            "sender": campaign.sender or "",
            "flash": campaign.flash,
            "wapurl": campaign.wapurl or "",
            "when": "at" if local else "now",
            "send_date": local.date() if local else None,
            "send_time": local.time().replace(second=0, microsecond=0) if local else None,
            "version": drafts.version(campaign),
            "tab": secrets.token_hex(8),
        }
        return cls(formdata=None, data=data)

    def offer(self, lists: Iterable[ContactList], sender_names: Iterable[str]) -> None:
        """The lists and the sender names (those that can send) to choose from."""
        self.list_ids.choices = [(row.id, row.name) for row in lists]
        self.sender.choices = [("", _("Choose a sender name…"))] + [(n, n) for n in sender_names]

    def draft(self, team: Team) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """What the draft stores of this validated form (whatever it holds: nothing typed is
        lost), and the errors of fields that could not be read, by composer section."""
        errors: dict[str, list[str]] = {}
        send_at: datetime | None = None
        if self.when.data == "at":
            if self.send_date.errors or self.send_time.errors:
                errors["when"] = [_("Enter the date as YYYY-MM-DD and the time as HH:MM.")]
            elif self.send_date.data is None or self.send_time.data is None:
                errors["when"] = [_("Choose the date and the time to send at, or choose Send now.")]
            else:
                send_at = timezones.local_to_utc(self.send_date.data, self.send_time.data, team)
        values = {
            "name": self.name.data or "",
            "list_ids": [int(i) for i in (self.list_ids.data or [])],
            "pasted_numbers": self.pasted_numbers.data or "",
            "text": self.text.data or "",
            "sender": self.sender.data or None,
            "flash": bool(self.flash.data),
            "wapurl": self.wapurl.data or None,
            "send_at": send_at,
        }
        return values, errors


class ConfirmForm(FlaskForm):
    """The send button: it carries what the person confirmed, to refuse a changed draft."""

    version = HiddenField()
    recipients = HiddenField()
    # Required when the estimate is more than the account has (campaigns.commit); its label
    # states the shortfall (campaigns/_funds.html).
    send_anyway = BooleanField(_l("Send anyway"))

    def expected(self) -> int:
        """The recipient count the person confirmed (-1 when the page sent none)."""
        try:
            return int(self.recipients.data or -1)
        except ValueError:
            return -1
