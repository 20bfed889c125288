"""Campaigns: the list, the composer (with its live check), confirmation, and the actions of a
campaign's lifecycle (edit, cancel, pause, resume)."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from webapp import campaigns, gateways, iqsms, senders
from webapp.access import Permission, current_team, team_required, team_scoped
from webapp.extensions import db
from webapp.forms_campaigns import ComposerForm, ConfirmForm
from webapp.htmx import is_htmx
from webapp.models import Campaign, CampaignState, ContactList, utcnow

bp = Blueprint("campaigns", __name__)

S = CampaignState


@bp.get("/campaigns")
@team_required()
def index() -> ResponseReturnValue:
    """The team's campaigns, newest first."""
    rows = db.session.scalars(
        select(Campaign)
        .where(Campaign.team_id == current_team().id)
        .order_by(Campaign.id.desc())
        .limit(200)
    ).all()
    return render_template("campaigns/index.html", campaigns=rows, action_form=FlaskForm())


@bp.post("/campaigns/new")
@team_required(Permission.SEND)
def new() -> ResponseReturnValue:
    """Start a draft and open it in the composer."""
    _check_csrf()
    campaign = campaigns.new_draft(db.session, current_team(), current_user)
    db.session.commit()
    return redirect(url_for("campaigns.edit", campaign_id=campaign.id))


@bp.get("/campaigns/<int:campaign_id>")
@team_required()
def show(campaign_id: int) -> ResponseReturnValue:
    """A campaign's settings, state, counters and the actions its state allows."""
    campaign = team_scoped(Campaign, campaign_id)
    return render_template("campaigns/show.html", campaign=campaign, action_form=FlaskForm())


# -- the composer --------------------------------------------------------------------------------


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@team_required(Permission.SEND)
def edit(campaign_id: int) -> ResponseReturnValue:
    """The composer. The form posts to itself: "Preview" re-checks, "Save draft" keeps it,
    "Continue" goes to the confirmation once nothing stops the campaign."""
    campaign = team_scoped(Campaign, campaign_id)
    if campaign.state != S.DRAFT:
        flash(_("This campaign is %(state)s: it is no longer a draft.", state=campaign.state))
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    sync_error = None
    if not senders.ever_synced(db.session, campaign.team_id):
        sync_error = _sync_senders()
    if request.method == "GET":
        form = ComposerForm(formdata=None, data=_form_data(campaign))
        _set_choices(form)
        return _composer(form, campaign, sync_error=sync_error)
    form = ComposerForm()
    _set_choices(form)
    if not form.validate() and form.csrf_token.errors:
        abort(400)
    errors = _save(form, campaign)
    action = request.form.get("action", "preview")
    if action == "save":
        flash(_("Draft saved."))
        return redirect(url_for("campaigns.edit", campaign_id=campaign.id))
    result = campaigns.check(db.session, current_team(), campaign, utcnow(), errors)
    if action == "review":
        if result.ready and not form.errors:
            return redirect(url_for("campaigns.confirm", campaign_id=campaign.id))
        return _composer(form, campaign, result, show_errors=True), 400
    return _composer(form, campaign, result, show_errors=True)


@bp.post("/campaigns/<int:campaign_id>/preview")
@team_required(Permission.SEND)
def preview(campaign_id: int) -> ResponseReturnValue:
    """The composer's live check (htmx, as the person types): saves the draft, then answers
    the check fragment. Without htmx it is the whole composer page."""
    campaign = team_scoped(Campaign, campaign_id)
    form = ComposerForm()
    _set_choices(form)
    if not form.validate() and form.csrf_token.errors:
        abort(400)
    if campaign.state != S.DRAFT:
        return render_template("campaigns/_check.html", campaign=campaign, result=None)
    errors = _save(form, campaign)
    result = campaigns.check(db.session, current_team(), campaign, utcnow(), errors)
    if is_htmx():
        return render_template(
            "campaigns/_check.html", campaign=campaign, result=result, show_errors=True
        )
    return _composer(form, campaign, result, show_errors=True)


