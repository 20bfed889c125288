"""Forms of the accounts and teams pages (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, DataRequired, EqualTo, Length, Optional, Regexp

from webapp.accounts import MIN_PASSWORD_LENGTH
from webapp.models import GatewayMode, Role

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
ROLE_CHOICES = [
    SelectChoice(Role.VIEWER.value, _l("Viewer: sees everything, changes nothing")),
    SelectChoice(Role.SENDER.value, _l("Sender: sends campaigns, manages contacts")),
    SelectChoice(Role.ADMIN.value, _l("Admin: also members, gateway and sender names")),
    SelectChoice(Role.OWNER.value, _l("Owner: everything, including billing and the team")),
]


def _email_field() -> StringField:
    return StringField(
        _l("Email"),
        validators=[
            DataRequired(_l("Enter your email address.")),
            Regexp(EMAIL_PATTERN, message=_l("Enter an email address like name@example.com.")),
            Length(max=254),
        ],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        render_kw={"autocomplete": "email", "type": "email"},
    )


def _new_password_field(label: str, missing: str) -> PasswordField:
    return PasswordField(
        label,
        validators=[
            DataRequired(missing),
            Length(
                min=MIN_PASSWORD_LENGTH,
                message=_l("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
            ),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class SignInForm(FlaskForm):
    email = _email_field()
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password."))],
        render_kw={"autocomplete": "current-password"},
    )
    remember = BooleanField(_l("Keep me signed in on this device"))
    next = HiddenField()


class SignUpForm(FlaskForm):
    email = _email_field()
    password = _new_password_field(_l("Password"), _l("Choose a password."))
    team_name = StringField(_l("Team name"), validators=[Optional(), Length(max=100)])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Enter your current password."))],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = _new_password_field(_l("New password"), _l("Choose a new password."))
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[EqualTo("new_password", _l("The two new passwords are not the same."))],
        render_kw={"autocomplete": "new-password"},
    )


class TeamForm(FlaskForm):
    name = StringField(
        _l("Team name"), validators=[DataRequired(_l("Give the team a name.")), Length(max=100)]
    )


class InviteForm(FlaskForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default=Role.SENDER.value)
    note = StringField(_l("Who is it for? (a note for you)"), validators=[Length(max=254)])


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=[SelectChoice(r.value, r.value.title()) for r in Role])


class DeleteTeamForm(FlaskForm):
    confirm_name = StringField(_l("Type the team's name to confirm"))


class GatewayForm(FlaskForm):
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
        validators=[Optional(), URL(require_tld=False, message=_l("Enter a full URL."))],
    )
