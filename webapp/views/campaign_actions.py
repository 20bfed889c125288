"""A campaign's routes after sending, on the campaigns blueprint: the lifecycle's actions
(back to a draft, cancel, pause, resume), the message table as CSV, and the resend of its failed
and unknown messages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from webapp import csv_writer, gateway_texts, timezones
from webapp.access import Permission, current_team, team_required, team_scoped
from webapp.domain import campaigns, drafts
from webapp.domain import messages as table
from webapp.extensions import db
from webapp.formatting import count, plain_money, team_zone_name
from webapp.models import Campaign, CampaignState, message_state_label
from webapp.views.campaigns import bp

S = CampaignState


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
        left = cancelled or 0
        flash(
            ngettext(
                "Cancelled. %(count)s message not yet sent will not be sent.",
                "Cancelled. %(count)s messages not yet sent will not be sent.",
                left,
                count=count(left),
            )
        )
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
    """The message table, with its filters, as CSV in the chosen format (csv_writer): streamed
    by keyset chunks, so a million rows never sit in memory; times in the team's zone."""
    campaign = team_scoped(Campaign, campaign_id)
    filters = table.Filters.from_args(request.args)
    zone = timezones.team_zone(current_team())
    team_id = campaign.team_id
    # People read Excel's formats: states and statuses in words, the zone by its city; a
    # program reads the plain one: machine values (csv_writer's docstring).
    in_words = csv_writer.chosen_format().in_words
    zone_name = team_zone_name() if in_words else zone.key
    # In the request: its language (the rows below are read after it has ended).
    header = [
        _("Phone"),
        _("State"),
        _("Gateway status"),
        _("Parts"),
        _("Cost, RUB"),
        _("Sent (%(zone)s)", zone=zone_name),
        _("En route (%(zone)s)", zone=zone_name),
        _("Final status (%(zone)s)", zone=zone_name),
    ]

    def rows() -> Iterator[list[Any]]:
        # Read while the body is sent, in the app context csv_writer.download gives each block
        # (export_rows reads a page of messages at a time, each page in that block's session);
        # not stream_with_context, which would keep the whole request open until the last byte.
        # The words are translated here, in the reader's language that block is read in.
        yield header
        for row in table.export_rows(db.session, team_id, campaign_id, filters):
            phone, state, status, parts, cost, *times = row
            if in_words:
                state, status = message_state_label(state), str(gateway_texts.status_text(status))
            yield [phone, state, status, parts, csv_writer.Number(plain_money(cost)), *times]

    name = f"campaign-{campaign.id}-messages{'-' + filters.state if filters.state else ''}.csv"
    return csv_writer.download(rows(), name, zone=zone)


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
    resend = drafts.draft_resend(db.session, current_team(), campaign, current_user, name)
    if resend is None:
        flash(_("This campaign has no failed or unknown messages to resend."), "warning")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    draft, created = resend
    db.session.commit()
    if draft.state != S.DRAFT:
        # Resent once: what failed in that resend is resent from the resend's own page.
        flash(_("This campaign was resent already, as %(name)s.", name=draft.name), "warning")
        return redirect(url_for("campaigns.show", campaign_id=draft.id))
    if not created:
        flash(_("This resend is already waiting for your confirmation."))
    return redirect(url_for("campaigns.confirm", campaign_id=draft.id))
