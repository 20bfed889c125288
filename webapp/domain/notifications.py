"""Notifications: who is told of a team's events, in the app and by mail, and each person's
choice of which kinds they want.

- The events are audit events: a campaign finished or paused by the worker
  (webapp/domain/campaigns.py), the balance fell below the warning threshold
  (webapp/domain/balance.py). They call :func:`notify` in the transaction that records the
  event, so a notification exists exactly when its event does.
- Who: the team's owners and admins, and the campaign's author while a member; not for a test
  send (its person watches it beside the button). Each person's choice per kind (app and mail,
  app only, off) is respected.
- Once per person and event, whatever the number of workers: the pair is a unique key, and rows
  are inserted with ON CONFLICT DO NOTHING (on SQLite and PostgreSQL alike).
- Mail goes from the worker only (webapp/domain/notification_mail.py).
- Bounded: a person keeps their newest :data:`KEPT_PER_PERSON`; older ones are deleted as new
  ones come.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, joinedload

from webapp import texts
from webapp.formatting import balance_amount
from webapp.models import (
    AuditEvent,
    Campaign,
    Delivery,
    MailState,
    Membership,
    Notification,
    NotificationKind,
    NotificationSetting,
    Role,
    Team,
    TwoFactor,
    User,
)

KEPT_PER_PERSON = 200  # a person's newest notifications kept; older ones go
PAGE_SIZE = 50

K = NotificationKind
# Told of every event of their teams; a campaign's author is told of their campaign's too.
TEAM_WIDE_ROLES = tuple(role.value for role in Role if role.at_least(Role.ADMIN))
# The kinds a campaign's author hears of (the balance is for owners and admins).
AUTHOR_KINDS = (K.FINISHED, K.PAUSED)


# -- telling people ------------------------------------------------------------------------------


def notify(
    session: Session, event: AuditEvent, kind: NotificationKind, campaign_id: int | None = None
) -> int:
    """Tell the people who should hear of ``event`` (a new audit event on ``session``):
    the team's owners and admins, and the campaign's author, minus those who turned ``kind``
    off. Returns how many were told now (a person already told of the event is not told
    again). The caller commits, with the event."""
    session.flush()  # the event's id
    author_id = None
    if campaign_id is not None:
        campaign = session.execute(
            select(Campaign.created_by_id, Campaign.test_of).where(Campaign.id == campaign_id)
        ).first()
        if campaign is None or campaign.test_of is not None:
            return 0
        if kind in AUTHOR_KINDS:
            author_id = campaign.created_by_id
    wanted = or_(Membership.role.in_(TEAM_WIDE_ROLES), Membership.user_id == author_id)
    people = list(
        session.scalars(
            select(Membership.user_id)
            .where(Membership.team_id == event.team_id, wanted)
            .order_by(Membership.user_id)
        )
    )
    if not people:
        return 0
    choices = deliveries_of(session, people, kind)
    rows = [
        {
            "user_id": user_id,
            "team_id": event.team_id,
            "event_id": event.id,
            "kind": kind.value,
            "campaign_id": campaign_id,
            "created_at": event.created_at,
            "mail_state": MailState.PENDING
            if choices[user_id] == Delivery.APP_AND_MAIL
            else MailState.NONE,
            "mail_attempts": 0,
            "mail_error": "",
        }
        for user_id in people
        if choices[user_id] != Delivery.OFF
    ]
    told = insert_once(session, rows)
    purge(session, [row["user_id"] for row in rows])
    return told


def insert_once(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert notification rows, skipping any whose person was told of that event already
    (the unique key decides, so two workers at once insert one). Returns how many went in."""
    if not rows:
        return 0
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(Notification.__table__)
        .on_conflict_do_nothing(index_elements=["user_id", "event_id"])
        .returning(Notification.id)
    )
    return len(session.execute(statement, rows).all())


def purge(session: Session, user_ids: Iterable[int], kept: int = KEPT_PER_PERSON) -> None:
    """Delete each person's notifications older than their newest ``kept`` (people in id
    order, rows in index order: two workers purging one person wait for each other rather
    than deadlock)."""
    for user_id in sorted(set(user_ids)):
        oldest_kept = (
            select(Notification.id)
            .where(Notification.user_id == user_id)
            .order_by(Notification.id.desc())
            .offset(kept - 1)
            .limit(1)
            .scalar_subquery()
        )
        session.execute(
            delete(Notification)
            .where(Notification.user_id == user_id, Notification.id < oldest_kept)
            .execution_options(synchronize_session=False)
        )


# -- choices -------------------------------------------------------------------------------------


