"""A person's notifications across their teams: the header's unread count, the list (newest
first, paged), opening one (it is marked read and leads to its campaign or the balance page),
marking one or all read, and the choices of which kinds they get."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from webapp import timezones
from webapp.access import switch_team
from webapp.domain import notifications
from webapp.extensions import db
from webapp.formatting import count, team_time
from webapp.forms.notifications import NotificationSettingsForm
from webapp.htmx import htmx_details
from webapp.mail import mail_configured
from webapp.models import Notification, utcnow
from webapp.paging import next_key

bp = Blueprint("notifications", __name__)


@bp.app_context_processor
def _header_count() -> dict:
    return {"unread_notifications": unread_notifications}


def unread_notifications() -> int:
    """The signed-in person's unread count for the header (none while held at the code step,
    where the header shows nothing of their teams)."""
    if not current_user.is_authenticated or g.get("two_factor_pending"):
        return 0
    return notifications.unread_count(db.session, current_user.id)


@bp.get("/notifications")
@login_required
def index() -> ResponseReturnValue:
    """The person's notifications of every team they are in, newest first, a page at a time
    (``?before=<id>`` continues after the page's last one)."""
    before = request.args.get("before", type=int)
    rows, more = notifications.page(db.session, current_user.id, before)
    return render_template(
        "notifications/index.html",
        rows=rows,
        next_before=next_key(rows, more),
        first_page=before is None,
        **_row_helpers(),
    )


@bp.get("/notifications/<int:notification_id>")
@login_required
def follow(notification_id: int) -> ResponseReturnValue:
    """Open one: it is marked read, its team becomes the current one, and the campaign's page
    (or the balance page) follows. The mailed links lead here."""
    notification = _own(notification_id)
    notifications.mark_read(db.session, notification, utcnow())
    if g.team is None or g.team.id != notification.team_id:
        switch_team(notification.team_id)
    return redirect(target(notification))


@bp.post("/notifications/<int:notification_id>/read")
@login_required
def read(notification_id: int) -> ResponseReturnValue:
    """Mark one read; htmx gets the row again (and the header's count, out of band)."""
    notification = _own(notification_id)
    notifications.mark_read(db.session, notification, utcnow())
    if htmx_details().wants_fragment:
        return render_template(
            "notifications/_row.html", n=notification, oob=True, **_row_helpers()
        )
    return redirect(url_for("notifications.index"), 303)


@bp.post("/notifications/read")
@login_required
def read_all() -> ResponseReturnValue:
    """Mark every notification read."""
    done = notifications.mark_all_read(db.session, current_user.id, utcnow())
    flash(
        ngettext(
            "%(count)s notification marked read.",
            "%(count)s notifications marked read.",
            done,
            count=count(done),
        )
        if done
        else _("Nothing was unread.")
    )
    return redirect(url_for("notifications.index"), 303)


@bp.route("/account/notifications", methods=["GET", "POST"])
@login_required
def settings() -> ResponseReturnValue:
    """Which kinds the person gets, and which by email (where mail is set up). The account page
    shows this form too; htmx swaps it in place."""
    form = settings_form()
    saved = False
    if form.validate_on_submit():
        notifications.set_choices(db.session, current_user, form.choices())
        saved = True
        if not htmx_details().wants_fragment:
            flash(_("Your notification choices are saved."))
            return redirect(url_for("auth.account") + "#notifications", 303)
    template = (
        "notifications/_settings.html"
        if htmx_details().wants_fragment
        else "notifications/settings.html"
    )
    return render_template(template, notify_form=form, saved=saved)


def settings_form(**kwargs: Any) -> NotificationSettingsForm:
    """The person's choices as a form (the account page renders it too, ``formdata=None``)."""
    chosen = notifications.choices_of(db.session, current_user.id)
    return NotificationSettingsForm(
        **kwargs,
        data={kind.value: delivery.value for kind, delivery in chosen.items()},
        mail=mail_configured(current_app.config),
    )


def target(notification: Notification) -> str:
    """Where a notification leads: its campaign's page, or its team's balance page."""
    if notification.campaign_id is not None:
        return url_for(
            "campaigns.show", campaign_id=notification.campaign_id, team_id=notification.team_id
        )
    return url_for("balance.index", team_id=notification.team_id)


def _own(notification_id: int) -> Notification:
    notification = notifications.one_of(db.session, current_user.id, notification_id)
    if notification is None:
        abort(404)
    return notification


def _row_helpers() -> dict:
    return {
        "headline": notifications.headline,
        "shown_at": lambda n: team_time(n.created_at, n.team),
        "zone_of": lambda n: timezones.team_zone(n.team).key,
    }
