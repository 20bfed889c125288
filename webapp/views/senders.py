"""The team's sender names and their approval state, refreshed from the gateway."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm

from webapp.access import Permission, current_team, team_required
from webapp.domain import senders
from webapp.extensions import db

bp = Blueprint("senders", __name__)


@bp.get("/senders")
@team_required()
def index() -> ResponseReturnValue:
    """Sender names with their state and the gateway's note; which can send and why not."""
    rows = senders.names_of(db.session, current_team().id)
    return render_template(
        "senders/index.html", senders=rows, standing=senders.standing, form=FlaskForm()
    )


@bp.post("/senders/refresh")
@team_required(Permission.MANAGE)
def refresh() -> ResponseReturnValue:
    """Ask the gateway for the sender names now (a short total deadline, one call at a time
    per team) and show what changed."""
    result, error = senders.refresh(db.session, current_app.config, current_team(), current_user)
    db.session.commit()
    if result is None:
        flash(error, "error")
        return redirect(url_for("senders.index"))
    flash(
        _(
            "Sender names refreshed: %(total)d listed, %(added)d new, %(changed)d changed, "
            "%(removed)d removed.",
            total=result.total,
            added=result.added,
            changed=result.changed,
            removed=result.removed,
        )
    )
    if result.skipped:
        flash(
            ngettext(
                "%(num)d name was skipped: it is longer than %(length)d characters.",
                "%(num)d names were skipped: they are longer than %(length)d characters.",
                result.skipped,
                length=senders.NAME_LENGTH,
            ),
            "error",
        )
    return redirect(url_for("senders.index"))