def _form_data(campaign: Campaign) -> dict[str, Any]:
    local = campaigns.in_team_zone(campaign.send_at, current_team())
    return {
        "name": campaign.name,
        "list_ids": list(campaign.list_ids or []),
        "pasted_numbers": campaign.pasted_numbers,
        "text": campaign.text,
        "sender": campaign.sender or "",
        "flash": campaign.flash,
        "wapurl": campaign.wapurl or "",
        "when": "at" if local else "now",
        "send_date": local.date() if local else None,
        "send_time": local.time().replace(second=0, microsecond=0) if local else None,
    }


def _set_choices(form: ComposerForm) -> None:
    team = current_team()
    lists = db.session.scalars(
        select(ContactList).where(ContactList.team_id == team.id).order_by(ContactList.name)
    ).all()
    form.list_ids.choices = [(row.id, row.name) for row in lists]
    usable = senders.usable_names(db.session, team.id)
    form.sender.choices = [("", _("Choose a sender name…"))] + [(n, n) for n in usable]


def _save(form: ComposerForm, campaign: Campaign) -> dict[str, list[str]]:
    """Store the form in the draft (whatever it holds: nothing typed is lost) and return the
    errors of fields that could not be read, by composer section."""
    team = current_team()
    errors: dict[str, list[str]] = {}
    send_at = None
    if form.when.data == "at":
        if form.send_date.errors or form.send_time.errors:
            errors["when"] = [_("Enter the date as YYYY-MM-DD and the time as HH:MM.")]
        elif form.send_date.data is None or form.send_time.data is None:
            errors["when"] = [_("Choose the date and the time to send at, or choose Send now.")]
        else:
            send_at = campaigns.local_to_utc(form.send_date.data, form.send_time.data, team)
    for name in ("name", "pasted_numbers", "text", "wapurl"):
        for error in getattr(form, name).errors:
            errors.setdefault(name, []).append(str(error))
    campaigns.save_draft(
        db.session,
        campaign,
        {
            "name": (form.name.data or "").strip()[:200] or campaign.name,
            "list_ids": [int(i) for i in (form.list_ids.data or [])],
            "pasted_numbers": (form.pasted_numbers.data or "")[:200_000],
            "text": (form.text.data or "")[:5_000],
            "sender": (form.sender.data or None),
            "flash": bool(form.flash.data),
            "wapurl": (form.wapurl.data or "")[:300] or None,
            "send_at": send_at,
        },
    )
    db.session.commit()
    return errors


def _composer(
    form: ComposerForm,
    campaign: Campaign,
    result: campaigns.Check | None = None,
    *,
    show_errors: bool = False,
    sync_error: str | None = None,
) -> str:
    if result is None:
        result = campaigns.check(db.session, current_team(), campaign, utcnow())
    return render_template(
        "campaigns/edit.html",
        form=form,
        campaign=campaign,
        result=result,
        show_errors=show_errors,
        sync_error=sync_error,
        now_local=campaigns.in_team_zone(utcnow(), current_team()),
    )


def _sync_senders() -> str | None:
    """Sync the team's sender names once (the composer needs them); a failure in words."""
    team = current_team()
    timeout = float(current_app.config["GATEWAY_INTERACTIVE_TIMEOUT"])
    client = gateways.client_for(team, timeout=timeout)
    try:
        with client:
            senders.sync(db.session, team, client)
        db.session.commit()
    except iqsms.IqsmsError as exc:
        db.session.rollback()
        return gateways.explain(exc, client.base_url)
    return None


# -- confirmation and sending --------------------------------------------------------------------


def _version(campaign: Campaign) -> str:
    return campaign.updated_at.isoformat() if campaign.updated_at else ""


