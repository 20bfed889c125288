"""Users: people who sign in to the dashboard."""

from __future__ import annotations

import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db, login_manager
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
    # Part of the id kept in sessions and remember-me cookies: changing it (on a password
    # change) signs the person out everywhere else.
    session_token: Mapped[str] = mapped_column(String(32), default=new_session_token)
    last_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))

    memberships: Mapped[list[Membership]] = relationship(  # noqa: F821
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email!r}>"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The signed-in user named by the session, or None if it is gone or its token changed."""
    raw_id, _, token = user_id.partition(":")
    try:
        user = db.session.get(User, int(raw_id))
    except ValueError:
        return None
    if user is None or not token or not secrets.compare_digest(user.session_token, token):
        return None
    return user
