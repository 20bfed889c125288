"""Column types shared by the models."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back as an aware UTC datetime.

    PostgreSQL keeps ``timestamptz`` natively; SQLite has no time zones, so the value is stored as
    naive UTC text and marked UTC again when read. Naive datetimes are rejected on write because
    their meaning (local time? UTC?) cannot be known.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# Big tables (contacts, messages) need 64-bit ids on PostgreSQL; SQLite only auto-increments a
# column declared exactly INTEGER PRIMARY KEY (which is 64-bit there anyway).
BigId = BigInteger().with_variant(Integer, "sqlite")


def bytewise(length: int) -> String:
    """Text of at most ``length`` characters compared byte by byte, as SQLite compares all
    text: PostgreSQL's collation "C" (its database's own collation follows the C library's
    language rules, which cost more per comparison). For values compared for equality, or
    ordered only where any one order will do (the order rows are locked in); not for text a
    person sees sorted."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")
