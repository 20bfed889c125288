"""Forms of two-factor sign-in: enrolment, the second sign-in step, turning it off, new
recovery codes, and the team's requirement."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length


class EnrolForm(FlaskForm):
    code = StringField(
        _l("Code from your app"),
        validators=[DataRequired(_l("Enter the 6-digit code your app shows.")), Length(max=16)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class VerifyForm(FlaskForm):
    code = StringField(
        _l("Code from your app, or a recovery code"),
        validators=[DataRequired(_l("Enter the code your app shows.")), Length(max=32)],
        render_kw={"autocomplete": "one-time-code", "autofocus": True},
    )
    next = HiddenField()


class ConfirmForm(FlaskForm):
    """Turning two-factor sign-in off, or new recovery codes: a current code or the password."""

    code_or_password = PasswordField(
        _l("A current code from your app, or your password"),
        validators=[DataRequired(_l("Enter a current code or your password.")), Length(max=128)],
        render_kw={"autocomplete": "current-password"},
    )


class RecoveryCodesDownloadForm(FlaskForm):
    codes = FieldList(HiddenField(), max_entries=10)


class TeamRequirementForm(FlaskForm):
    required = BooleanField(_l("Require two-factor sign-in of every member"))
