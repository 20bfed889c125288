"""Contact lists, their contacts, CSV imports into them, and the team's stop list."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_babel import pgettext
from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.types import BigId, UTCDateTime, utcnow


class ContactList(db.Model):
    """A named list of phones with optional fields (columns of the CSV it came from)."""

    __tablename__ = "contact_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The field names its contacts carry (for placeholders), in column order.
    field_names: Mapped[list] = mapped_column(JSON, default=list)
    # How many contacts it holds, moved in the same transaction as the contacts: pages show it
    # without counting a million rows.
    contact_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # Per-field statistics of its contacts, moved with them (webapp.domain.field_stats), so
    # the composer's check needs no pass over a million contacts' JSON. None: not known.
    field_stats: Mapped[dict | None] = mapped_column(
        JSON, default=lambda: {"count": 0, "max_id": 0, "fields": {}}
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Contact(db.Model):
    """One phone in a list, normalised to the digits-only international form the API wants."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("list_id", "phone"),
        # A list's pages go by id (keyset), whatever other lists the table holds.
        Index("ix_contacts_list_id_id", "list_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("contact_lists.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(16))
    fields: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StopListEntry(db.Model):
    """A phone that asked not to be messaged: no campaign of the team ever sends to it."""

    __tablename__ = "stop_list"
    __table_args__ = (UniqueConstraint("team_id", "phone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImportState(StrEnum):
    PENDING = "pending"  # uploaded, waiting for the person to choose the phone column
    QUEUED = "queued"  # waiting for the worker
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def label(self) -> str:
        """The import's state in words, in the reader's language (its own context: an
        import's "failed" is not a message's)."""
        labels = {
            ImportState.PENDING: pgettext("import state", "waiting for the phone column"),
            ImportState.QUEUED: pgettext("import state", "waiting for the worker"),
            ImportState.RUNNING: pgettext("import state", "reading"),
            ImportState.DONE: pgettext("import state", "done"),
            ImportState.FAILED: pgettext("import state", "failed"),
        }
        return labels[self]


class ContactImport(db.Model):
    """A CSV upload being read into a list by the worker, with its report."""

    __tablename__ = "contact_imports"
    __table_args__ = (Index("ix_contact_imports_state", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("contact_lists.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str] = mapped_column(String(500))
    encoding: Mapped[str] = mapped_column(String(20))
    delimiter: Mapped[str] = mapped_column(String(1))
    phone_column: Mapped[int | None]
    state: Mapped[str] = mapped_column(String(16), default=ImportState.PENDING)
    rows_read: Mapped[int] = mapped_column(default=0)
    added: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    invalid: Mapped[int] = mapped_column(default=0)
    # "row number,phone,reason" lines for the downloadable report of invalid rows.
    invalid_report: Mapped[str] = mapped_column(Text, default="")
    # The stored file's size, counted against the team's upload quota while it is kept.
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def state_label(self) -> str:
        return ImportState(self.state).label
