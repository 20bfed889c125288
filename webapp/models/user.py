"""Users: people who sign in to the dashboard, their sign-in sessions and password resets."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, joinedload, mapped_column, relationship

from webapp.extensions import db, login_manager
from webapp.models.team import Membership
from webapp.models.two_factor import TwoFactor
from webapp.models.types import UTCDateTime, utcnow


def new_session_token() -> str:
    return secrets.token_urlsafe(16)


class User(UserMixin, db.Model):
    """A person with a login (their email) who belongs to one or more teams."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # 254 characters is the longest address SMTP allows; stored lower-cased.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Before sign-in sessions had their own table this was part of the session id; it is no
    # longer read (sessions are rows of SignInSession, ended on the server).
    session_token: Mapped[str] = mapped_column(String(32), default=new_session_token)
    last_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    # Normalised like every phone (webapp.phones); a test send goes here unless another is typed.
    phone: Mapped[str | None] = mapped_column(String(16))
    # The dashboard's language this person chose (one of LANGUAGES); None: their browser's.
    language: Mapped[str | None] = mapped_column(String(8))

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    # Read with the person on every page (load_user), for the two-factor gate; written only
    # through its own rows (webapp/domain/two_factor.py), each write committed at once.
    two_factor: Mapped[TwoFactor | None] = relationship(viewonly=True)

    # The secret of the sign-in session this object was loaded for (or just signed in with);
    # never stored: only its hash is, in SignInSession.
    sign_in_secret = None  # str | None; a plain attribute, not a column

    def get_id(self) -> str:
        # What Flask-Login keeps in the session and the remember-me cookie: the sign-in
        # session's secret, so ending that session on the server makes both worthless.
        return f"{self.id}:{self.sign_in_secret or ''}"

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email!r}>"


def hash_secret(secret: str) -> str:
    """Sign-in sessions, reset links, invitation links and recovery codes are found by a hash of
    their secret: the database alone cannot be used to take over any of them."""
    return hashlib.sha256(secret.encode()).hexdigest()


class SignInSession(db.Model):
    """One sign-in of a person on one device, from the password check until sign-out, a
    password change elsewhere, or the end of its lifetime."""

    __tablename__ = "sign_in_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Shown on the Account page so a person can tell their sessions apart (and end one by it).
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    remember: Mapped[bool] = mapped_column(default=False)


class PasswordReset(db.Model):
    """A one-time link to set a new password, usable for an hour."""

    __tablename__ = "password_resets"
    __table_args__ = (Index("ix_password_resets_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The signed-in user named by the session or remember-me cookie, or None when that
    sign-in session has ended (signed out, password changed or reset) or is unknown."""
    raw_id, _, secret = user_id.partition(":")
    if not raw_id.isdigit() or not secret:
        return None
    # No session outlives the remember-me cookie, even where no worker prunes old rows.
    lifetime = current_app.config["REMEMBER_COOKIE_DURATION"]
    if not isinstance(lifetime, timedelta):
        lifetime = timedelta(seconds=float(lifetime))
    # With the person's teams and two-factor state, which every page asks for next
    # (webapp/access.py, two_factor_gate.py): one query where four were, each a round trip
    # that waits for the database on a busy machine.
    user = (
        db.session.execute(
            select(User)
            .join(SignInSession, SignInSession.user_id == User.id)
            .where(
                User.id == int(raw_id),
                SignInSession.secret_hash == hash_secret(secret),
                SignInSession.created_at > utcnow() - lifetime,
            )
            .options(
                joinedload(User.memberships).joinedload(Membership.team),
                joinedload(User.two_factor),
            )
        )
        .unique()
        .scalar_one_or_none()
    )
    if user is not None:
        user.sign_in_secret = secret
    return user
