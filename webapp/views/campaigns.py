"""Campaigns: the list, a campaign's page, the composer (with its live check), confirmation and
sending; the routes after sending are in :mod:`webapp.views.campaign_actions`, on the same
blueprint. Routes only: what stops a draft is webapp.domain.composer, the lifecycle
webapp.domain.campaigns."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm

from webapp import periods
from webapp.access import Permission, current_team, team_required, team_scoped
from webapp.domain import campaign_list, campaigns, composer, drafts, funds, gateway_health, senders
from webapp.domain import messages as table
from webapp.extensions import db
from webapp.formatting import count, no_longer_a_draft, team_time
from webapp.forms.campaigns import ComposerForm, ConfirmForm
from webapp.htmx import htmx_details, is_htmx, stop_polling
from webapp.models import Campaign, CampaignState, utcnow

bp = Blueprint("campaigns", __name__)

S = CampaignState


@bp.get("/campaigns")
@team_required()
def index() -> ResponseReturnValue:
    """The team's campaigns, newest first, by keyset pages, searched by name and filtered by
    state, sender and period (a GET form: its URL can be shared), with their progress. The
    table polls itself while any campaign on its page can still change (slower while nothing
    does) and stops (286) after."""
    team, now = current_team(), utcnow()
    choice = campaign_list.ListChoice.read(request.args, team, now)
    cursor = {
        "after": request.args.get("after", type=int),
        "before": request.args.get("before", type=int),
    }
    found = campaign_list.page(db.session, team.id, choice, now, **cursor)
    live = any(table.is_live(c) for c in found.rows)
    context = {
        "campaigns": found.rows,
        "pages": found,
        "choice": choice,
        "here": {**choice.url_args(), **{k: v for k, v in cursor.items() if v}},
        "sender_choices": campaign_list.sender_choices(db.session, team.id, choice.sender),
        "period_choices": [(name, periods.LABELS[name]) for name in campaign_list.PERIODS],
        "is_day": periods.is_day,
        "live": live,
        "poll": _poll(found.rows, live),
        "action_form": FlaskForm(),
    }
    if htmx_details().wants_fragment:
        return _fragment("campaigns/_campaigns.html", context)
    return render_template("campaigns/index.html", **context), (400 if choice.errors else 200)


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
        "resent_as": drafts.resent_as(db.session, campaign),
        "resend_source": drafts.resend_source(db.session, campaign),
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
        flash(no_longer_a_draft(campaign))
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    if campaign.resend_of is not None:
        # A resend has no lists or pasted numbers to choose, and its texts were rendered for
        # the source campaign: it is sent as it is, or not at all.
        flash(_("A resend cannot be edited: send it as it is, or delete it."))
        return redirect(url_for("campaigns.confirm", campaign_id=campaign.id))
    if request.method == "GET":
        # Opening the composer calls no gateway: the team's default sender is preselected
        # (saved with the first change), and sender names not yet fetched come from the
        # worker's senders tick or the Senders page's refresh. A balance reading older than
        # a minute is asked of the worker, once per visit (the live panel only reads it).
        funds.ask_for_fresh(db.session, current_team(), utcnow())
        return _composer(_form(campaign), campaign, preselected=True)
    form, errors, saved = save_posted(campaign)
    if saved == drafts.Saved.NOT_A_DRAFT:
        flash(_("This campaign is no longer a draft, so your changes were not saved."), "error")
        return redirect(url_for("campaigns.index"))
    if saved == drafts.Saved.CHANGED_ELSEWHERE:
        # Nothing was saved; the page keeps what was typed and offers the choice.
        return _composer(form, campaign, show_errors=True, conflict=True), 409
    action = request.form.get("action", "preview")
    if request.form.get("overwrite"):
        flash(_("Your version is saved; the one from the other tab is replaced."))
        return redirect(url_for("campaigns.edit", campaign_id=campaign.id))
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
    form, errors, saved = save_posted(campaign)
    if saved == drafts.Saved.NOT_A_DRAFT:
        return render_template("campaigns/_check.html", campaign=campaign, result=None)
    conflict = saved == drafts.Saved.CHANGED_ELSEWHERE
    result = composer.check(db.session, current_team(), campaign, utcnow(), errors)
    if is_htmx():
        html = render_template(
            "campaigns/_check.html",
            campaign=campaign,
            result=result,
            show_errors=True,
            conflict=conflict,
        )
        return html if conflict else html + version_moved(campaign)
    return _composer(form, campaign, result, show_errors=True, conflict=conflict)


def _form(campaign: Campaign | None = None) -> ComposerForm:
    """The composer's form, as posted (or as ``campaign`` holds it), with its choices."""
    team = current_team()
    form = ComposerForm() if campaign is None else ComposerForm.of(campaign, team)
    form.offer(drafts.team_lists(db.session, team.id), senders.usable_names(db.session, team.id))
    if campaign is not None and not campaign.sender:
        form.sender.data = senders.default_name(db.session, team.id) or ""
    return form


def version_moved(campaign: Campaign) -> str:
    """The composer's hidden version, moved on with the draft just saved (an out-of-band swap
    for an htmx answer that saved it)."""
    return render_template("campaigns/_draft_version.html", version=drafts.version(campaign))


