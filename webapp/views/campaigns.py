"""Campaigns: the list, the composer (with its live check), confirmation, and the actions of a
campaign's lifecycle (edit, cancel, pause, resume)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
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

from webapp import iqsms
from webapp.access import Permission, current_team, team_required, team_scoped
from webapp.csv_writer import BOM, drain, safe_cell
from webapp.domain import campaigns, gateways, senders
from webapp.domain import messages as table
from webapp.domain.audit import record
from webapp.extensions import db
from webapp.forms.campaigns import ComposerForm, ConfirmForm
from webapp.htmx import htmx_details, is_htmx, stop_polling
from webapp.models import Campaign, CampaignState, ContactList, utcnow

bp = Blueprint("campaigns", __name__)

S = CampaignState


LIST_LIMIT = 200


@bp.get("/campaigns")
@team_required()
def index() -> ResponseReturnValue:
    """The team's campaigns, newest first, with their progress. The table polls itself while
    any campaign on it can still change (slower while nothing does) and stops (286) after."""
    rows = db.session.scalars(
        select(Campaign)
        .where(Campaign.team_id == current_team().id)
        .order_by(Campaign.id.desc())
        .limit(LIST_LIMIT)
    ).all()
    live = any(table.is_live(c) for c in rows)
    poll = _poll(rows, live)
    context = {"campaigns": rows, "live": live, "poll": poll, "action_form": FlaskForm()}
    if htmx_details().wants_fragment:
        return _fragment("campaigns/_campaigns.html", context)
    return render_template("campaigns/index.html", **context)


@bp.get("/campaigns/<int:campaign_id>")
@team_required()
def show(campaign_id: int) -> ResponseReturnValue:
    """A campaign's live summary and its messages (filtered, searched, sorted, by keyset
    pages), then its settings. The summary and the table poll themselves as one fragment of
    this same page until the campaign is final (then 286)."""
    campaign = team_scoped(Campaign, campaign_id)
    filters = table.Filters.from_args(request.args)
    cursor = {
        "after": request.args.get("after", type=int),
        "before": request.args.get("before", type=int),
    }
    messages = table.page(db.session, campaign.team_id, campaign.id, filters, **cursor)
    live = table.is_live(campaign)
    context = {
        "campaign": campaign,
        "messages": messages,
        "filters": filters,
        "here": {**filters.url_args(), **cursor},  # what a poll asks for again
        "live": live,
        "poll": _poll([campaign], live),
        "action_form": FlaskForm(),
    }
    if htmx_details().wants_fragment:
        return _fragment("campaigns/_live.html", context)
    return render_template("campaigns/show.html", **context)


def _poll(rows: Any, live: bool) -> dict[str, Any]:
    """This render's fingerprint and the next poll's interval (see message_table)."""
    seen = table.version(rows, utcnow())
    wait = table.next_interval(request.args.get("seen"), seen, request.args.get("wait", type=int))
    return {"seen": seen, "wait": wait} if live else {}


def _fragment(template: str, context: dict[str, Any]) -> Response:
    response = make_response(render_template(template, **context))
    # A fragment with nothing left to change carries no polling trigger, and 286 stops the
    # poll that asked for it.
    return response if context["live"] else stop_polling(response)


@bp.post("/campaigns/new")
@team_required(Permission.SEND)
def new() -> ResponseReturnValue:
    """Start a draft and open it in the composer."""
    _check_csrf()
    campaign = campaigns.new_draft(db.session, current_team(), current_user)
    db.session.commit()
    return redirect(url_for("campaigns.edit", campaign_id=campaign.id))


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
    if campaign.resend_of is not None:
        # A resend has no lists or pasted numbers to choose, and its texts were rendered for
        # the source campaign: it is sent as it is, or not at all.
        flash(_("A resend cannot be edited: send it as it is, or cancel it."))
        return redirect(url_for("campaigns.confirm", campaign_id=campaign.id))
    sync_error = None
    if not senders.ever_synced(db.session, campaign.team_id):
        sync_error = _sync_senders()
    if request.method == "GET":
        _start_with_default_sender(campaign)
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
    if campaign.state != S.DRAFT or campaign.resend_of is not None:
        return render_template("campaigns/_check.html", campaign=campaign, result=None)
    errors = _save(form, campaign)
    result = campaigns.check(db.session, current_team(), campaign, utcnow(), errors)
    if is_htmx():
        return render_template(
            "campaigns/_check.html", campaign=campaign, result=result, show_errors=True
        )
    return _composer(form, campaign, result, show_errors=True)


def _start_with_default_sender(campaign: Campaign) -> None:
    """A draft without a sender yet takes the team's default one (see senders.default_name).
    It is stored at once, so that the check beside the form agrees with what the form shows;
    a name the draft already has, the person's choice, is kept even if it can no longer send."""
    if campaign.sender:
        return
    name = senders.default_name(db.session, campaign.team_id)
    if name is not None:
        campaigns.save_draft(db.session, campaign, {"sender": name})
        db.session.commit()


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
    return render_template(
        "campaigns/confirm.html",
        campaign=campaign,
        result=result,
        form=form,
        source=_resend_source(campaign),
    )


