"""Campaigns: the list, the composer (with its live check), confirmation, and the actions of a
campaign's lifecycle (edit, cancel, pause, resume). Routes only: what a draft holds and what
stops it is webapp.domain.composer, the lifecycle webapp.domain.campaigns."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from webapp import csv_writer, timezones
from webapp.access import Permission, current_team, team_required, team_scoped
from webapp.domain import campaigns, composer, gateway_health, senders
from webapp.domain import messages as table
from webapp.extensions import db
from webapp.formatting import plain_money
from webapp.forms.campaigns import ComposerForm, ConfirmForm
from webapp.htmx import htmx_details, is_htmx, stop_polling
from webapp.models import Campaign, CampaignState, utcnow

bp = Blueprint("campaigns", __name__)

S = CampaignState

LIST_LIMIT = 200


@bp.get("/campaigns")
@team_required()
def index() -> ResponseReturnValue:
    """The team's campaigns, newest first, with their progress. The table polls itself while
    any campaign on it can still change (slower while nothing does) and stops (286) after."""
    rows = composer.recent(db.session, current_team().id, LIST_LIMIT)
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
        "gateway_silence": gateway_health.silence(current_team(), utcnow()),
    }
    if htmx_details().wants_fragment:
        return _fragment("campaigns/_live.html", context)
    return render_template("campaigns/show.html", **context)


def _poll(rows: Any, live: bool) -> dict[str, Any]:
    """This render's fingerprint and the next poll's interval (see domain.messages)."""
    seen = table.version(rows, utcnow())
    wait = table.next_interval(request.args.get("seen"), seen, request.args.get("wait", type=int))
    return {"seen": seen, "wait": wait} if live else {}


def _fragment(template: str, context: dict[str, Any]) -> ResponseReturnValue:
    response = current_app.make_response(render_template(template, **context))
    # A fragment with nothing left to change carries no polling trigger, and 286 stops the
    # poll that asked for it.
    return response if context["live"] else stop_polling(response)


@bp.post("/campaigns/new")
@team_required(Permission.SEND)
def new() -> ResponseReturnValue:
    """Start a draft and open it in the composer."""
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
    if request.method == "GET":
        # Opening the composer writes nothing and calls no gateway: the team's default
        # sender is preselected (saved with the first change), and sender names not yet
        # fetched come from the worker's senders tick or the Senders page's refresh.
        return _composer(_form(campaign), campaign, preselected=True)
    form, errors = _save(campaign)
    action = request.form.get("action", "preview")
    if action == "save":
        flash(_("Draft saved."))
        return redirect(url_for("campaigns.edit", campaign_id=campaign.id))
    result = composer.check(db.session, current_team(), campaign, utcnow(), errors)
    if action != "review":
        return _composer(form, campaign, result, show_errors=True)
    if result.ready and not form.errors:
        return redirect(url_for("campaigns.confirm", campaign_id=campaign.id))
    return _composer(form, campaign, result, show_errors=True), 400


@bp.post("/campaigns/<int:campaign_id>/preview")
@team_required(Permission.SEND)
def preview(campaign_id: int) -> ResponseReturnValue:
    """The composer's live check (htmx, as the person types): saves the draft, then answers
    the check fragment. Without htmx it is the whole composer page."""
    campaign = team_scoped(Campaign, campaign_id)
    if campaign.state != S.DRAFT or campaign.resend_of is not None:
        return render_template("campaigns/_check.html", campaign=campaign, result=None)
    form, errors = _save(campaign)
    result = composer.check(db.session, current_team(), campaign, utcnow(), errors)
    if is_htmx():
        return render_template(
            "campaigns/_check.html", campaign=campaign, result=result, show_errors=True
        )
    return _composer(form, campaign, result, show_errors=True)


def _form(campaign: Campaign | None = None) -> ComposerForm:
    """The composer's form, as posted (or as ``campaign`` holds it), with its choices."""
    team = current_team()
    form = ComposerForm() if campaign is None else ComposerForm.of(campaign, team)
    form.offer(composer.team_lists(db.session, team.id), senders.usable_names(db.session, team.id))
    if campaign is not None and not campaign.sender:
        form.sender.data = senders.default_name(db.session, team.id) or ""
    return form


def _save(campaign: Campaign) -> tuple[ComposerForm, dict[str, list[str]]]:
    """Store the posted form in the draft; the form, and the errors of fields that could not
    be read, by composer section."""
    form = _form()
    form.validate()
    values, errors = form.draft(current_team())
    composer.save_draft(db.session, campaign, values)
    db.session.commit()
    return form, errors


def _composer(
    form: ComposerForm,
    campaign: Campaign,
    result: composer.Check | None = None,
    *,
    show_errors: bool = False,
    preselected: bool = False,
) -> str:
    team = current_team()
    sender = (form.sender.data or None) if preselected else None
    return render_template(
        "campaigns/edit.html",
        form=form,
        campaign=campaign,
        result=result or composer.check(db.session, team, campaign, utcnow(), sender=sender),
        show_errors=show_errors,
        senders_unknown=not senders.ever_synced(db.session, team.id),
        limits=composer.LIMITS,
        now_local=timezones.shown(utcnow(), team),
    )


# -- confirmation and sending --------------------------------------------------------------------


