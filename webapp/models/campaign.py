"""Campaigns and their messages: one message row per recipient."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from flask_babel import lazy_pgettext
from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Numeric,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp import texts
from webapp.extensions import db
from webapp.models.types import BigId, UTCDateTime, bytewise, utcnow


class CampaignState(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"  # messages created, waiting for their time
    SENDING = "sending"
    PAUSED = "paused"  # by a person, or by the worker (wrong credentials, no balance)
    FINISHED = "finished"  # every message sent or settled
    CANCELLED = "cancelled"


class MessageState(StrEnum):
    """Our states of a message: gateway statuses lead to them (docs/architecture.md)."""

    QUEUED = "queued"
    SENDING = "sending"  # claimed by a worker, request in flight
    ACCEPTED = "accepted"
    ENROUTE = "enroute"
    DELIVERED = "delivered"
    FAILED = "failed"
    REJECTED = "rejected"
    UNKNOWN = "unknown"  # may have reached the gateway: never resent automatically
    EXPIRED = "expired"
    CANCELLED = "cancelled"  # not sent: the campaign was cancelled first

    @property
    def label(self) -> str:
        """The state in words, in the reader's language, as a message's badge shows it. With
        a context: "sending" and "cancelled" of a message are not those of a campaign (in
        Russian a message is neuter, a campaign feminine). Only this one is translated: a
        table of messages asks for a label per row."""
        return str(_MESSAGE_STATE_LABELS[self])


_MESSAGE_STATE_LABELS = {
    MessageState.QUEUED: lazy_pgettext("message state", "queued"),
    MessageState.SENDING: lazy_pgettext("message state", "sending"),
    MessageState.ACCEPTED: lazy_pgettext("message state", "accepted"),
    MessageState.ENROUTE: lazy_pgettext("message state", "on its way"),
    MessageState.DELIVERED: lazy_pgettext("message state", "delivered"),
    MessageState.FAILED: lazy_pgettext("message state", "failed"),
    MessageState.REJECTED: lazy_pgettext("message state", "rejected"),
    MessageState.UNKNOWN: lazy_pgettext("message state", "unknown"),
    MessageState.EXPIRED: lazy_pgettext("message state", "expired"),
    MessageState.CANCELLED: lazy_pgettext("message state", "cancelled"),
}


@texts.per_language()
def message_state_label(state: str) -> str:
    """A stored message state in words; a value that is not one, as it is."""
    try:
        return MessageState(state).label
    except ValueError:
        return state


M = MessageState
# Per-state counters kept on the campaign, so its summary never scans its messages; also the
# order a message goes through its states.
COUNTED_STATES = tuple(MessageState)
# States that can still change; while a campaign has messages in any, it is not final.
MOVING_STATES = (M.QUEUED, M.SENDING, M.ACCEPTED, M.ENROUTE)
# Taken by the gateway, a delivery status still awaited (the status poll, expiry).
LIVE_STATES = (M.ACCEPTED, M.ENROUTE)
# The same as a condition in SQL, in the words of the status poll's partial index: a query
# uses a partial index only when its condition says so in the same literals (SQLite; and
# PostgreSQL's generic plans, whose parameters it cannot compare with the index's).
LIVE_STATES_SQL = "state IN ({})".format(", ".join(f"'{state}'" for state in LIVE_STATES))
# States a message ends in (an expired one still takes a late final status).
SETTLED_STATES = (M.DELIVERED, M.FAILED, M.REJECTED, M.UNKNOWN, M.EXPIRED, M.CANCELLED)
# The final delivery statuses: the gateway's last word on a message it took.
DELIVERY_OUTCOMES = (M.DELIVERED, M.FAILED)
# Did not get through: what the home page lists as failures.
FAILURE_STATES = (M.FAILED, M.REJECTED, M.UNKNOWN)
# Ended without reaching the phone, as far as anyone knows: the "not delivered" of progress.
UNDELIVERED_STATES = (M.FAILED, M.REJECTED, M.UNKNOWN, M.EXPIRED)
# What a resend sends again: failed, or never known to have reached the gateway.
RESENDABLE_STATES = (M.FAILED, M.UNKNOWN)
del M


class Campaign(db.Model):
    """A broadcast: its text, sender, options and schedule, its lifecycle and its counters."""

    __tablename__ = "campaigns"
    __table_args__ = (
        Index("ix_campaigns_state_scheduled", "state", "scheduled_at"),
        # The campaigns list: a team's campaigns newest first, by keyset pages.
        Index("ix_campaigns_team_id_id", "team_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Name and link are kept as typed (text, not a cut): the composer's check refuses what is
    # longer than a campaign may hold (composer.NAME_MAX, WAPURL_MAX).
    name: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default=CampaignState.DRAFT)
    text: Mapped[str] = mapped_column(Text, default="")
    sender: Mapped[str | None] = mapped_column(String(32))
    flash: Mapped[bool] = mapped_column(default=False)
    wapurl: Mapped[str | None] = mapped_column(Text)
    # Recipients as chosen in the composer: list ids and pasted numbers, kept with the draft.
    list_ids: Mapped[list] = mapped_column(JSON, default=list)
    pasted_numbers: Mapped[str] = mapped_column(Text, default="")
    # A resend: the campaign whose failed and unknown messages this one sends again (with
    # their texts as rendered then); its lists and pasted numbers stay empty.
    # At most one resend per campaign, whatever the number of tabs or processes: the database
    # refuses a second (a deleted resend draft frees its source to be resent again).
    resend_of: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), unique=True
    )
    # A test send: the campaign (a draft) whose rendered message this one sends to a few typed
    # numbers, never to its recipients; kept out of the campaigns list. No foreign key: the id
    # stays when the draft is deleted, so the test is still known as one.
    test_of: Mapped[int | None] = mapped_column(index=True)
    # The draft's revision: each save of the composer moves it on, and a save carrying an
    # older one is refused (two tabs on one draft never overwrite each other silently).
    revision: Mapped[int] = mapped_column(default=0, server_default="0")
    # The composer page (a random token each page carries) that saved the revision: a tab's
    # own saves racing each other (a click before its autosave answered) are no conflict.
    revision_tab: Mapped[str] = mapped_column(String(32), default="", server_default="")
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: as soon as possible
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when it was committed
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pause_reason: Mapped[str] = mapped_column(String(500), default="")
    # After a failed call (gateway down, error reply) the worker waits before trying again.
    failed_attempts: Mapped[int] = mapped_column(default=0)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Failures counted in send order (webapp/domain/send_calls.py, back_off): every claimed
    # batch takes the next number of ``claims``; ``failure_seq`` is what ``claims`` was when
    # the last counted failure was noted (calls claimed up to then were in flight with it: the
    # same attempt), ``failure_claim_seq`` that failure's own number (only a success claimed
    # after it ends the run).
    claims: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    failure_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    failure_claim_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    price_per_part: Mapped[Decimal] = mapped_column(Numeric(10, 4), default=Decimal(0))
    # What the composer's check estimated when it was committed: RUB, and parts (at most). The
    # share its unsent messages stand for is held for it when another campaign is checked
    # against the balance (webapp/domain/funds.py).
    estimate: Mapped[Decimal] = mapped_column(Numeric(14, 4), default=Decimal(0))
    estimate_parts: Mapped[int] = mapped_column(BigInteger, default=0)
    recipients: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    # Counters: moved together with the messages, in the same statement batch.
    queued: Mapped[int] = mapped_column(default=0)
    sending: Mapped[int] = mapped_column(default=0)
    accepted: Mapped[int] = mapped_column(default=0)
    enroute: Mapped[int] = mapped_column(default=0)
    delivered: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    unknown: Mapped[int] = mapped_column(default=0)
    expired: Mapped[int] = mapped_column(default=0)
    cancelled: Mapped[int] = mapped_column(default=0)
    parts: Mapped[int] = mapped_column(BigInteger, default=0)  # billed parts of accepted ones
    cost: Mapped[Decimal] = mapped_column(Numeric(14, 4), default=Decimal(0))

    team = relationship("Team")

    @property
    def state_enum(self) -> CampaignState:
        return CampaignState(self.state)


class Message(db.Model):
    """One recipient of a campaign: the rendered text, the phone, our state, the gateway's."""

    __tablename__ = "messages"
    __table_args__ = (
        # The dispatch claim: a campaign's queued messages in id order.
        Index("ix_messages_campaign_state_id", "campaign_id", "state", "id"),
        # The message table's pages (keyset on id) and search by phone.
        Index("ix_messages_campaign_id_id", "campaign_id", "id"),
        Index("ix_messages_campaign_phone", "campaign_id", "phone"),
        # Statuses arrive by the gateway's id.
        Index("ix_messages_smsc_id", "smsc_id"),
        # The status poll: messages still on their way whose next check is due. Only those:
        # a message's final status adds no entry (one index fewer to write per status).
        Index(
            "ix_messages_state_next_check",
            "state",
            "next_check_at",
            postgresql_where=text(LIVE_STATES_SQL),
            sqlite_where=text(LIVE_STATES_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)  # also the clientId sent
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    # State and gateway id compare byte by byte on both databases (migrations/versions/
    # i14_byte_order.py): every status writes both into indexes.
    state: Mapped[str] = mapped_column(bytewise(16), default=MessageState.QUEUED)
    gateway_status: Mapped[str] = mapped_column(String(64), default="")
    smsc_id: Mapped[str | None] = mapped_column(bytewise(32))
    parts: Mapped[int] = mapped_column(SmallInteger, default=0)
    cost: Mapped[Decimal | None] = mapped_column(Numeric(10, 4))
    cost_estimated: Mapped[bool] = mapped_column(default=False)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # accepted (or rejected)
    enroute_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # handed to the operator
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # delivered, failed, ...
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The status poll (status.json) for messages whose queue status never came: when next,
    # and how many times so far (the wait doubles).
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checks: Mapped[int] = mapped_column(SmallInteger, default=0)


class PendingStatus(db.Model):
    """A status from the gateway for an ``smsc_id`` we do not know yet: it can arrive before
    its message's send result is committed. Applied (and removed) when that result is stored."""

    __tablename__ = "pending_statuses"
    __table_args__ = (Index("ix_pending_statuses_team_smsc", "team_id", "smsc_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    smsc_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Lease(db.Model):
    """A named lease a worker holds for work that must not run twice at once (draining one
    team's status queue), until it releases it or the lease expires."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
