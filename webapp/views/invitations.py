"""Invitation links: anyone with a valid link may join its team, signing up if need be."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from webapp.domain import accounts, teams
from webapp.extensions import db
from webapp.forms.auth import SignUpForm
from webapp.models import Invitation
from webapp.security import begin_session

bp = Blueprint("invitations", __name__)


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept(token: str) -> ResponseReturnValue:
    """Show what the invitation offers; join (signing up first when signed out)."""
    invitation = teams.find_invitation(db.session, token)
    if invitation is None:
        return render_template("invitations/invalid.html"), 404
    if current_user.is_authenticated:
        if request.method == "POST":  # the app-wide CSRF check has passed
            return _join(invitation, current_user)
        return render_template("invitations/accept.html", invitation=invitation, form=FlaskForm())
    form = SignUpForm()
    del form.team_name  # joining a team, not creating one
    form.password_context = [invitation.team.name]
    if form.validate_on_submit():
        try:
            user = accounts.create_user(
                db.session, form.email.data, form.password.data, form.password_context
            )
        except accounts.AccountError as exc:
            form.email.errors.append(str(exc))
        else:
            db.session.commit()  # the account exists even if joining fails below
            begin_session(user)
            return _join(invitation, user)
    return render_template("invitations/accept.html", invitation=invitation, form=form)


def _join(invitation: Invitation, user) -> ResponseReturnValue:
    try:
        membership = teams.accept_invitation(db.session, invitation, user)
    except teams.TeamError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("main.index"))
    db.session.commit()
    session["team_id"] = membership.team_id
    flash(
        _("You joined %(team)s as %(role)s.", team=membership.team.name, role=membership.role_label)
    )
    return redirect(url_for("main.index", team_id=membership.team_id))
