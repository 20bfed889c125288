"""Drafts: deleting one (from the composer, its campaign page or the list), and copying a
campaign into a new draft ("Copy this campaign"). Routes only: the rules are
webapp.domain.drafts."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from webapp.access import Permission, current_team, team_required, team_scoped
from webapp.domain import drafts
from webapp.domain.campaigns import CampaignError
from webapp.extensions import db
from webapp.models import Campaign

bp = Blueprint("drafts", __name__)


@bp.post("/campaigns/<int:campaign_id>/delete")
@team_required(Permission.SEND)
def delete(campaign_id: int) -> ResponseReturnValue:
    """Delete a draft (a draft is deleted, not cancelled: it has sent nothing). A resend
    draft deleted lets its source campaign be resent again."""
    campaign = team_scoped(Campaign, campaign_id)
    name = campaign.name
    try:
        drafts.delete_draft(db.session, campaign, current_user)
    except CampaignError as exc:
        flash(str(exc), "error")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    flash(_("The draft %(name)s is deleted.", name=name))
    return redirect(url_for("campaigns.index"))


@bp.post("/campaigns/<int:campaign_id>/copy")
@team_required(Permission.SEND)
def copy(campaign_id: int) -> ResponseReturnValue:
    """A new draft with the campaign's recipients (its lists that still exist, its pasted
    numbers), text and options, not its schedule, opened in the composer; of a resend, its
    text and options only. The flash says what was not copied."""
    campaign = team_scoped(Campaign, campaign_id)
    name = _("Copy of %(name)s", name=campaign.name)
    made = drafts.copy_campaign(db.session, current_team(), campaign, current_user, name)
    db.session.commit()
    if made.recipients_not_copied:
        flash(
            _(
                "Copied the text and options. The recipients were not copied: a resend goes "
                "to its campaign's failed and unknown messages. Choose lists or paste numbers."
            ),
            "warning",
        )
    else:
        flash(_("Copied the recipients, text and options. Choose when to send it."))
    if made.lists_gone:
        flash(
            ngettext(
                "%(num)d list of the campaign no longer exists and was left out.",
                "%(num)d lists of the campaign no longer exist and were left out.",
                made.lists_gone,
            ),
            "warning",
        )
    return redirect(url_for("campaigns.edit", campaign_id=made.draft.id))