@bp.get("/campaigns/<int:campaign_id>/confirm")
@team_required(Permission.SEND)
def confirm(campaign_id: int) -> ResponseReturnValue:
    """What sending will do, exactly, with the button that does it."""
    campaign = team_scoped(Campaign, campaign_id)
    if campaign.state != S.DRAFT:
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    result = campaigns.check(db.session, current_team(), campaign, utcnow())
    form = ConfirmForm(version=_version(campaign), recipients=result.recipients.count)
    return render_template("campaigns/confirm.html", campaign=campaign, result=result, form=form)


@bp.post("/campaigns/<int:campaign_id>/send")
@team_required(Permission.SEND)
def send(campaign_id: int) -> ResponseReturnValue:
    """Commit the draft: its messages are created and it is scheduled (for now or later)."""
    campaign = team_scoped(Campaign, campaign_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    if campaign.state != S.DRAFT:
        flash(_("This campaign was sent already."), "warning")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    if form.version.data != _version(campaign):
        flash(_("The draft changed since this page was shown. Check it again."), "warning")
        return redirect(url_for("campaigns.confirm", campaign_id=campaign.id))
    try:
        expected = int(form.recipients.data or -1)
    except ValueError:
        expected = -1
    try:
        created = campaigns.commit(db.session, campaign, current_user, expected=expected)
    except campaigns.CampaignError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("campaigns.confirm", campaign_id=campaign.id))
    if campaign.send_at and campaign.send_at != campaign.scheduled_at:
        local = campaigns.in_team_zone(campaign.send_at, current_team())
        flash(
            _(
                "Scheduled: %(n)s messages will be sent at %(when)s.",
                n=f"{created:,}",
                when=f"{local:%Y-%m-%d %H:%M}",
            )
        )
    else:
        flash(_("Sending %(n)s messages now.", n=f"{created:,}"))
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))


# -- after sending -------------------------------------------------------------------------------


def _act(campaign_id: int, action: str) -> ResponseReturnValue:
    _check_csrf()
    campaign = team_scoped(Campaign, campaign_id)
    work = {
        "reopen": campaigns.edit,
        "cancel": campaigns.cancel,
        "pause": campaigns.pause,
        "resume": campaigns.resume,
    }[action]
    try:
        outcome = work(db.session, campaign, current_user)
    except campaigns.CampaignError as exc:
        flash(str(exc), "error")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    if action == "reopen":
        flash(_("Back to a draft: its messages were removed. Send it again when ready."))
        return redirect(url_for("campaigns.edit", campaign_id=campaign.id))
    done = {
        "cancel": _("Cancelled. %(n)s messages not yet sent will not be sent.", n=outcome or 0),
        "pause": _("Paused. No more messages are sent until you resume."),
        "resume": _("Resumed."),
    }
    flash(done[action])
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))


@bp.post("/campaigns/<int:campaign_id>/reopen")
@team_required(Permission.SEND)
def reopen(campaign_id: int) -> ResponseReturnValue:
    """Take a scheduled campaign back to a draft to change it (before it starts)."""
    return _act(campaign_id, "reopen")


@bp.post("/campaigns/<int:campaign_id>/cancel")
@team_required(Permission.SEND)
def cancel(campaign_id: int) -> ResponseReturnValue:
    """Cancel the campaign: messages not yet sent are not sent."""
    return _act(campaign_id, "cancel")


@bp.post("/campaigns/<int:campaign_id>/pause")
@team_required(Permission.SEND)
def pause(campaign_id: int) -> ResponseReturnValue:
    """Pause a sending campaign."""
    return _act(campaign_id, "pause")


@bp.post("/campaigns/<int:campaign_id>/resume")
@team_required(Permission.SEND)
def resume(campaign_id: int) -> ResponseReturnValue:
    """Resume a paused campaign."""
    return _act(campaign_id, "resume")


def _check_csrf() -> None:
    if not FlaskForm().validate_on_submit():
        abort(400)


@bp.app_template_global("campaign_local")
def campaign_local(when: Any) -> str:
    """A UTC time as the current team reads it: ``2026-05-01 14:30``."""
    local = campaigns.in_team_zone(when, current_team()) if when else None
    return f"{local:%Y-%m-%d %H:%M}" if local else ""
