"""Message templates: a team's saved texts (name, text, optional sender and flash), picked in
the composer to fill a draft."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.types import UTCDateTime, utcnow

LIVE = text("archived_at IS NULL")


class MessageTemplate(db.Model):
    """A saved text of a team. Archived ones are kept (and can be unarchived) but are not
    offered in the composer; a name is used once among a team's unarchived templates."""

    __tablename__ = "message_templates"
    __table_args__ = (
        # The database's own guard of the unique name (the domain checks first, in plain words).
        Index(
            "uq_message_templates_team_name_live",
            "team_id",
            "name",
            unique=True,
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text, default="")
    sender: Mapped[str | None] = mapped_column(String(32))  # None: the draft keeps its own
    flash: Mapped[bool] = mapped_column(default=False)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
