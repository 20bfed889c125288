"""A draft's life outside the composer's check: storing what the composer holds (only over the
revision the form was filled from: two tabs never overwrite each other silently), drafts made
from a campaign (its one resend, the database refuses a second; a copy), deleting a draft (a
draft is deleted, not cancelled: it has sent nothing), and the reads the campaign pages need.

Each is audited; errors a person can act on are :class:`webapp.domain.campaigns.CampaignError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, delete, false, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import ObjectDeletedError

from webapp.domain import messages as table
from webapp.domain.audit import record
from webapp.domain.campaign_refusals import REFUSED_DELETE, no_longer
from webapp.domain.campaigns import CampaignError, new_draft
from webapp.domain.composer import DRAFT_FIELDS
from webapp.domain.recipients import team_list_ids
from webapp.models import Campaign, CampaignState, ContactList, Team, User, utcnow

S = CampaignState


def resend_draft(
    session: Session, team: Team, source: Campaign, by: User | None, name: str
) -> tuple[Campaign, bool]:
    """The resend of ``source`` (the campaign that sends its failed and unknown messages
    again) and whether it is new: the one there is, whatever its state (a double click, the
    back button, a second tab), else a new draft with the source's text, sender and options.
    The caller commits; a resend already sent is the caller's to refuse (see
    :func:`resent_as`).

    A campaign has at most one resend: ``campaigns.resend_of`` is unique, so the database
    refuses a second one whatever the number of tabs or processes. The source's row is
    written first (to itself), which holds it until commit (its row lock on PostgreSQL, the
    single write lock on SQLite), so that the second of two requests normally waits and finds
    the first's draft; should it still collide with the unique index (another process that
    skipped the lock), its insert is rolled back to a savepoint and the winner is returned.
    """
    session.execute(
        update(Campaign)
        .where(Campaign.id == source.id)
        .values(updated_at=Campaign.updated_at)  # no change; not utcnow() by onupdate either
        .execution_options(synchronize_session=False)
    )
    there = resent_as(session, source)
    if there is not None:
        return there, False
    # A resend cancelled before it sent anything resent nothing: it lets go of its source,
    # which may be resent again (a resend that sent some keeps it: those phones got it).
    session.execute(
        update(Campaign)
        .where(Campaign.team_id == source.team_id, Campaign.resend_of == source.id)
        .values(resend_of=None)
        .execution_options(synchronize_session=False)
    )
    try:
        with session.begin_nested():
            draft = new_draft(session, team, by)
            draft.name = name[:200]
            draft.text, draft.sender = source.text, source.sender
            draft.flash, draft.wapurl = source.flash, source.wapurl
            draft.list_ids, draft.pasted_numbers = [], ""
            draft.resend_of = source.id
            session.flush()
    except IntegrityError:
        there = resent_as(session, source)
        if there is None:
            raise
        return there, False
    return draft, True


def resent_as(session: Session, source: Campaign) -> Campaign | None:
    """The campaign that resends ``source``'s failed and unknown messages (a draft waiting
    for its confirmation, or sent), of the same team only; None when there is none, or when
    it was cancelled before it sent anything (then it resent nothing)."""
    return session.scalar(
        select(Campaign).where(
            Campaign.team_id == source.team_id,
            Campaign.resend_of == source.id,
            ~and_(Campaign.state == S.CANCELLED, Campaign.cancelled == Campaign.recipients),
        )
    )


def delete_draft(session: Session, campaign: Campaign, by: User | None = None) -> None:
    """Delete a draft: it has no messages, so nothing but its row goes (test sends of it keep
    their own rows). A resend draft deleted frees its source to be resent again. Refused, with
    the reason, when the campaign is no longer a draft (sent meanwhile from another tab);
    audited. Commits."""
    gone = session.execute(
        delete(Campaign)
        .where(Campaign.id == campaign.id, Campaign.state == S.DRAFT)
        .returning(Campaign.team_id, Campaign.name, Campaign.resend_of)
    ).first()
    if gone is None:
        session.rollback()
        session.refresh(campaign)
        raise CampaignError(no_longer(campaign, REFUSED_DELETE))
    details: dict[str, Any] = {"campaign": campaign.id, "name": gone.name}
    if gone.resend_of is not None:
        details["resend_of"] = gone.resend_of
    record(session, gone.team_id, "campaign_draft_deleted", by, **details)
    session.commit()


@dataclass(frozen=True)
class Copy:
    """A new draft copied from a campaign, and what of the campaign it could not take."""

    draft: Campaign
    lists_gone: int  # lists of the source deleted since
    recipients_not_copied: bool  # a resend's recipients are its source's failed messages


def copy_campaign(
    session: Session, team: Team, source: Campaign, by: User | None, name: str
) -> Copy:
    """A new draft named ``name`` with ``source``'s recipients (its lists that still exist,
    its pasted numbers), text and options (sender, flash, WAP-push link), not its schedule.
    A resend's recipients were its source's failed messages, so of a resend only the text and
    options are copied. Audited; the caller commits."""
    draft = new_draft(session, team, by)
    draft.name = name[:200]
    draft.text, draft.sender = source.text, source.sender
    draft.flash, draft.wapurl = source.flash, source.wapurl
    chosen = [int(i) for i in (source.list_ids or [])]
    kept = team_list_ids(session, team.id, chosen) if source.resend_of is None else []
    draft.list_ids = [i for i in chosen if i in set(kept)]
    draft.pasted_numbers = source.pasted_numbers if source.resend_of is None else ""
    session.flush()
    record(session, team.id, "campaign_copied", by, campaign=source.id, draft=draft.id)
    resend = source.resend_of is not None
    return Copy(draft, 0 if resend else len(chosen) - len(draft.list_ids), resend)


# -- the draft -----------------------------------------------------------------------------------


class Saved(StrEnum):
    """What became of a save of the composer: stored; refused because the draft changed
    since the form was shown (another tab saved it: a newer revision); or not a draft any
    more (sent or deleted meanwhile)."""

    SAVED = "saved"
    CHANGED_ELSEWHERE = "changed_elsewhere"
    NOT_A_DRAFT = "not_a_draft"


def save_draft(
    session: Session,
    campaign: Campaign,
    values: dict[str, Any],
    revision: int | None = None,
    tab: str = "",
) -> Saved:
    """Store what the composer holds, only while the campaign is still a draft and, when
    ``revision`` is given, only if the draft is still at that revision: one conditional
    UPDATE, so neither a draft sent meanwhile nor one saved meanwhile by another tab is
    overwritten. A save moves the revision on. Nothing typed is cut (the request's size bounds
    it; what is too long to send, the check says); an empty name keeps the one it had.
    ``tab`` names the composer page saving: a newer revision that page saved itself is no
    conflict (a click that raced its own autosave). The caller commits."""
    values = {k: v for k, v in values.items() if k in (*DRAFT_FIELDS, "send_at")}
    if "name" in values:
        values["name"] = (values["name"] or "").strip() or campaign.name
    try:
        session.refresh(campaign)
    except ObjectDeletedError:  # deleted meanwhile, in another tab
        return Saved.NOT_A_DRAFT
    if campaign.state == S.DRAFT and all(getattr(campaign, k) == v for k, v in values.items()):
        # What the draft holds already (this tab's autosave answering late, after "Continue"
        # saved the same): nothing changes, not even the revision, so a confirmation page
        # shown meanwhile can still send it.
        return Saved.SAVED
    at_revision = []
    if revision is not None:
        mine = Campaign.revision_tab == tab[:32] if tab else false()
        at_revision.append(or_(Campaign.revision == revision, mine))
    done = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.state == S.DRAFT, *at_revision)
        .values(
            **values, revision=Campaign.revision + 1, revision_tab=tab[:32], updated_at=utcnow()
        )
        .execution_options(synchronize_session=False)
    )
    saved = done.rowcount == 1
    try:
        session.refresh(campaign)  # as it is now: this save's, or the other tab's
    except ObjectDeletedError:  # deleted meanwhile, in another tab
        return Saved.NOT_A_DRAFT
    # A form that holds what the draft holds loses nothing (this tab's own save answered
    # after it posted again, or both tabs typed the same).
    same = campaign.state == S.DRAFT and all(getattr(campaign, k) == v for k, v in values.items())
    if saved or same:
        return Saved.SAVED
    return Saved.CHANGED_ELSEWHERE if campaign.state == S.DRAFT else Saved.NOT_A_DRAFT


def read_revision(text: str | None) -> int | None:
    """The revision a form carried (None when it carried none it could)."""
    try:
        return int(text) if text else None
    except ValueError:
        return None


def version(campaign: Campaign) -> str:
    """A draft's revision as forms carry it: the composer's, to refuse a save over a newer
    one; the confirmation page's, to refuse sending a draft changed since it was shown."""
    return str(campaign.revision)


