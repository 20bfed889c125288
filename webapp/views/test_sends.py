"""Test sends: the composer's "Send a test" panel, its send, and its live status. Routes only:
the rules are webapp.domain.test_sends."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from webapp.access import Permission, current_team, team_required, team_scoped
from webapp.domain import drafts, test_sends
from webapp.domain import messages as table
from webapp.extensions import db
from webapp.forms.test_sends import TestSendForm
from webapp.htmx import htmx_details, is_htmx, stop_polling
from webapp.models import Campaign, utcnow
from webapp.views.campaigns import save_posted, version_moved

bp = Blueprint("test_sends", __name__)


@bp.get("/campaigns/<int:campaign_id>/tests")
@team_required(Permission.SEND)
def panel(campaign_id: int) -> ResponseReturnValue:
    """The panel alone (htmx polls it while a test is on its way, then it answers 286); a
    page load goes to the composer, where the panel is."""
    campaign = team_scoped(Campaign, campaign_id)
    if not htmx_details().wants_fragment:
        return redirect(url_for("campaigns.edit", campaign_id=campaign.id))
    return _fragment(campaign, panel_context(campaign))


@bp.post("/campaigns/<int:campaign_id>/tests")
@team_required(Permission.SEND)
def send(campaign_id: int) -> ResponseReturnValue:
    """Send the draft's message, as its first recipient will get it, to the typed numbers.
    With htmx the panel answers (the error beside the field, what was typed kept); without,
    the composer again with a notice."""
    campaign = team_scoped(Campaign, campaign_id)
    form = TestSendForm()
    error = None
    saved = None
    if not form.validate_on_submit():
        error = _("The form expired. Reload the page and try again.")
    else:
        if "version" in request.form:
            # The composer's fields came along (htmx, hx-include): what it holds is saved
            # first, so the test is of what the person sees, not of the last autosave.
            saved = save_posted(campaign)[2]
        if saved == drafts.Saved.CHANGED_ELSEWHERE:
            error = _(
                "This draft was changed elsewhere after you opened it, so the test was not "
                "sent. Load the other version or keep yours, then send the test."
            )
        else:
            error = _send(campaign, form.numbers.data or "")
    if is_htmx():
        context = panel_context(campaign, numbers=form.numbers.data, error=error)
        return _fragment(campaign, context, saved=saved == drafts.Saved.SAVED)
    if error:
        flash(_("The test was not sent: %(why)s", why=error), "error")
        typed = (form.numbers.data or "")[: test_sends.MAX_TYPED]
        return redirect(url_for("campaigns.edit", campaign_id=campaign.id, test_numbers=typed))
    flash(_("Test sent. Its status is shown beside the button."))
    return redirect(url_for("campaigns.edit", campaign_id=campaign.id))


def _send(campaign: Campaign, typed: str) -> str | None:
    """Send the test; None, or why it was not sent."""
    try:
        test_sends.send_test(db.session, current_team(), campaign, current_user, typed)
    except test_sends.TestSendError as exc:
        db.session.rollback()
        return str(exc)
    return None


def panel_context(
    campaign: Campaign, *, numbers: str | None = None, error: str | None = None
) -> dict[str, Any]:
    """What the panel shows: the numbers field (as typed, else the person's own phone), the
    draft's latest tests and whether to poll them."""
    tests = test_sends.latest(db.session, campaign.team_id, campaign.id)
    live = any(t.live for t in tests)
    if numbers is None:
        numbers = request.args.get("test_numbers") or (
            f"+{current_user.phone}" if current_user.phone else ""
        )
    poll: dict[str, Any] = {}
    if live:
        seen = table.version([t.campaign for t in tests], utcnow())
        wait = table.next_interval(
            request.args.get("seen"), seen, request.args.get("wait", type=int)
        )
        poll = {"seen": seen, "wait": wait}
    return {
        "tests": tests,
        "live": live,
        "poll": poll,
        "form": TestSendForm(formdata=None, numbers=numbers),
        "error": error,
        "own_phone": current_user.phone,
        "max_numbers": test_sends.MAX_NUMBERS,
        "hourly_limit": test_sends.HOURLY_LIMIT,
    }


@bp.app_context_processor
def _panel_context() -> dict[str, Any]:
    """``test_send_panel(campaign)`` for the composer (campaigns/edit.html includes the panel),
    computed only when a page asks."""
    return {"test_send_panel": panel_context}


def _fragment(
    campaign: Campaign, context: dict[str, Any], *, saved: bool = False
) -> ResponseReturnValue:
    html = render_template("test_sends/_panel.html", campaign=campaign, panel=context)
    if saved:  # the composer's draft was saved with the send: its version moves on
        html += version_moved(campaign)
    response = current_app.make_response(html)
    # Nothing left to change: the answer carries no poll, and 286 stops the one that asked
    # (a poll is a GET; a send answers 200).
    polled = request.method == "GET"
    return stop_polling(response) if polled and not context["live"] else response
