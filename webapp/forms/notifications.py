"""The form of a person's notification choices: for each kind, app and mail, app only, or off."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.validators import InputRequired

from webapp.models import Delivery, NotificationKind

KIND_LABELS = {
    NotificationKind.FINISHED: _l("A campaign has sent every message"),
    NotificationKind.PAUSED: _l("A campaign is paused (empty balance, gateway failing)"),
    NotificationKind.BALANCE_LOW: _l(
        "The balance falls below the warning threshold (owners and admins)"
    ),
}


class NotificationSettingsForm(FlaskForm):
    """One choice per kind; by mail only where mail is set up (``mail``)."""

    finished = SelectField(KIND_LABELS[NotificationKind.FINISHED], validators=[InputRequired()])
    paused = SelectField(KIND_LABELS[NotificationKind.PAUSED], validators=[InputRequired()])
    balance_low = SelectField(
        KIND_LABELS[NotificationKind.BALANCE_LOW], validators=[InputRequired()]
    )

    def __init__(self, *args, mail: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if mail:
            choices = [
                (Delivery.APP_AND_MAIL.value, _l("In the app and by email")),
                (Delivery.APP.value, _l("In the app only")),
                (Delivery.OFF.value, _l("Off")),
            ]
        else:
            # Without mail, "on" is kept as app and mail: once mail is set up, it comes too.
            choices = [(Delivery.APP_AND_MAIL.value, _l("On")), (Delivery.OFF.value, _l("Off"))]
        for kind in NotificationKind:
            field = self[kind.value]
            field.choices = choices
            field.validate_choice = True
            if field.data not in {value for value, _label in choices} and not self.is_submitted():
                field.data = Delivery.APP_AND_MAIL.value

    def choices(self) -> dict[NotificationKind, Delivery]:
        """The kinds and what was chosen for each."""
        return {kind: Delivery(self[kind.value].data) for kind in NotificationKind}