def save_posted(campaign: Campaign) -> tuple[ComposerForm, dict[str, list[str]], drafts.Saved]:
    """Store the posted form in the draft if the draft is still at the revision the form
    carries (or the one "Keep mine" names, ``overwrite``); the form (its version moved on
    when saved), the errors of fields that could not be read by composer section, and what
    became of the save."""
    form = _form()
    form.validate()
    values, errors = form.draft(current_team())
    overwrite = drafts.read_revision(request.form.get("overwrite"))
    revision = overwrite if overwrite is not None else drafts.read_revision(form.version.data)
    saved = drafts.save_draft(db.session, campaign, values, revision, form.tab.data or "")
    db.session.commit()
    if saved == drafts.Saved.SAVED:
        form.version.data = drafts.version(campaign)
    return form, errors, saved


def _composer(
    form: ComposerForm,
    campaign: Campaign,
    result: composer.Check | None = None,
    *,
    show_errors: bool = False,
    preselected: bool = False,
    conflict: bool = False,
) -> str:
    team = current_team()
    sender = (form.sender.data or None) if preselected else None
    return render_template(
        "campaigns/edit.html",
        form=form,
        campaign=campaign,
        result=result or composer.check(db.session, team, campaign, utcnow(), sender=sender),
        show_errors=show_errors,
        conflict=conflict,
        senders_unknown=not senders.ever_synced(db.session, team.id),
        limits=composer.LIMITS,
        now_local=team_time(utcnow(), team),
    )


# -- confirmation and sending --------------------------------------------------------------------


@bp.get("/campaigns/<int:campaign_id>/confirm")
@team_required(Permission.SEND)
def confirm(campaign_id: int) -> ResponseReturnValue:
    """What sending will do, exactly, with the button that does it."""
    campaign = team_scoped(Campaign, campaign_id)
    if campaign.state != S.DRAFT:
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    funds.ask_for_fresh(db.session, current_team(), utcnow())  # read by the worker, not here
    result = composer.check(db.session, current_team(), campaign, utcnow())
    form = ConfirmForm(version=drafts.version(campaign), recipients=result.recipients.count)
    return _confirmation(campaign, result, form)


def _confirmation(
    campaign: Campaign, result: composer.Check, form: ConfirmForm, *, refused: bool = False
) -> str:
    """The confirmation page; ``refused``: a send refused because the account does not cover
    the estimate and "Send anyway" was not chosen (said beside that box)."""
    return render_template(
        "campaigns/confirm.html",
        campaign=campaign,
        result=result,
        form=form,
        refused=refused,
        source=drafts.resend_source(db.session, campaign),
    )


@bp.get("/campaigns/<int:campaign_id>/funds")
@team_required(Permission.SEND)
def funds_now(campaign_id: int) -> ResponseReturnValue:
    """What the account has against a draft's estimate, alone (htmx): the composer's live
    panel and the confirmation page ask for it a few times while a fresh reading of the
    balance is on its way from the worker, then stop (286). Reads the stored snapshot only."""
    campaign = team_scoped(Campaign, campaign_id)
    if campaign.state != S.DRAFT:
        return stop_polling(current_app.make_response(""))
    result = composer.check(db.session, current_team(), campaign, utcnow())
    polls = request.args.get("polls", default=0, type=int)
    confirming = request.args.get("confirming") == "1"
    form = ConfirmForm(formdata=request.args if confirming else None, meta={"csrf": False})
    html = render_template(
        "campaigns/_funds.html",
        campaign=campaign,
        result=result,
        polls=polls,
        confirming=confirming,
        form=form,
    )
    response = current_app.make_response(html)
    again = result.funds is not None and result.funds.poll_again(polls)
    return response if again else stop_polling(response)


@bp.post("/campaigns/<int:campaign_id>/send")
@team_required(Permission.SEND)
def send(campaign_id: int) -> ResponseReturnValue:
    """Commit the draft: its messages are created and it is scheduled (for now or later)."""
    campaign = team_scoped(Campaign, campaign_id)
    form = ConfirmForm()
    if campaign.state != S.DRAFT:
        flash(_("This campaign was sent already."), "warning")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    if form.version.data != drafts.version(campaign):
        flash(_("The draft changed since this page was shown. Check it again."), "warning")
        return redirect(url_for("campaigns.confirm", campaign_id=campaign.id))
    try:
        created = campaigns.commit(
            db.session,
            campaign,
            current_user,
            expected=form.expected(),
            send_anyway=bool(form.send_anyway.data),
            revision=drafts.read_revision(form.version.data),
        )
    except campaigns.NotCovered:
        # Said beside the "Send anyway" box, on the page as it was; the draft is untouched.
        db.session.rollback()
        result = composer.check(db.session, current_team(), campaign, utcnow())
        return _confirmation(campaign, result, form, refused=True), 400
    except campaigns.CampaignError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("campaigns.confirm", campaign_id=campaign.id))
    if campaign.send_at and campaign.send_at != campaign.scheduled_at:
        when = team_time(campaign.send_at, current_team())
        flash(
            ngettext(
                "Scheduled: %(count)s message will be sent at %(when)s.",
                "Scheduled: %(count)s messages will be sent at %(when)s.",
                created,
                count=count(created),
                when=when,
            )
        )
    else:
        flash(
            ngettext(
                "Sending %(count)s message now.",
                "Sending %(count)s messages now.",
                created,
                count=count(created),
            )
        )
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))


# The routes after sending (lifecycle actions, export, resend) are on this blueprint too.
from webapp.views import campaign_actions  # noqa: E402, F401
