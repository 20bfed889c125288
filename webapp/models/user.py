"""Users: people who sign in to the dashboard."""

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db, login_manager
from webapp.models.types import UTCDateTime, utcnow


class User(UserMixin, db.Model):
    """A person with a login; team membership is added by a later migration."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # 254 characters is the longest address SMTP allows.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email!r}>"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Return the signed-in user named by the session, or None if it no longer exists."""
    try:
        return db.session.get(User, int(user_id))
    except ValueError:
        return None
