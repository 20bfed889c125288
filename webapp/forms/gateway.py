"""The gateway settings form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, Length, Optional

from webapp.models import GatewayMode


class GatewayForm(FlaskForm):
    """The gateway and its account; where the URL may point is the domain's rule
    (``gateways.url_problem``), checked by the view."""

    mode = RadioField(
        _l("Gateway"),
        choices=[
            SelectChoice(GatewayMode.SANDBOX.value, _l("Built-in sandbox (no real messages)")),
            SelectChoice(GatewayMode.IQSMS.value, _l("My iQSMS account")),
        ],
        default=GatewayMode.SANDBOX.value,
    )
    login = StringField(_l("iQSMS login"), validators=[Length(max=100)])
    password = PasswordField(
        _l("iQSMS password"),
        validators=[Length(max=200)],
        render_kw={"autocomplete": "new-password"},
    )
    url = StringField(
        _l("API base URL"),
        validators=[
            Optional(),
            Length(max=300),
            URL(require_tld=False, message=_l("Enter a full URL.")),
        ],
    )
