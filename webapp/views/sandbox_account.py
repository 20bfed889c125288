"""The team's own sandbox account: its balance, the messages it received, and topping it up.

Only owners and admins see it (it shows every phone and text the team sent), and only for a
team on the sandbox; the account is always the team's own (its login comes from the team row).
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from webapp.access import Permission, current_team, team_required
from webapp.domain import sandbox_account
from webapp.extensions import db
from webapp.formatting import money
from webapp.forms.sandbox_account import TopUpForm
from webapp.models import Team

bp = Blueprint("sandbox_account", __name__)


@bp.get("/team/gateway/sandbox")
@team_required(Permission.MANAGE)
def page() -> ResponseReturnValue:
    """The sandbox account's balance, the messages it received (newest first, a page at a
    time: ``?before=`` the last one shown), and the top-up form."""
    if not sandbox_account.on_sandbox(current_team()):
        return _not_on_sandbox()
    return _render(TopUpForm(), 200)


@bp.post("/team/gateway/sandbox/top-up")
@team_required(Permission.MANAGE)
def top_up() -> ResponseReturnValue:
    """Add the amount typed (at most MAX_TOP_UP RUB) to the sandbox account's balance."""
    if not sandbox_account.on_sandbox(current_team()):
        return _not_on_sandbox()
    team = _sandbox_team()
    form = TopUpForm()
    if not form.validate_on_submit():
        return _render(form, 400)
    try:
        balance = sandbox_account.top_up(
            db.session, current_app.config, team, current_user, form.value
        )
    except sandbox_account.SandboxAccountError as exc:
        form.amount.errors.append(str(exc))
        return _render(form, 400)
    db.session.commit()
    flash(
        _(
            "Added %(amount)s. The balance is %(balance)s.",
            amount=money(form.value, "RUB"),
            balance=money(balance, "RUB"),
        )
    )
    return redirect(url_for("sandbox_account.page"))


def _not_on_sandbox() -> ResponseReturnValue:
    """A team on its own iQSMS account has no sandbox account: back to its gateway settings."""
    flash(_("This team sends through its own iQSMS account; it has no sandbox account."))
    return redirect(url_for("gateway.settings"))


def _sandbox_team() -> Team:
    """The current team, when it is on the sandbox; else 404 (it has no sandbox account)."""
    team = current_team()
    if not sandbox_account.on_sandbox(team):
        abort(404)
    return team


def _render(form: TopUpForm, status: int) -> ResponseReturnValue:
    team = _sandbox_team()
    before = request.args.get("before", type=int)
    account, failure = None, None
    try:
        account = sandbox_account.read_account(current_app.config, team, before)
    except sandbox_account.SandboxAccountError as exc:
        failure = str(exc)
    db.session.commit()  # an account made again just now stays made
    return render_template(
        "sandbox_account/page.html",
        team=team,
        account=account,
        failure=failure,
        form=form,
        before=before,
        max_top_up=sandbox_account.MAX_TOP_UP,
    ), status
