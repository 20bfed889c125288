"""Notifications: what a person is told about their teams (a campaign finished or paused by the
worker, the balance fell below the warning threshold), and which kinds they want.

A notification is one person's copy of one audit event; the pair is unique, so however many
workers notice an event, each person is told of it once (webapp/domain/notifications.py).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.types import UTCDateTime, utcnow


class NotificationKind(StrEnum):
    """What happened: each kind can be turned off by each person."""

    FINISHED = "finished"  # a campaign finished
    PAUSED = "paused"  # the worker paused a campaign (empty balance, gateway failing)
    BALANCE_LOW = "balance_low"  # the balance fell below the team's warning threshold


class Delivery(StrEnum):
    """How a person wants one kind: in the app and by mail (where mail is set up), in the app
    only, or not at all."""

    APP_AND_MAIL = "all"
    APP = "app"
    OFF = "off"


class MailState(StrEnum):
    """Where a notification's mail is: to be sent by the worker, claimed by one, done."""

    PENDING = "pending"  # the mail tick will send it
    SENDING = "sending"  # a worker claimed it (committed before talking to the server)
    SENT = "sent"
    FAILED = "failed"  # refused too often, or a worker stopped while sending (never resent)
    NONE = "none"  # not mailed: the person wants the app only, or mail is not set up


class Notification(db.Model):
    """One person told of one event of one of their teams."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "event_id", name="uq_notifications_user_event"),
        # A person's page, unread count and purge read by (user, id), newest first.
        Index("ix_notifications_user_id", "user_id", "id"),
        # The mail tick's claim: the oldest pending ones.
        Index("ix_notifications_mail_state", "mail_state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("audit_events.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    # The campaign it is about (None: the balance); a deleted campaign takes it along.
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mail_state: Mapped[str] = mapped_column(String(16), default=MailState.NONE)
    mail_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mail_attempts: Mapped[int] = mapped_column(default=0)
    mail_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # after a refusal
    mail_error: Mapped[str] = mapped_column(String(200), default="")

    event = relationship("AuditEvent")
    team = relationship("Team")
    user = relationship("User")

    @property
    def kind_enum(self) -> NotificationKind:
        return NotificationKind(self.kind)


class NotificationSetting(db.Model):
    """A person's choice for one kind, kept only when it is not the default (app and mail)."""

    __tablename__ = "notification_settings"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    delivery: Mapped[str] = mapped_column(String(8), default=Delivery.APP_AND_MAIL)
