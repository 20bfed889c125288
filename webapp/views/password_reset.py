"""Forgot password: a one-time link, mailed when mail is configured, to set a new password."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from webapp.domain import accounts, password_resets
from webapp.extensions import db
from webapp.forms.auth import ForgotPasswordForm, ResetPasswordForm
from webapp.mail import MailError, mail_configured, reset_mail, send_mail
from webapp.security import end_session, public_link

bp = Blueprint("password_reset", __name__)


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot() -> ResponseReturnValue:
    """Ask for a reset link by email. The answer is the same, and as quick, whether or not
    the email has an account (the mail goes after the answer); without mail, the page says
    to ask an operator."""
    if not mail_configured(current_app.config):
        return render_template("password_reset/forgot.html", form=None)
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        return render_template("password_reset/forgot.html", form=form)
    response = make_response(
        render_template("password_reset/forgot.html", form=form, sent=form.email.data)
    )
    found = password_resets.request_reset(db.session, form.email.data)  # commits
    if found is not None:
        user, token = found
        message = reset_mail(user.email, public_link("password_reset.reset", token=token))
        response.call_on_close(partial(_send_quietly, current_app.config, user.email, message))
    return response


def _send_quietly(config: Mapping[str, Any], to: str, message: tuple[str, str]) -> None:
    """Mail once the answer is sent (no request, no database connection held)."""
    try:
        send_mail(config, to, *message)
    except MailError:
        # The page must not tell whether the email has an account, so only the log says it.
        logging.getLogger(__name__).exception("A password reset link could not be mailed")


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset(token: str) -> ResponseReturnValue:
    """Choose a new password with a reset link; every sign-in session of the account ends."""
    found = password_resets.find_reset(db.session, token)
    if found is None:
        return render_template("password_reset/invalid.html"), 404
    form = ResetPasswordForm()
    form.password_context = [found.user.email]
    if form.validate_on_submit():
        try:
            password_resets.reset_password(db.session, token, form.new_password.data)
        except password_resets.ResetError:
            return render_template("password_reset/invalid.html"), 404
        except accounts.AccountError as exc:
            form.new_password.errors.append(str(exc))
        else:
            end_session()  # whoever was signed in here is signed out like everywhere else
            flash(_("Your new password is set. Sign in with it."))
            return redirect(url_for("auth.login"))
    return render_template("password_reset/reset.html", form=form, email=found.user.email)
