"""The team's gateway settings: the sandbox or an iQSMS account, and "test connection"."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from webapp.access import Permission, current_team, team_required
from webapp.domain import gateway_calls, gateways
from webapp.extensions import db
from webapp.forms.gateway import GatewayForm
from webapp.models import GatewayMode

bp = Blueprint("gateway", __name__)


@bp.route("/team/gateway", methods=["GET", "POST"])
@team_required(Permission.MANAGE)
def settings() -> ResponseReturnValue:
    """Choose the gateway and enter the iQSMS login and password (kept encrypted; the password
    is never shown again: leaving it empty keeps the saved one, as long as the URL and login
    stay the same)."""
    team = current_team()
    form = GatewayForm(
        mode=team.gateway_mode,
        login=team.gateway_login if team.gateway_mode == GatewayMode.IQSMS else "",
        url=team.gateway_url,
    )
    if form.validate_on_submit():
        error = _save(form)
        if error is None:
            db.session.commit()
            flash(_("Gateway settings saved."))
            return redirect(url_for("gateway.settings"))
        field, message = error
        getattr(form, field).errors.append(message)
    return render_template("gateway/settings.html", form=form, team=team), (
        400 if form.errors else 200
    )


def _save(form: GatewayForm) -> tuple[str, str] | None:
    """Save the form's gateway; (field, message) when something is missing or refused."""
    sandbox = form.mode.data == GatewayMode.SANDBOX
    if not sandbox and not form.login.data.strip():
        return "password", _("Enter the iQSMS login.")
    try:
        gateways.change_gateway(
            db.session,
            current_app.config,
            current_team(),
            current_user,
            sandbox=sandbox,
            url=form.url.data or "",
            login=form.login.data,
            password=form.password.data or None,
        )
    except gateways.GatewaySettingsError as exc:
        db.session.rollback()
        return exc.field, str(exc)
    return None


@bp.post("/team/gateway/test")
@team_required(Permission.MANAGE)
def test() -> ResponseReturnValue:
    """Call balance.json with what the form holds now (saved or not) and say what happened.
    The saved password is used only for the URL and login it was saved with."""
    team = current_team()
    config = current_app.config
    form = GatewayForm()
    if not form.validate_on_submit():
        result = gateways.ConnectionCheck(False, _("Check the fields above."))
    elif form.mode.data == GatewayMode.SANDBOX:
        if team.gateway_mode == GatewayMode.SANDBOX:
            result = gateway_calls.test_connection(db.session, config, team, None)
        else:
            result = gateways.ConnectionCheck(True, _("Save to switch to the sandbox."))
    else:
        url = gateways.normal_url(form.url.data or "")
        login = form.login.data.strip()
        password = form.password.data or gateways.saved_password_for(config, team, url, login)
        problem = gateways.url_problem(config, url)
        if problem:
            result = gateways.ConnectionCheck(False, problem)
        elif not password:
            result = gateways.ConnectionCheck(
                False, _("Enter the iQSMS password to test this URL and login.")
            )
        else:
            credentials = gateway_calls.Credentials(url, login, password)
            result = gateway_calls.test_connection(db.session, config, team, credentials)
    db.session.commit()
    return render_template("gateway/_connection.html", result=result)