@bp.get("/campaigns/<int:campaign_id>/confirm")
@team_required(Permission.SEND)
def confirm(campaign_id: int) -> ResponseReturnValue:
    """What sending will do, exactly, with the button that does it."""
    campaign = team_scoped(Campaign, campaign_id)
    if campaign.state != S.DRAFT:
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    result = composer.check(db.session, current_team(), campaign, utcnow())
    form = ConfirmForm(version=composer.version(campaign), recipients=result.recipients.count)
    return render_template(
        "campaigns/confirm.html",
        campaign=campaign,
        result=result,
        form=form,
        source=composer.resend_source(db.session, campaign),
    )


@bp.post("/campaigns/<int:campaign_id>/send")
@team_required(Permission.SEND)
def send(campaign_id: int) -> ResponseReturnValue:
    """Commit the draft: its messages are created and it is scheduled (for now or later)."""
    campaign = team_scoped(Campaign, campaign_id)
    form = ConfirmForm()
    if campaign.state != S.DRAFT:
        flash(_("This campaign was sent already."), "warning")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    if form.version.data != composer.version(campaign):
        flash(_("The draft changed since this page was shown. Check it again."), "warning")
        return redirect(url_for("campaigns.confirm", campaign_id=campaign.id))
    try:
        created = campaigns.commit(db.session, campaign, current_user, expected=form.expected())
    except campaigns.CampaignError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("campaigns.confirm", campaign_id=campaign.id))
    if campaign.send_at and campaign.send_at != campaign.scheduled_at:
        when = timezones.shown(campaign.send_at, current_team())
        flash(_("Scheduled: %(n)s messages will be sent at %(when)s.", n=f"{created:,}", when=when))
    else:
        flash(_("Sending %(n)s messages now.", n=f"{created:,}"))
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))


# -- after sending -------------------------------------------------------------------------------

# The lifecycle's actions, each a route of its own name (``campaigns.cancel``, ...).
ACTIONS = {
    "reopen": campaigns.edit,  # a scheduled campaign back to a draft, before it starts
    "cancel": campaigns.cancel,
    "pause": campaigns.pause,
    "resume": campaigns.resume,
}


def _act(campaign_id: int, action: str) -> ResponseReturnValue:
    campaign = team_scoped(Campaign, campaign_id)
    try:
        cancelled = ACTIONS[action](db.session, campaign, current_user)
    except campaigns.CampaignError as exc:
        flash(str(exc), "error")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    if action == "reopen":
        flash(_("Back to a draft: its messages were removed. Send it again when ready."))
        return redirect(url_for("campaigns.edit", campaign_id=campaign.id))
    if action == "cancel":
        flash(_("Cancelled. %(n)s messages not yet sent will not be sent.", n=cancelled or 0))
    elif action == "pause":
        flash(_("Paused. No more messages are sent until you resume."))
    else:
        flash(_("Resumed."))
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))


for _action in ACTIONS:
    bp.add_url_rule(
        f"/campaigns/<int:campaign_id>/{_action}",
        endpoint=_action,
        view_func=team_required(Permission.SEND)(_act),
        methods=["POST"],
        defaults={"action": _action},
    )


# -- export and resend ---------------------------------------------------------------------------


@bp.get("/campaigns/<int:campaign_id>/messages.csv")
@team_required()
def export(campaign_id: int) -> ResponseReturnValue:
    """The message table, with its filters, as CSV: streamed by keyset chunks, so a million
    rows never sit in memory. UTF-8 with a BOM, so that Excel reads Cyrillic right."""
    campaign = team_scoped(Campaign, campaign_id)
    filters = table.Filters.from_args(request.args)
    zone = timezones.team_zone(current_team())
    team_id = campaign.team_id
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def rows() -> Iterator[list[Any]]:
        # An app context (a database session) of its own, only while the body is read; not
        # stream_with_context, which would keep the whole request open until the last byte,
        # or for ever when a client never reads the body.
        with app.app_context():
            yield list(table.EXPORT_COLUMNS)
            for row in table.export_rows(db.session, team_id, campaign_id, filters):
                phone, state, status, parts, cost, *times = row
                local = [timezones.iso_in_zone(t, zone) for t in times]
                yield [phone, state, status, parts, plain_money(cost), *local]

    name = f"campaign-{campaign.id}-messages{'-' + filters.state if filters.state else ''}.csv"
    return csv_writer.download(rows(), name)


@bp.post("/campaigns/<int:campaign_id>/resend")
@team_required(Permission.SEND)
def resend(campaign_id: int) -> ResponseReturnValue:
    """Start a new draft that resends the campaign's failed and unknown messages (each phone
    once, with the text it had), with the same sender and options, and open its confirmation:
    nothing is sent until that is confirmed. The draft names its source (``resend_of``); its
    messages are copied from the source's in SQL when it is sent, however many there are.
    Pressed again while that draft is unsent, it opens the same draft."""
    campaign = team_scoped(Campaign, campaign_id)
    name = _("Resend of %(name)s", name=campaign.name)
    resend = composer.draft_resend(db.session, current_team(), campaign, current_user, name)
    if resend is None:
        flash(_("This campaign has no failed or unknown messages to resend."), "warning")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    draft, created = resend
    db.session.commit()
    if not created:
        flash(_("This resend is already waiting for your confirmation."))
    return redirect(url_for("campaigns.confirm", campaign_id=draft.id))
