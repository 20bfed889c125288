"""Per-list statistics of contact fields, moved with the contacts, so that the composer's check
costs the same for 1 or 20 placeholders and for a thousand or a million contacts.

For each field a list's contacts carry: how many have it filled in, how many of those force
UCS-2, and the shortest and longest value in GSM-7 septets and in UTF-16 units. Counts are
exact (a removed contact takes its values out); the shortest and longest stay as they were when
a contact is removed, so they only ever widen the bounds the estimate uses (it errs high).

Stored on ``ContactList.field_stats`` as ``{"count": n, "max_id": id, "fields": {name: [filled,
ucs2, min_gsm, max_gsm, min_utf16, max_utf16]}}``. They are trusted only while ``count`` is the
list's ``contact_count`` and ``max_id`` its highest contact id (:func:`trusted`): rows written
any other way (a script, two writers racing) make them unknown, and the check then counts row by
row, exactly, as before.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from webapp.iqsms.parts import analyse
from webapp.models import Contact, ContactList

CHUNK = 5000  # phones per IN (...) list
STREAM_ROWS = 10_000  # contacts read at a time when counting again
FILLED, UCS2, MIN_GSM, MAX_GSM, MIN_UTF16, MAX_UTF16 = range(6)


def empty() -> dict[str, Any]:
    return {"count": 0, "max_id": 0, "fields": {}}


@lru_cache(maxsize=65_536)
def value_facts(value: str) -> tuple[int, int, bool]:
    """A value's length in GSM-7 septets (its units if it forces UCS-2), in UTF-16 units, and
    whether it forces UCS-2. Cached: imports repeat the same cities and names."""
    info = analyse(value)
    return info.units, len(value.encode("utf-16-le")) // 2, info.encoding == "UCS-2"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def add_values(stats: dict[str, Any], rows: Iterable[Mapping[str, Any]]) -> None:
    """Count the fields of new contacts into ``stats["fields"]`` (``count`` is the caller's)."""
    fields = stats.setdefault("fields", {})
    for row in rows:
        for name, raw in row.items():
            value = _text(raw)
            if not value:
                continue
            gsm, utf16, ucs2 = value_facts(value)
            known = fields.get(name)
            if known is None:
                fields[name] = [1, int(ucs2), gsm, gsm, utf16, utf16]
                continue
            known[FILLED] += 1
            known[UCS2] += int(ucs2)
            known[MIN_GSM] = min(known[MIN_GSM], gsm)
            known[MAX_GSM] = max(known[MAX_GSM], gsm)
            known[MIN_UTF16] = min(known[MIN_UTF16], utf16)
            known[MAX_UTF16] = max(known[MAX_UTF16], utf16)


def remove_values(stats: dict[str, Any], row: Mapping[str, Any]) -> None:
    """Take a removed contact's fields out of the counts (the bounds stay: they err wide)."""
    fields = stats.get("fields", {})
    for name, raw in row.items():
        value = _text(raw)
        if value and name in fields:
            fields[name][FILLED] = max(0, fields[name][FILLED] - 1)
            fields[name][UCS2] = max(0, fields[name][UCS2] - int(value_facts(value)[2]))


def highest_id(session: Session, list_id: int) -> int:
    """The list's highest contact id (by the list's (list_id, id) index), 0 when empty."""
    return int(session.scalar(select(func.max(Contact.id)).where(Contact.list_id == list_id)) or 0)


def trusted(session: Session, contact_list: ContactList) -> dict[str, Any] | None:
    """The list's statistics if they describe its contacts as they are now, else None."""
    stats = contact_list.field_stats
    if not stats or "count" not in stats or stats.get("count") != contact_list.contact_count:
        return None
    if stats.get("max_id") != highest_id(session, contact_list.id):
        return None
    return stats


@dataclass
class FieldFacts:
    """A field over a set of recipients: how many lack it, how many force UCS-2, and bounds of
    its values' lengths (None when nobody has it)."""

    missing: int = 0
    filled: int = 0
    ucs2: int = 0
    min_gsm: int | None = None
    max_gsm: int | None = None
    min_utf16: int | None = None
    max_utf16: int | None = None

    def take(self, known: list[int]) -> None:
        """Add one list's statistics of the field."""
        self.filled += known[FILLED]
        self.ucs2 += known[UCS2]
        pairs = (
            ("min_gsm", known[MIN_GSM], min),
            ("max_gsm", known[MAX_GSM], max),
            ("min_utf16", known[MIN_UTF16], min),
            ("max_utf16", known[MAX_UTF16], max),
        )
        for name, value, pick in pairs:
            current = getattr(self, name)
            setattr(self, name, value if current is None else pick(current, value))

    def take_value(self, raw: Any) -> None:
        """Add one recipient's value (counting row by row)."""
        value = _text(raw)
        if not value:
            self.missing += 1
            return
        gsm, utf16, ucs2 = value_facts(value)
        self.take([1, int(ucs2), gsm, gsm, utf16, utf16])

    def drop_value(self, raw: Any) -> None:
        """Take out one recipient counted in the lists' statistics (a stopped phone)."""
        value = _text(raw)
        if value:
            self.filled -= 1
            self.ucs2 -= int(value_facts(value)[2])

    @property
    def all_ucs2(self) -> bool:
        return self.missing == 0 and self.filled > 0 and self.ucs2 == self.filled


# -- moving them with the contacts (webapp.domain.contacts) ------------------------------------


def new_contacts(
    session: Session, list_id: int, phones: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[Mapping[str, Any]]:
    """The fields of the ``(phone, fields)`` pairs a list will take: phones it has not got,
    each once (an insert skips the others)."""
    wanted = list({p for p, _ in phones})
    have: set[str] = set()
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        have.update(
            session.scalars(
                select(Contact.phone).where(Contact.list_id == list_id, Contact.phone.in_(chunk))
            )
        )
    new: dict[str, Mapping[str, Any]] = {}
    for phone, values in phones:
        if phone not in have and phone not in new:
            new[phone] = values
    return list(new.values())


def _stored(session: Session, list_id: int) -> dict[str, Any] | None:
    stats = session.scalar(select(ContactList.field_stats).where(ContactList.id == list_id))
    return copy.deepcopy(stats) if stats and "count" in stats else None


def after_adding(
    session: Session, list_id: int, new: list[Mapping[str, Any]], added: int
) -> dict[str, Any] | None:
    """The list's statistics with ``new`` contacts counted in; None (not known) when they were
    not known before, or when not all of ``new`` went in (another writer at the same time)."""
    stats = _stored(session, list_id)
    if stats is None or added != len(new):
        return None
    add_values(stats, new)
    stats["count"] += added
    stats["max_id"] = highest_id(session, list_id)
    return stats


def after_removing(session: Session, contact: Contact) -> dict[str, Any] | None:
    """The list's statistics without ``contact`` (about to be deleted)."""
    stats = _stored(session, contact.list_id)
    if stats is None:
        return None
    remove_values(stats, contact.fields or {})
    stats["count"] -= 1
    others = select(func.max(Contact.id)).where(
        Contact.list_id == contact.list_id, Contact.id != contact.id
    )
    stats["max_id"] = int(session.scalar(others) or 0)
    return stats


# -- computing them again (the worker, for lists whose statistics are not known) ---------------


def unknown_lists(session: Session, limit: int = 1) -> list[int]:
    """Ids of lists whose statistics do not describe their contacts (written before there
    were statistics, or by other means), oldest first."""
    found = []
    for row in session.scalars(select(ContactList).order_by(ContactList.id)):
        if trusted(session, row) is None:
            found.append(row.id)
            if len(found) >= limit:
                break
    return found


def recompute(session: Session, list_id: int) -> bool:
    """Count a list's fields again, reading its contacts by id in chunks, and store the
    result (and the contact count it found) unless a writer moved the list meanwhile. The
    caller commits."""
    count_before = session.scalar(
        select(ContactList.contact_count).where(ContactList.id == list_id)
    )
    if count_before is None:
        return False
    stats, last = empty(), 0
    while rows := session.execute(
        select(Contact.id, Contact.fields)
        .where(Contact.list_id == list_id, Contact.id > last)
        .order_by(Contact.id)
        .limit(STREAM_ROWS)
    ).all():
        add_values(stats, (row.fields or {} for row in rows))
        stats["count"] += len(rows)
        last = rows[-1].id
    stats["max_id"] = last
    done = session.execute(
        update(ContactList)
        .where(ContactList.id == list_id, ContactList.contact_count == count_before)
        .values(field_stats=stats, contact_count=stats["count"])
        .execution_options(synchronize_session=False)
    )
    return done.rowcount == 1
