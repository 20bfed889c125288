"""Campaigns: committing a checked draft, and the lifecycle after that: edit, cancel, pause,
resume, and the worker's start, pause and finish.

Every change of a campaign's state, by a person or by the worker, goes through
:func:`transition`: one conditional UPDATE (``WHERE state IN (...)``), so a double click or a
racing worker cannot apply it twice, and the audit event written with it. Errors a person can
act on are raised as :class:`CampaignError` with a message in plain words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session

from webapp import texts
from webapp.domain import counters, notifications
from webapp.domain.audit import record
from webapp.domain.campaign_messages import create_messages, refresh_statistics
from webapp.domain.campaign_refusals import (
    REFUSED_CANCEL,
    REFUSED_EDIT,
    REFUSED_PAUSE,
    REFUSED_RESUME,
    REFUSED_SEND,
    CampaignError,
    NotCovered,
    no_longer,
)
from webapp.domain.composer import Check, check
from webapp.formatting import count, plain_money
from webapp.models import (
    COUNTED_STATES,
    AuditEvent,
    Campaign,
    CampaignState,
    Message,
    MessageState,
    NotificationKind,
    Team,
    User,
    utcnow,
)

S = CampaignState
# -- transitions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    """A change of a campaign's state: the states it may start from, the one it leads to, and
    the audit action recorded when it happens."""

    action: str
    sources: tuple[CampaignState, ...]
    target: CampaignState


COMMIT = Transition("campaign_sent", (S.DRAFT,), S.SCHEDULED)
EDIT = Transition("campaign_edited", (S.SCHEDULED,), S.DRAFT)
# A draft is deleted, not cancelled (delete_draft): it has nothing to keep.
CANCEL = Transition("campaign_cancelled", (S.SCHEDULED, S.SENDING, S.PAUSED), S.CANCELLED)
PAUSE = Transition("campaign_paused", (S.SENDING,), S.PAUSED)
RESUME = Transition("campaign_resumed", (S.PAUSED,), S.SENDING)
# The worker's: a scheduled campaign whose time has come, a sending one with nothing left.
START = Transition("campaign_started", (S.SCHEDULED,), S.SENDING)
FINISH = Transition("campaign_finished", (S.SENDING,), S.FINISHED)


def transition(
    session: Session,
    campaign_id: int,
    move: Transition,
    by: User | None = None,
    *,
    now: datetime | None = None,
    where: Iterable[ColumnElement[bool]] = (),
    values: Mapping[str, Any] | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent | None:
    """Move the campaign to ``move.target`` if it is in one of ``move.sources`` (and matches
    ``where``), setting ``values`` too, and record the audit event (``details`` with the
    campaign's id and name). Returns the event, or None when the campaign's state did not
    allow the move: then nothing was written. The caller commits."""
    moved = session.execute(
        update(Campaign.__table__)
        .where(Campaign.id == campaign_id, Campaign.state.in_(move.sources), *where)
        .values(state=move.target, updated_at=now or utcnow(), **(values or {}))
        .returning(Campaign.team_id, Campaign.name)
    ).first()
    if moved is None:
        return None
    details = {"campaign": campaign_id, "name": moved.name, **(details or {})}
    return record(session, moved.team_id, move.action, by, **details)


def _by_person(
    session: Session,
    campaign: Campaign,
    move: Transition,
    by: User | None,
    refused: texts.Text,
    **values: Any,
) -> AuditEvent:
    """A person's transition of ``campaign``; ``refused`` says why when its state forbids it.
    A test send never goes back to a draft: it would become a campaign of its own that no list
    shows (its recipients and text are the test's)."""
    if move is EDIT and campaign.test_of is not None:
        raise CampaignError(_("A test send cannot be edited: send another test from the composer."))
    not_a_test = [Campaign.test_of.is_(None)] if move is EDIT else []
    event = transition(session, campaign.id, move, by, values=values, where=not_a_test)
    if event is None:
        session.rollback()
        session.refresh(campaign)
        raise CampaignError(no_longer(campaign, refused))
    return event


def _add_details(event: AuditEvent, **details: Any) -> None:
    """What became known after the transition (a new dict: the JSON column sees the change)."""
    event.details = {**event.details, **details}


# -- by a person ---------------------------------------------------------------------------------


def commit(
    session: Session,
    campaign: Campaign,
    by: User | None = None,
    *,
    now: datetime | None = None,
    expected: int | None = None,
    send_anyway: bool = False,
    revision: int | None = None,
) -> int:
    """Send a checked draft: create its messages and schedule it (for ``send_at``, or now).

    ``expected`` is the recipient count the person confirmed: if the lists changed since, the
    campaign is not sent and the error says so. A campaign whose estimate is more than the
    account has (webapp/domain/funds.py) is refused with :class:`NotCovered` unless the person
    chose ``send_anyway`` (then audited with the shortfall; the campaign pauses when the
    gateway reports the balance empty). ``revision`` is the draft's revision the person
    confirmed: a draft saved since (another tab) is not sent. Returns the number of messages
    created.
    """
    now = now or utcnow()
    team = session.get(Team, campaign.team_id)
    assert team is not None
    result, shortfall = _confirmed(session, team, campaign, now, expected, send_anyway)
    found = result.recipients
    send_at = campaign.send_at or now
    event = transition(
        session,
        campaign.id,
        COMMIT,
        by,
        now=now,
        where=[Campaign.revision == revision] if revision is not None else [],
        values={
            "send_at": send_at,
            "scheduled_at": now,
            "started_at": None,
            "finished_at": None,
            "pause_reason": "",
            "price_per_part": team.price_per_part,
            "estimate": result.estimate,
            "estimate_parts": found.count * result.parts[1],
        },
        details={
            "sender": campaign.sender,
            "when": send_at.isoformat(),
            "now": campaign.send_at is None,
            **shortfall,
        },
    )
    if event is None:
        session.rollback()
        session.refresh(campaign)
        if campaign.state == S.DRAFT:
            raise CampaignError(_("The draft changed since this page was shown. Check it again."))
        raise CampaignError(_("This campaign was sent already (perhaps from another tab)."))
    created = _queue_messages(session, campaign, found, event)
    session.commit()
    session.refresh(campaign)
    return created


def _queue_messages(session: Session, campaign: Campaign, found: Any, event: AuditEvent) -> int:
    """The committed campaign's messages, queued, and its counters: how many."""
    with session.no_autoflush:  # the event is written once, with what follows in its details
        created = create_messages(session, campaign, found.list_ids, found.pasted_only)
        if created == 0:
            session.rollback()
            raise CampaignError(_("There are no recipients left to send to."))
        counters.shift(session, campaign.id, {MessageState.QUEUED: created})
        refresh_statistics(session, created)
        session.execute(
            update(Campaign.__table__).where(Campaign.id == campaign.id).values(recipients=created)
        )
        _add_details(event, recipients=created)
    return created


def _confirmed(
    session: Session,
    team: Team,
    campaign: Campaign,
    now: datetime,
    expected: int | None,
    send_anyway: bool = False,
) -> tuple[Check, dict[str, Any]]:
    """The draft's check, if it may be sent as the person confirmed it, and the audit
    details of a shortfall the person chose to send anyway (empty when there is none)."""
    result = check(session, team, campaign, now)
    if campaign.state != S.DRAFT:
        raise CampaignError(no_longer(campaign, REFUSED_SEND))
    if not result.ready:
        raise CampaignError(result.first_error())
    if expected is not None and result.recipients.count != expected:
        raise CampaignError(
            _(
                "The recipients changed since you checked: there are now %(now)s, not "
                "%(expected)s. Check again before sending.",
                now=count(result.recipients.count),
                expected=count(expected),
            )
        )
    funds = result.funds
    if funds is None or not funds.short:
        return result, {}
    if not send_anyway:
        raise NotCovered(funds)
    return result, {
        "sent_anyway": True,
        "balance_type": funds.type,
        "available": plain_money(funds.available),
        "held": plain_money(funds.held),
        "needed": plain_money(funds.needed),
    }


def edit(session: Session, campaign: Campaign, by: User | None = None) -> None:
    """Take a scheduled campaign that has not started back to a draft: its messages are
    deleted and its counters zeroed; a "send now" choice stays "now"."""
    as_soon_as_possible = campaign.send_at is not None and campaign.send_at == campaign.scheduled_at
    zeroed = {state.value: 0 for state in COUNTED_STATES}
    _by_person(
        session,
        campaign,
        EDIT,
        by,
        REFUSED_EDIT,
        scheduled_at=None,
        send_at=None if as_soon_as_possible else campaign.send_at,
        recipients=0,
        parts=0,
        cost=0,
        **zeroed,
    )
    session.execute(delete(Message).where(Message.campaign_id == campaign.id))
    session.commit()
    session.refresh(campaign)


def cancel(session: Session, campaign: Campaign, by: User | None = None) -> int:
    """Cancel a campaign: messages not yet sent never will be. Returns how many were
    cancelled; messages a worker already claimed stay as the worker leaves them."""
    now = utcnow()
    event = _by_person(session, campaign, CANCEL, by, REFUSED_CANCEL, finished_at=now)
    with session.no_autoflush:  # the event is written once, with the count in its details
        done = session.execute(
            update(Message)
            .where(Message.campaign_id == campaign.id, Message.state == MessageState.QUEUED)
            .values(state=MessageState.CANCELLED, updated_at=now, final_at=now)
            .execution_options(synchronize_session=False)
        )
        moved = done.rowcount
        counters.move(session, campaign.id, MessageState.QUEUED, MessageState.CANCELLED, moved)
        _add_details(event, cancelled_messages=moved)
    session.commit()
    session.refresh(campaign)
    return moved


def pause(session: Session, campaign: Campaign, by: User | None = None) -> None:
    """Stop a sending campaign for now; the worker claims nothing more of it."""
    # Kept untranslated, shown in each reader's language (webapp/texts.py).
    why = texts.N_("Paused by %(email)s", email=by.email) if by else texts.N_("Paused")
    _by_person(session, campaign, PAUSE, by, REFUSED_PAUSE, pause_reason=texts.stored(why, 500))
    session.commit()
    session.refresh(campaign)


def resume(session: Session, campaign: Campaign, by: User | None = None) -> None:
    """Let a paused campaign send again."""
    _by_person(session, campaign, RESUME, by, REFUSED_RESUME, pause_reason="")
    session.commit()
    session.refresh(campaign)


# -- by the worker -------------------------------------------------------------------------------


def start_due(session: Session, now: datetime) -> list[int]:
    """Scheduled campaigns whose time has come start sending; commits."""
    due = session.scalars(
        select(Campaign.id).where(
            Campaign.state == S.SCHEDULED,
            (Campaign.send_at.is_(None)) | (Campaign.send_at <= now),
        )
    ).all()
    # One by one, each conditional: a campaign edited or cancelled meanwhile is left alone.
    started = [
        campaign_id
        for campaign_id in due
        if transition(session, campaign_id, START, now=now, values={"started_at": now})
    ]
    session.commit()
    return started


def pause_by_worker(session: Session, campaign_id: int, reason: texts.Text) -> bool:
    """Stop claiming a sending campaign's messages until a person resumes it (wrong
    credentials, no balance, repeated failures); commits. The reason is kept untranslated,
    for each reader's language (webapp/texts.py)."""
    event = transition(
        session,
        campaign_id,
        PAUSE,
        values={"pause_reason": texts.stored(reason, 500)},
        details={"reason": texts.stored(reason), "by": "worker"},
    )
    if event is not None:
        notifications.notify(session, event, NotificationKind.PAUSED, campaign_id)
    session.commit()
    return event is not None


def finish_done(session: Session, now: datetime) -> list[int]:
    """Sending campaigns with nothing queued or in flight are finished; commits."""
    nothing_left = (Campaign.queued == 0, Campaign.sending == 0)
    done = session.scalars(
        select(Campaign.id).where(Campaign.state == S.SENDING, *nothing_left)
    ).all()
    finished = []
    for campaign_id in done:
        event = transition(
            session, campaign_id, FINISH, now=now, where=nothing_left, values={"finished_at": now}
        )
        if event is not None:
            notifications.notify(session, event, NotificationKind.FINISHED, campaign_id)
            finished.append(campaign_id)
    session.commit()
    return finished


# -- drafts --------------------------------------------------------------------------------------


def new_draft(session: Session, team: Team, by: User | None) -> Campaign:
    """An empty draft; the caller commits."""
    campaign = Campaign(
        team_id=team.id,
        created_by_id=by.id if by is not None else None,
        name="",
        state=S.DRAFT,
        list_ids=[],
        pasted_numbers="",
        price_per_part=team.price_per_part,
    )
    session.add(campaign)
    session.flush()
    campaign.name = _("Campaign %(number)s", number=campaign.id)
    return campaign