def draft_resend(
    session: Session, team: Team, source: Campaign, by: User | None, name: str
) -> tuple[Campaign, bool] | None:
    """The resend of ``source`` (see drafts.resend_draft) and whether it is new, recorded
    in the audit log when it is; None when ``source`` has nothing to resend (a draft, or no
    failed or unknown messages). The resend returned may be sent already (a campaign is
    resent once): the caller says so rather than open it. The caller commits."""
    if source.state == S.DRAFT or not table.resendable(source):
        return None
    draft, created = resend_draft(session, team, source, by, name)
    if created:
        record(session, team.id, "campaign_resend_drafted", by, campaign=source.id, draft=draft.id)
    return draft, created


# -- reads for the pages -------------------------------------------------------------------------


def team_lists(session: Session, team_id: int) -> Sequence[ContactList]:
    """The contact lists a draft may choose, by name."""
    return session.scalars(
        select(ContactList).where(ContactList.team_id == team_id).order_by(ContactList.name)
    ).all()


def resend_source(session: Session, campaign: Campaign) -> Campaign | None:
    """The campaign a resend sends again, when it is still there (of the same team only)."""
    if campaign.resend_of is None:
        return None
    return session.scalar(
        select(Campaign).where(
            Campaign.id == campaign.resend_of, Campaign.team_id == campaign.team_id
        )
    )
