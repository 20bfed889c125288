"""Searching a list's contacts: by the start of a phone (by the phone's index), or by any field's
value (which reads the contacts' fields, so it goes through a bounded window of them per page).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from webapp.models import Contact
from webapp.phones import looks_like_phone, phone_prefix, starts_with

# Contacts one page of a search by field value reads at most: one request's work stays the
# same for a list of a thousand or of ten million ("search further" reads the next window).
WINDOW = 20_000


def by_phone(query: str) -> bool:
    """Whether a search is for the start of a phone (by index) rather than a field value."""
    return looks_like_phone(query)


def window_end(session: Session, list_id: int, after: int | None) -> int | None:
    """The id of the last contact in the window after ``after``; None when the list ends
    within it (the window is the rest of the list). Found by the (list_id, id) index."""
    rows = select(Contact.id).where(Contact.list_id == list_id)
    if after:
        rows = rows.where(Contact.id > after)
    end = session.scalar(rows.order_by(Contact.id).offset(WINDOW - 1).limit(1))
    if end is None:
        return None
    later = select(Contact.id).where(Contact.list_id == list_id, Contact.id > end).limit(1)
    return end if session.scalar(later) is not None else None


def search(session: Session, query: str) -> ColumnElement[bool]:
    """The contacts a search finds: a phone typed in any usual way ("8 916", "+7 (916)") finds
    the phones it starts (by the phone's index); anything else finds contacts with a field
    value (a name, a city...) that contains it, in any letter case."""
    if by_phone(query):
        return starts_with(Contact.phone, phone_prefix(query))
    values = _field_values(session)
    fold = _folding(session)
    return exists(
        select(values.c.value).where(
            fold(values.c.value).contains(query.strip().lower(), autoescape=True)
        )
    )


def _field_values(session: Session):  # a table-valued function (its type is private)
    """The values of a contact's fields as rows of a column ``value``, on either database."""
    if session.get_bind().dialect.name == "postgresql":
        return func.json_each_text(Contact.fields).table_valued("key", "value")
    return func.json_each(Contact.fields).table_valued("value")


def _folding(session: Session) -> Callable[[ColumnElement[str]], ColumnElement[str]]:
    """SQL lowercase that knows Cyrillic: PostgreSQL's ``lower``; SQLite's knows only ASCII,
    so there it is Python's, registered on the connection."""
    if session.get_bind().dialect.name != "sqlite":
        return func.lower
    connection = session.connection().connection.driver_connection
    connection.create_function("py_lower", 1, _lower, deterministic=True)
    return func.py_lower


def _lower(value: object) -> str | None:
    return None if value is None else str(value).lower()
