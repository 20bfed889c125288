"""Mailing notifications (webapp/domain/notifications.py), from the worker only, never from a
request: each pending notification is claimed by a conditional UPDATE (its rows locked with SKIP
LOCKED on PostgreSQL) committed before the mail server is called, so two workers never mail the
same one; a refusal is retried later, a few times; a claim that a stopped worker left is never
mailed again (at most once, as messages are sent)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, joinedload

from webapp.domain import leases, notifications
from webapp.mail import MailError
from webapp.models import MailState, Notification

MAIL_BATCH = 20  # notifications one claim takes
MAIL_CLAIM_TTL = timedelta(minutes=10)  # a claim older than this: its worker stopped
MAIL_ATTEMPTS = 5  # refusals by the mail server before a mail is given up
MAIL_FIRST_RETRY = timedelta(minutes=1)  # then twice as long each time, up to MAIL_MAX_WAIT
MAIL_MAX_WAIT = timedelta(hours=1)

Send = Callable[[Mapping[str, Any], str, str, str], None]  # webapp.mail.send_mail
Compose = Callable[[Notification], tuple[str, str]]  # a notification's subject and text


@dataclass
class MailReport:
    """What one run of the mail tick did."""

    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)


def claim_mail(session: Session, now: datetime, limit: int = MAIL_BATCH) -> list[int]:
    """Take up to ``limit`` pending notifications for this worker (committed): a conditional
    UPDATE, so two workers never take the same one (on PostgreSQL the candidates are locked
    with SKIP LOCKED, so they take different ones at once; SQLite's one writer serialises the
    claims). A claim left by a stopped worker is given up first, never mailed twice."""
    session.commit()  # a fresh transaction: on SQLite the claim waits for the write lock
    session.execute(
        update(Notification)
        .where(
            Notification.mail_state == MailState.SENDING,
            Notification.mail_claimed_at < now - MAIL_CLAIM_TTL,
        )
        .values(
            mail_state=MailState.FAILED,
            mail_error="The worker stopped while mailing it; not sent again.",
        )
        .execution_options(synchronize_session=False)
    )
    candidates = (
        select(Notification.id)
        .where(
            Notification.mail_state == MailState.PENDING,
            or_(Notification.mail_next_at.is_(None), Notification.mail_next_at <= now),
        )
        .order_by(Notification.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    claimed = session.scalars(
        update(Notification)
        .where(
            Notification.id.in_(candidates.scalar_subquery()),
            Notification.mail_state == MailState.PENDING,
        )
        .values(mail_state=MailState.SENDING, mail_claimed_at=now)
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    ).all()
    session.commit()
    return sorted(claimed)


def skip_mail(session: Session) -> int:
    """With mail not set up, pending notifications stay in the app only (and are not mailed,
    days late, once it is). Commits."""
    done = session.execute(
        update(Notification)
        .where(Notification.mail_state == MailState.PENDING)
        .values(mail_state=MailState.NONE)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return done


def mail_due(
    session: Session,
    config: Mapping[str, Any],
    clock: Callable[[], datetime],
    compose: Compose,
    send: Send,
    batches: int = 5,
) -> MailReport:
    """Mail claimed notifications, one claim of :data:`MAIL_BATCH` at a time, up to
    ``batches`` claims: ``compose`` gives a notification's subject and text, ``send`` mails
    it (raising MailError on refusal). Each result is committed as it comes, and no database
    connection is held while the mail server is talked to."""
    report = MailReport()
    for _batch in range(batches):
        ids = claim_mail(session, clock())
        if not ids:
            break
        for notification_id in ids:
            _mail_one(session, config, clock, notification_id, compose, send, report)
    return report


def _mail_one(
    session: Session,
    config: Mapping[str, Any],
    clock: Callable[[], datetime],
    notification_id: int,
    compose: Compose,
    send: Send,
    report: MailReport,
) -> None:
    notification = session.scalar(
        select(Notification)
        .options(
            joinedload(Notification.event),
            joinedload(Notification.user),
            joinedload(Notification.team),
        )
        .where(Notification.id == notification_id)
    )
    if notification is None:  # purged meanwhile
        session.commit()
        return
    if notifications.one_of(session, notification.user_id, notification_id) is None:
        # Not the person's to read (any more): they left the team, or it requires two-factor
        # sign-in they have not turned on. Its page would be a 404: no mail either.
        session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(mail_state=MailState.NONE)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        return
    to = notification.user.email
    subject, body = compose(notification)
    attempts = notification.mail_attempts + 1
    session.commit()  # the connection goes back to the pool while the mail server answers
    try:
        send(config, to, subject, body)
    except MailError as exc:
        values: dict[str, Any] = {"mail_attempts": attempts, "mail_error": str(exc)[:200]}
        if attempts >= MAIL_ATTEMPTS:
            values["mail_state"] = MailState.FAILED
            report.failed.append(notification_id)
        else:
            values["mail_state"] = MailState.PENDING
            wait = leases.backoff(MAIL_FIRST_RETRY, attempts, MAIL_MAX_WAIT)
            values["mail_next_at"] = clock() + wait
            report.retried.append(notification_id)
    else:
        values = {"mail_state": MailState.SENT, "mail_attempts": attempts, "mail_error": ""}
        report.sent.append(notification_id)
    session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.mail_state == MailState.SENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