def deliveries_of(
    session: Session, user_ids: list[int], kind: NotificationKind
) -> dict[int, Delivery]:
    """Each person's choice for ``kind`` (app and mail unless they chose otherwise)."""
    chosen = dict(
        session.execute(
            select(NotificationSetting.user_id, NotificationSetting.delivery).where(
                NotificationSetting.user_id.in_(user_ids), NotificationSetting.kind == kind
            )
        ).all()
    )
    return {user_id: Delivery(chosen.get(user_id, Delivery.APP_AND_MAIL)) for user_id in user_ids}


def choices_of(session: Session, user_id: int) -> dict[NotificationKind, Delivery]:
    """A person's choice for every kind."""
    return {kind: deliveries_of(session, [user_id], kind)[user_id] for kind in NotificationKind}


def set_choices(session: Session, user: User, choices: Mapping[NotificationKind, Delivery]) -> None:
    """Keep a person's choices (the default one as no row). Commits."""
    for kind in NotificationKind:
        delivery = choices.get(kind, Delivery.APP_AND_MAIL)
        row = session.get(NotificationSetting, (user.id, kind.value))
        if delivery == Delivery.APP_AND_MAIL:
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(NotificationSetting(user_id=user.id, kind=kind.value, delivery=delivery))
        else:
            row.delivery = delivery
    session.commit()


# -- reading them --------------------------------------------------------------------------------


def _visible(user_id: int):
    """A person's notifications of the teams they are still in, but those of a team that
    requires two-factor sign-in while they have not turned it on (the team's pages are closed
    to them until they do: so is its news)."""
    enrolled = (
        select(TwoFactor.user_id)
        .where(TwoFactor.user_id == user_id, TwoFactor.enabled_at.is_not(None))
        .exists()
    )
    still_member = (
        select(Membership.id)
        .join(Team, Team.id == Membership.team_id)
        .where(
            Membership.user_id == user_id,
            Membership.team_id == Notification.team_id,
            or_(Team.two_factor_required.is_(False), enrolled),
        )
        .exists()
    )
    return (Notification.user_id == user_id, still_member)


def unread_count(session: Session, user_id: int) -> int:
    """How many of a person's notifications they have not read (the header's figure)."""
    return session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(*_visible(user_id), Notification.read_at.is_(None))
    )


def page(
    session: Session, user_id: int, before: int | None = None, size: int = PAGE_SIZE
) -> tuple[list[Notification], bool]:
    """A page of a person's notifications, newest first (those older than id ``before``),
    and whether more follow."""
    query = (
        select(Notification)
        .options(joinedload(Notification.event), joinedload(Notification.team))
        .where(*_visible(user_id))
        .order_by(Notification.id.desc())
    )
    if before is not None:
        query = query.where(Notification.id < before)
    rows = list(session.scalars(query.limit(size + 1)).unique())
    return rows[:size], len(rows) > size


def one_of(session: Session, user_id: int, notification_id: int) -> Notification | None:
    """A person's own notification (of a team they are still in), or None."""
    return session.scalar(
        select(Notification).where(Notification.id == notification_id, *_visible(user_id))
    )


def mark_read(session: Session, notification: Notification, now: datetime) -> None:
    """Mark one read (once: the first reading's time stays). Commits."""
    session.execute(
        update(Notification)
        .where(Notification.id == notification.id, Notification.read_at.is_(None))
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.refresh(notification)


def mark_all_read(session: Session, user_id: int, now: datetime) -> int:
    """Mark every unread one of a person read. Returns how many. Commits."""
    done = session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return done


def headline(notification: Notification) -> str:
    """What happened, in a sentence (the page's line and the mail's subject)."""
    details = notification.event.details if notification.event is not None else {}
    name = details.get("name", "")
    kind = notification.kind_enum
    if kind == K.FINISHED:
        # Sent, not "finished": delivery reports may still come ("sent, awaiting reports").
        return _("Campaign “%(name)s” was sent: every message has left.", name=name)
    if kind == K.PAUSED:
        # Kept untranslated by the worker (webapp/texts.py): said in the reader's language.
        reason = texts.shown(details.get("reason", ""))
        return _("Campaign “%(name)s” was paused: %(reason)s", name=name, reason=reason)
    type_ = details.get("type", "")
    return _(
        "The balance is %(amount)s, below the warning threshold of %(threshold)s.",
        amount=_amount(details.get("balance"), type_),
        threshold=_amount(details.get("threshold"), type_),
    )


def _amount(plain: str | None, type_: str) -> str:
    """An amount the audit details keep plainly (``1234.50``), as pages show it, with what
    it is counted in (``RUB 1,234.50``, ``1 234,50 ₽``, ``300 SMS``)."""
    try:
        return balance_amount(Decimal(plain), type_, unit=True) if plain else "—"
    except ArithmeticError:
        return str(plain)
