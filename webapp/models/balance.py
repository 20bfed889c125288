"""What the team's account holds over time, and what its messages cost, by quarter hour."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.types import BigId, UTCDateTime


class BalanceSnapshot(db.Model):
    """One entry of balance.json (a type such as RUB or SMS, its balance and credit) as the
    worker read it at ``taken_at``. A snapshot is every entry read at the same moment."""

    __tablename__ = "balance_snapshots"
    __table_args__ = (Index("ix_balance_snapshots_team_taken", "team_id", "taken_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
    type: Mapped[str] = mapped_column(String(16))
    balance: Mapped[Decimal] = mapped_column(Numeric(16, 4))
    credit: Mapped[Decimal] = mapped_column(Numeric(16, 4), default=Decimal(0))

    @property
    def available(self) -> Decimal:
        return self.balance + self.credit


class UsagePeriod(db.Model):
    """A campaign's sending in one quarter hour (UTC): messages answered, parts and cost, and
    how many of those messages were delivered or failed since.

    Written in the same transactions that move the messages, so reports over any period read
    a few rows per campaign and day instead of millions of messages. Quarter hours because
    every time zone's offset is a multiple of 15 minutes: a day in the team's zone is always
    a whole number of periods.
    """

    __tablename__ = "usage_periods"
    __table_args__ = (
        UniqueConstraint("campaign_id", "period_start", name="uq_usage_periods_campaign_period"),
        Index("ix_usage_periods_team_period", "team_id", "period_start"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    parts: Mapped[int] = mapped_column(BigInteger, default=0)
    cost: Mapped[Decimal] = mapped_column(Numeric(16, 4), default=Decimal(0))
    # The share of parts and cost priced by us (the gateway gave no msgCost): an estimate.
    estimated_parts: Mapped[int] = mapped_column(BigInteger, default=0)
    estimated_cost: Mapped[Decimal] = mapped_column(Numeric(16, 4), default=Decimal(0))
    # Outcomes of the messages sent in this period, counted as their final statuses arrive.
    delivered: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
