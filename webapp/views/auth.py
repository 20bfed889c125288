"""Signing up, in and out, and changing one's password."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select

from webapp.domain import accounts, teams
from webapp.extensions import db
from webapp.forms.auth import (
    ChangePasswordForm,
    EndSessionForm,
    PhoneForm,
    SignInForm,
    SignUpForm,
)
from webapp.models import User
from webapp.security import begin_session, end_session, safe_next_url
from webapp.views.notifications import settings_form

bp = Blueprint("auth", __name__)


def signup_open() -> bool:
    """Sign-up is open when enabled, and always for the very first person of an install."""
    if current_app.config["SIGNUP_ENABLED"]:
        return True
    return db.session.scalar(select(func.count()).select_from(User)) == 0


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> ResponseReturnValue:
    """Create an account and a team of one's own, on the sandbox, ready to send."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    if not signup_open():
        return render_template("auth/signup_closed.html"), 403
    form = SignUpForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(
                db.session, form.email.data, form.password.data, [form.team_name.data or ""]
            )
            name = form.team_name.data or _("%(email)s's team", email=user.email.split("@")[0])
            team = teams.create_team(db.session, current_app.config, name, user)
        except (accounts.AccountError, teams.TeamError) as exc:
            db.session.rollback()
            form.email.errors.append(str(exc))
        else:
            db.session.commit()
            begin_session(user)
            flash(_("Welcome! Your team is set up on the sandbox: you can send right away."))
            return redirect(url_for("main.index", team_id=team.id))
    return render_template("auth/signup.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Sign in with email and password; repeated failures make further tries wait."""
    if current_user.is_authenticated:
        return redirect(safe_next_url(request.args.get("next")) or url_for("main.index"))
    form = SignInForm(next=request.args.get("next", ""))
    status = 200
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(
                db.session,
                current_app.config,
                form.email.data,
                form.password.data,
                request.remote_addr or "",
            )
        except accounts.SignInRefused as refused:
            form.password.errors.append(refused.message)
            status = 429 if refused.retry_after else 200
        else:
            begin_session(user, remember=form.remember.data)
            return redirect(safe_next_url(form.next.data) or url_for("main.index"))
    return render_template("auth/login.html", form=form, signup_open=signup_open()), status


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Sign out (a POST, so another site cannot sign people out with a link), ending the
    sign-in session on the server."""
    end_session()
    flash(_("You are signed out."))
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account() -> ResponseReturnValue:
    """One's own account: change the password (which signs out every other session), and
    see one's sign-in sessions."""
    form = ChangePasswordForm()
    form.password_context = [current_user.email]
    if form.validate_on_submit():
        try:
            accounts.change_password(
                db.session, current_user, form.current_password.data, form.new_password.data
            )
        except accounts.AccountError as exc:
            form.current_password.errors.append(str(exc))
        else:
            flash(_("Your password is changed. Other devices have been signed out."))
            return redirect(url_for("auth.account"))
    return _account_page(form=form)


@bp.post("/account/phone")
@login_required
def set_phone() -> ResponseReturnValue:
    """One's own phone (test sends go there by default), read in the current team's region;
    empty forgets it. A number that cannot be read is refused beside the field, as typed."""
    phone_form = PhoneForm()
    if phone_form.validate_on_submit():
        region = g.team.phone_region if g.get("team") is not None else "RU"
        try:
            phone = accounts.set_phone(db.session, current_user, phone_form.phone.data, region)
        except accounts.AccountError as exc:
            phone_form.phone.errors.append(str(exc))
        else:
            flash(_("Your phone is saved.") if phone else _("Your phone is removed."))
            return redirect(url_for("auth.account"))
    return _account_page(phone_form=phone_form), 400


def _account_page(
    form: ChangePasswordForm | None = None, phone_form: PhoneForm | None = None
) -> str:
    if phone_form is None:
        own = f"+{current_user.phone}" if current_user.phone else ""
        phone_form = PhoneForm(formdata=None, phone=own)
    return render_template(
        "auth/account.html",
        form=form or ChangePasswordForm(formdata=None),
        phone_form=phone_form,
        sessions=accounts.sessions_of(db.session, current_user),
        this_session=accounts.current_session_id(db.session, current_user),
        end_form=EndSessionForm(),
        notify_form=settings_form(formdata=None),
    )


@bp.post("/account/sessions/end")
@login_required
def end_other_session() -> ResponseReturnValue:
    """Sign out one of one's own sign-in sessions (another device, a forgotten browser)."""
    form = EndSessionForm()
    if form.validate_on_submit() and accounts.end_session_by_id(
        db.session, current_user, form.session_id.data
    ):
        flash(_("That session is signed out."))
    else:
        flash(_("That session had already ended."))
    return redirect(url_for("auth.account"))