def _resend_source(campaign: Campaign) -> Campaign | None:
    """The campaign a resend sends again, when it is still there (of the same team only)."""
    if campaign.resend_of is None:
        return None
    return db.session.scalar(
        select(Campaign).where(
            Campaign.id == campaign.resend_of, Campaign.team_id == campaign.team_id
        )
    )


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


# -- export and resend ---------------------------------------------------------------------------


@bp.get("/campaigns/<int:campaign_id>/messages.csv")
@team_required()
def export(campaign_id: int) -> ResponseReturnValue:
    """The message table, with its filters, as CSV: streamed by keyset chunks, so a million
    rows never sit in memory. UTF-8 with a BOM, so that Excel reads Cyrillic right."""
    campaign = team_scoped(Campaign, campaign_id)
    filters = table.Filters.from_args(request.args)
    zone = campaigns.team_zone(current_team())
    team_id = campaign.team_id
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def lines() -> Iterator[str]:
        # An app context (a database session) of its own, only while the body is read; not
        # stream_with_context, which would keep the whole request open until the last byte,
        # or for ever when a client never reads the body.
        with app.app_context():
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            writer.writerow(table.EXPORT_COLUMNS)
            yield BOM + drain(buffer)
            rows = table.export_rows(db.session, team_id, campaign_id, filters)
            for n, row in enumerate(rows, 1):
                phone, state, status, parts, cost, *times = row
                local = [
                    t.astimezone(zone).isoformat(timespec="seconds") if t else "" for t in times
                ]
                writer.writerow([phone, state, safe_cell(status), parts, table.money(cost), *local])
                if n % 1000 == 0:
                    yield drain(buffer)
            yield drain(buffer)

    name = f"campaign-{campaign.id}-messages{'-' + filters.state if filters.state else ''}.csv"
    return Response(
        lines(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.post("/campaigns/<int:campaign_id>/resend")
@team_required(Permission.SEND)
def resend(campaign_id: int) -> ResponseReturnValue:
    """Start a new draft that resends the campaign's failed and unknown messages (each phone
    once, with the text it had), with the same sender and options, and open its confirmation:
    nothing is sent until that is confirmed. The draft names its source (``resend_of``); its
    messages are copied from the source's in SQL when it is sent, however many there are.
    Pressed again while that draft is unsent, it opens the same draft."""
    _check_csrf()
    campaign = team_scoped(Campaign, campaign_id)
    if campaign.state == S.DRAFT or not table.resendable(campaign):
        flash(_("This campaign has no failed or unknown messages to resend."), "warning")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    name = _("Resend of %(name)s", name=campaign.name)
    draft, created = campaigns.resend_draft(
        db.session, current_team(), campaign, current_user, name
    )
    if not created:
        db.session.commit()
        flash(_("This resend is already waiting for your confirmation."))
        return redirect(url_for("campaigns.confirm", campaign_id=draft.id))
    record(
        db.session,
        campaign.team_id,
        "campaign_resend_drafted",
        current_user,
        campaign=campaign.id,
        draft=draft.id,
    )
    db.session.commit()
    return redirect(url_for("campaigns.confirm", campaign_id=draft.id))


def _check_csrf() -> None:
    if not FlaskForm().validate_on_submit():
        abort(400)


@bp.app_template_global("campaign_local")
def campaign_local(when: Any, seconds: bool = False) -> str:
    """A UTC time as the current team reads it: ``2026-05-01 14:30`` (``:05`` with seconds)."""
    local = campaigns.in_team_zone(when, current_team()) if when else None
    if local is None:
        return ""
    return f"{local:%Y-%m-%d %H:%M:%S}" if seconds else f"{local:%Y-%m-%d %H:%M}"


@bp.app_template_global("campaign_state")
def campaign_state(campaign: Campaign) -> str:
    """The campaign's state as shown: "starting" for a scheduled one whose time has come."""
    return table.shown_state(campaign, utcnow())


@bp.context_processor
def _summary_helpers() -> dict[str, Any]:
    return {
        "settled": table.settled,
        "delivery_rate": table.delivery_rate,
        "summary_states": [
            ("queued", _("Queued")),
            ("sending", _("Sending")),
            ("accepted", _("Accepted")),
            ("enroute", _("On its way")),
            ("delivered", _("Delivered")),
            ("failed", _("Failed")),
            ("rejected", _("Rejected")),
            ("unknown", _("Unknown")),
            ("expired", _("Expired")),
            ("cancelled", _("Cancelled")),
        ],
    }
