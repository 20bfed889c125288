"""Forms of signing up, signing in, the account page and password resets."""

from __future__ import annotations

from collections.abc import Sequence

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp, ValidationError

from webapp.domain.accounts import (
    EMAIL,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    AccountError,
    check_password_rules,
)


class StrongPassword:
    """The account rules for a new password (length, not common or guessable), with the
    reason shown beside the field. What the person typed in ``other_fields`` (email, team
    name), and the form's ``password_context`` (the signed-in person's email), count as
    guessable."""

    def __init__(self, other_fields: Sequence[str] = ()) -> None:
        self.other_fields = other_fields

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if field.errors:  # too short or long: said already
            return
        inputs = [str(form[name].data or "") for name in self.other_fields if name in form]
        inputs += list(getattr(form, "password_context", ()))
        try:
            check_password_rules(field.data or "", inputs)
        except AccountError as exc:
            raise ValidationError(str(exc)) from exc


def _email_field() -> StringField:
    return StringField(
        _l("Email"),
        validators=[
            DataRequired(_l("Enter your email address.")),
            Regexp(EMAIL, message=_l("Enter an email address like name@example.com.")),
            Length(max=254),
        ],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        render_kw={"autocomplete": "email", "type": "email"},
    )


def _new_password_field(
    label: str, missing: str, other_fields: Sequence[str] = ()
) -> PasswordField:
    return PasswordField(
        label,
        validators=[
            DataRequired(missing),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=MAX_PASSWORD_LENGTH,
                message=lazy_ngettext(
                    "Use %(low)d to %(num)d character.",
                    "Use %(low)d to %(num)d characters.",
                    MAX_PASSWORD_LENGTH,
                    low=MIN_PASSWORD_LENGTH,
                ),
            ),
            StrongPassword(other_fields),
        ],
        render_kw={"autocomplete": "new-password", "maxlength": MAX_PASSWORD_LENGTH},
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
    password = _new_password_field(
        _l("Password"), _l("Choose a password."), other_fields=("email", "team_name")
    )
    team_name = StringField(_l("Team name"), validators=[Optional(), Length(max=100)])


class ResetPasswordForm(FlaskForm):
    """A new password, typed twice (a reset link's page; the Account page adds the current)."""

    new_password = _new_password_field(_l("New password"), _l("Choose a new password."))
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[EqualTo("new_password", _l("The two new passwords are not the same."))],
        render_kw={"autocomplete": "new-password"},
    )


class ChangePasswordForm(ResetPasswordForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Enter your current password."))],
        render_kw={"autocomplete": "current-password"},
    )


class PhoneForm(FlaskForm):
    """One's own phone on the Account page: where test sends go by default."""

    phone = StringField(
        _l("Phone number"),
        validators=[Length(max=40, message=_l("A phone number is at most 40 characters."))],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        render_kw={"inputmode": "tel", "autocomplete": "tel"},
    )


class EndSessionForm(FlaskForm):
    """Sign out one of one's own sessions from the Account page."""

    session_id = HiddenField()


class ForgotPasswordForm(FlaskForm):
    email = _email_field()
