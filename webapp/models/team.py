"""Teams, their members and invitations: the unit that owns campaigns, contacts and a gateway."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, LargeBinary, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.iqsms import DEFAULT_BASE_URL
from webapp.models.types import UTCDateTime, utcnow


class Role(StrEnum):
    """What a member may do in a team, from least to most."""

    VIEWER = "viewer"  # reads everything, changes nothing
    SENDER = "sender"  # composes and sends campaigns, manages contacts
    ADMIN = "admin"  # members, gateway settings, sender names
    OWNER = "owner"  # everything, including billing settings and deleting the team

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank

    @property
    def label(self) -> str:
        """The role in words, in the reader's language ("admin"), as a sentence uses it."""
        return str(ROLE_LABELS[self])


ROLE_LABELS = {
    Role.VIEWER: _l("viewer"),
    Role.SENDER: _l("sender"),
    Role.ADMIN: _l("admin"),
    Role.OWNER: _l("owner"),
}


def role_label(role: str) -> str:
    """A stored role (a membership's, an invitation's, an audit entry's) in words; a value that
    is not a role, as it is."""
    try:
        return Role(role).label
    except ValueError:
        return role


class GatewayMode(StrEnum):
    SANDBOX = "sandbox"  # the built-in simulator, with the team's own sandbox account
    IQSMS = "iqsms"  # a real iQSMS account

    @property
    def label(self) -> str:
        """The gateway in words ("the sandbox", "iQSMS")."""
        return str(GATEWAY_MODE_LABELS[self])


GATEWAY_MODE_LABELS = {GatewayMode.SANDBOX: _l("the sandbox"), GatewayMode.IQSMS: "iQSMS"}


class Team(db.Model):
    """A group of people sharing one iQSMS account and its campaigns."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Status queue of this team's messages at the gateway; generated once, 3-16 letters/digits.
    status_queue_name: Mapped[str] = mapped_column(String(16), unique=True)
    gateway_mode: Mapped[str] = mapped_column(String(16), default=GatewayMode.SANDBOX)
    gateway_url: Mapped[str] = mapped_column(String(300), default=DEFAULT_BASE_URL)
    gateway_login: Mapped[str] = mapped_column(String(100), default="")
    # Fernet token; the plain password is never stored and never rendered back.
    gateway_password_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    # False until the sandbox has the account (the sandbox may be down when the team is made).
    sandbox_account_ready: Mapped[bool] = mapped_column(default=False)

    # Sending settings (admins): phones without a country code are read in this region; times
    # are shown in this zone; the estimate uses this price; the worker keeps to this rate.
    phone_region: Mapped[str] = mapped_column(String(2), default="RU")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Moscow")
    price_per_part: Mapped[Decimal] = mapped_column(Numeric(10, 4), default=Decimal("2.50"))
    send_rate: Mapped[int] = mapped_column(default=500)  # messages per second at most
    # The worker's token bucket for send_rate: allowance left and when it was last filled.
    send_allowance: Mapped[float] = mapped_column(default=0.0)
    send_allowance_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Balance snapshots (webapp/balance.py): when the next is due, when the last attempt
    # started, and the failures since the last success (each retry waits twice as long).
    balance_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    balance_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    balance_failures: Mapped[int] = mapped_column(default=0)
    balance_error: Mapped[str] = mapped_column(String(500), default="")
    # The worker's sender sync (webapp/jobs/senders.py): when it is next due (None: at once),
    # claimed in this row so that one worker syncs a team however many run, and the syncs in a
    # row that found no names or failed (each retry waits twice as long).
    senders_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    senders_failures: Mapped[int] = mapped_column(default=0)
    # Owners, admins and senders are warned while this type's balance is below the threshold.
    low_balance_threshold: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    low_balance_type: Mapped[str] = mapped_column(String(16), default="RUB")
    low_balance_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Calls a person waits for ("test connection", "refresh now", sender sync), one at a time
    # per team (webapp/domain/gateway_calls.py): whether one runs, and until when no other may
    # start (its deadline while it runs, then the cooldown).
    gateway_call_running: Mapped[bool] = mapped_column(default=False)
    gateway_call_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The worker's view of the gateway (webapp/domain/gateway_health.py): since when its calls
    # time out or cannot connect (None while it answers), and when it last answered.
    gateway_silent_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    gateway_answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Owners may require two-factor sign-in of every member (webapp/domain/two_factor.py).
    two_factor_required: Mapped[bool] = mapped_column(default=False)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="team", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<Team {self.id} {self.name!r}>"


class Membership(db.Model):
    """A person's place in a team, with their role."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    team: Mapped[Team] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(back_populates="memberships")  # noqa: F821

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def role_label(self) -> str:
        return self.role_enum.label


class Invitation(db.Model):
    """A one-time link that lets someone join a team with a role, until it expires."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    # Only a hash is kept: someone reading the database cannot use a pending link.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    note: Mapped[str] = mapped_column(String(254), default="")  # who it is for, as a reminder
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    team: Mapped[Team] = relationship()

    @property
    def role_label(self) -> str:
        return role_label(self.role)

    def usable(self, now: datetime) -> bool:
        return self.accepted_at is None and self.revoked_at is None and now < self.expires_at
