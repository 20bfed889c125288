"""The team's gateway settings: the sandbox or an iQSMS account, and "test connection"."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from webapp import iqsms
from webapp.access import Permission, current_team, team_required
from webapp.domain import gateways
from webapp.extensions import db
from webapp.forms.gateway import GatewayForm
from webapp.models import GatewayMode

bp = Blueprint("gateway", __name__)


@bp.route("/team/gateway", methods=["GET", "POST"])
@team_required(Permission.MANAGE)
def settings() -> ResponseReturnValue:
    """Choose the gateway and enter the iQSMS login and password (kept encrypted; the password
    is never shown again: leaving it empty keeps the saved one)."""
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
        form.password.errors.append(error)
    return render_template("gateway/settings.html", form=form, team=team), (
        400 if form.errors else 200
    )


def _save(form: GatewayForm) -> str | None:
    """Save the form's gateway; a message for the password field when something is missing."""
    sandbox = form.mode.data == GatewayMode.SANDBOX
    if not sandbox and not form.login.data.strip():
        return _("Enter the iQSMS login.")
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
    except gateways.GatewaySettingsError:
        return _("Enter the iQSMS password.")
    return None


@bp.post("/team/gateway/test")
@team_required(Permission.MANAGE)
def test() -> ResponseReturnValue:
    """Call balance.json with what the form holds now (saved or not) and say what happened."""
    team = current_team()
    form = GatewayForm()
    if not form.validate_on_submit():
        result = gateways.ConnectionCheck(False, _("Check the fields above."))
    elif form.mode.data == GatewayMode.SANDBOX:
        if team.gateway_mode == GatewayMode.SANDBOX:
            client = gateways.client_for(
                current_app.config, team, timeout=gateways.interactive_timeout(current_app.config)
            )
            result = gateways.check_connection(client)
            db.session.commit()  # a sandbox account made just now stays made
        else:
            result = gateways.ConnectionCheck(True, _("Save to switch to the sandbox."))
    else:
        password = form.password.data or (
            gateways.decrypt_secret(current_app.config, team.gateway_password_encrypted)
            if team.gateway_mode == GatewayMode.IQSMS
            else ""
        )
        client = iqsms.Client(
            form.login.data.strip(),
            password,
            (form.url.data or "").strip() or iqsms.DEFAULT_BASE_URL,
            timeout=gateways.interactive_timeout(current_app.config),
            read_retries=0,
        )
        result = gateways.check_connection(client)
    return render_template("gateway/_connection.html", result=result)
