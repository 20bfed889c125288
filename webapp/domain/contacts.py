"""Contact lists, their contacts and the team's stop list: the work behind the contacts pages.

Plain functions over a session, used by the views, the CSV import and the composer. Phones always
go through :func:`webapp.sms.normalize_phone` with the team's region. Big lists stay fast: the
list's ``contact_count`` moves in the same transaction as its contacts, and pages go by id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import Table

from webapp import bulk
from webapp.domain.audit import record
from webapp.models import (
    Contact,
    ContactImport,
    ContactList,
    ImportState,
    StopListEntry,
    Team,
    User,
    utcnow,
)
from webapp.sms import normalize_phone

PAGE_SIZE = 50
MAX_LIST_NAME = 100
# Where one pasted number ends: new lines, commas, semicolons (spaces are decided per piece).
PASTE_SEPARATORS = re.compile(r"[\r\n,;]+")
DIGITS = re.compile(r"\d")
# The longest phone the API takes is 15 digits; "7916…" padded with 9s is the last of a prefix.
MAX_PHONE_DIGITS = 16
FIELD_LINE = re.compile(r"\s*([^=:]*[^=:\s])\s*[=:](.*)$")


class ContactError(ValueError):
    """Something a person can fix, in plain words."""


@dataclass
class AddReport:
    """What happened to numbers given to a list or the stop list."""

    added: int = 0
    duplicates: int = 0
    # (what was given, why it is not a phone)
    invalid: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.added + self.duplicates + len(self.invalid)


# -- writing many rows at once ------------------------------------------------------------------


def insert_ignoring_duplicates(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], unique: Sequence[str]
) -> int:
    """Insert ``rows``, skipping any that clash on ``unique`` (with a row
    already there or an earlier one in ``rows``); returns how many went in."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement = postgresql.insert(table)
    elif dialect == "sqlite":
        statement = sqlite.insert(table)
    else:  # pragma: no cover - the product runs on these two
        raise RuntimeError(f"no insert-or-skip for {dialect}")
    # Executed with the rows as parameters, the statement is compiled once and SQLAlchemy
    # sends it in multi-row batches ("insertmanyvalues"); RETURNING gives exactly the rows
    # inserted on both databases (an executemany's rowcount is not to be trusted).
    statement = statement.on_conflict_do_nothing(index_elements=list(unique)).returning(
        *table.primary_key.columns
    )
    return len(session.execute(statement, list(rows)).all())


CONTACT_INSERT = (
    "INSERT INTO contacts (team_id, list_id, phone, fields, created_at)"
    " VALUES (:team_id, :list_id, :phone, :fields, :created_at)"
    " ON CONFLICT (list_id, phone) DO NOTHING"
)


def add_phones(
    session: Session,
    contact_list: ContactList,
    phones: Sequence[tuple[str, dict[str, str]]],
    now: datetime | None = None,
) -> int:
    """Add normalised ``(phone, fields)`` pairs to a list, skipping phones it already has, and
    move its ``contact_count``; returns how many were added. The caller commits."""
    created_at = bulk.db_time(session, now or utcnow())
    team_id, list_id = contact_list.team_id, contact_list.id
    rows = [
        {
            "team_id": team_id,
            "list_id": list_id,
            "phone": phone,
            # Keys as written (not \u-escaped): SQLite's json_extract finds "Имя" only so.
            "fields": json.dumps(fields, ensure_ascii=False),
            "created_at": created_at,
        }
        for phone, fields in phones
    ]
    # The driver's executemany: imports write millions of these. Its rowcount is the number
    # of rows inserted, the skipped duplicates not counted, on both databases.
    added = bulk.executemany(session, CONTACT_INSERT, rows)
    if added:
        session.execute(
            update(ContactList)
            .where(ContactList.id == contact_list.id)
            .values(contact_count=ContactList.contact_count + added)
            .execution_options(synchronize_session=False)
        )
    return added


def merge_field_names(session: Session, contact_list: ContactList, names: Iterable[str]) -> None:
    """Add ``names`` (in order) to the fields the list's contacts carry."""
    current = list(contact_list.field_names or [])
    new = [n for n in dict.fromkeys(names) if n and n not in current]
    if new:
        contact_list.field_names = current + new


# -- lists --------------------------------------------------------------------------------------


def clean_list_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise ContactError("Give the list a name.")
    if len(name) > MAX_LIST_NAME:
        raise ContactError(f"Keep the name under {MAX_LIST_NAME} characters.")
    return name


def create_list(session: Session, team: Team, name: str, user: User | None) -> ContactList:
    """A new, empty list in the team."""
    contact_list = ContactList(team_id=team.id, name=clean_list_name(name), field_names=[])
    session.add(contact_list)
    session.flush()
    record(session, team.id, "contact_list_created", user, list=contact_list.name)
    return contact_list


def rename_list(
    session: Session, contact_list: ContactList, name: str, user: User | None
) -> None:
    before, contact_list.name = contact_list.name, clean_list_name(name)
    record(session, contact_list.team_id, "contact_list_renamed", user, before=before, after=name)


def delete_list(
    session: Session, contact_list: ContactList, user: User | None, upload_root: Path
) -> None:
    """Delete a list with its contacts and imports (and uploads nobody will read now)."""
    imports = session.scalars(
        select(ContactImport).where(ContactImport.list_id == contact_list.id)
    ).all()
    for contact_import in imports:
        if contact_import.state != ImportState.RUNNING:  # a running one deletes its own file
            remove_upload(upload_root, contact_import.stored_path)
    session.execute(delete(ContactImport).where(ContactImport.list_id == contact_list.id))
    session.execute(delete(Contact).where(Contact.list_id == contact_list.id))
    record(
        session,
        contact_list.team_id,
        "contact_list_deleted",
        user,
        list=contact_list.name,
        contacts=contact_list.contact_count,
    )
    session.delete(contact_list)


def remove_upload(upload_root: Path, stored_path: str) -> None:
    if stored_path:
        (upload_root / stored_path).unlink(missing_ok=True)


def field_names_of_lists(team_id: int, list_ids: Iterable[int]) -> list[str]:
    """The fields (placeholders) the contacts of these lists of the team may carry: the union
    of the lists' field names, in the order they first appear."""
    from webapp.extensions import db

    ids = list(list_ids)
    if not ids:
        return []
    rows = db.session.execute(
        select(ContactList.field_names)
        .where(ContactList.team_id == team_id, ContactList.id.in_(ids))
        .order_by(ContactList.id)
    ).scalars()
    names: dict[str, None] = {}
    for field_names in rows:
        names.update(dict.fromkeys(field_names or []))
    return list(names)


# -- contacts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactPage:
    contacts: list[Contact]
    next_after: int | None  # the id to continue after, if there is more
    stop_listed: set[str]


def prefix_digits(query: str | None) -> str:
    """The digits of a phone prefix as typed ("+7 916" is "7916")."""
    return "".join(DIGITS.findall(query or ""))[:MAX_PHONE_DIGITS]


def contacts_page(
    session: Session, contact_list: ContactList, after: int | None = None, prefix: str = ""
) -> ContactPage:
    """A page of a list's contacts by id (keyset: no OFFSET, no COUNT), optionally only phones
    starting with the digits ``prefix``; phones on the team's stop list are named."""
    query = select(Contact).where(Contact.list_id == contact_list.id)
    if prefix:
        # A range rather than LIKE: it uses the (list_id, phone) index under any collation.
        query = query.where(
            Contact.phone >= prefix,
            Contact.phone <= prefix + "9" * (MAX_PHONE_DIGITS - len(prefix)),
        )
    if after:
        query = query.where(Contact.id > after)
    contacts = list(session.scalars(query.order_by(Contact.id).limit(PAGE_SIZE + 1)))
    more = len(contacts) > PAGE_SIZE
    contacts = contacts[:PAGE_SIZE]
    return ContactPage(
        contacts,
        contacts[-1].id if more else None,
        stop_listed(session, contact_list.team_id, [c.phone for c in contacts]),
    )


def parse_fields(text: str | None) -> dict[str, str]:
    """Fields typed as ``name = value`` (or ``name: value``), one per line."""
    fields: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        match = FIELD_LINE.match(line)
        if match is None:
            raise ContactError(f"Line {number}: write a field as name = value.")
        fields[match.group(1).strip()] = match.group(2).strip()
    return fields


def add_contact(
    session: Session,
    contact_list: ContactList,
    team: Team,
    raw_phone: str,
    fields: dict[str, str],
) -> Contact:
    """Add one contact typed by hand; plain-words ContactError if it is not a phone or is
    already in the list."""
    result = normalize_phone(raw_phone, team.phone_region)
    if result.phone is None:
        raise ContactError(phone_reason(result.error))
    fields = {k.strip(): v.strip() for k, v in fields.items() if k.strip()}
    if not add_phones(session, contact_list, [(result.phone, fields)]):
        raise ContactError(f"{result.phone} is already in this list.")
    merge_field_names(session, contact_list, fields)
    return session.scalars(
        select(Contact).where(Contact.list_id == contact_list.id, Contact.phone == result.phone)
    ).one()


def remove_contact(session: Session, contact: Contact) -> None:
    session.execute(
        update(ContactList)
        .where(ContactList.id == contact.list_id)
        .values(contact_count=ContactList.contact_count - 1)
        .execution_options(synchronize_session=False)
    )
    session.delete(contact)


def phone_reason(error: str | None) -> str:
    """The reason a phone was refused, as shown to people."""
    return {"empty": "no phone"}.get(error or "", error or "not a phone number")


def split_pasted(text: str, region: str) -> list[tuple[str, str | None, str | None]]:
    """Pasted numbers as ``(as given, phone, reason)``: one per line or between commas and
    semicolons; spaces separate numbers only where each part is a number by itself (spaces
    inside "+7 916 123-45-67" do not)."""
    items: list[tuple[str, str | None, str | None]] = []
    for piece in PASTE_SEPARATORS.split(text or ""):
        piece = piece.strip()
        if not piece:
            continue
        result = normalize_phone(piece, region)
        parts = piece.split()
        if result.phone is None and len(parts) > 1:
            results = [normalize_phone(p, region) for p in parts]
            if all(len(DIGITS.findall(p)) >= 7 for p in parts):
                items += [(p, r.phone, r.error) for p, r in zip(parts, results, strict=True)]
                continue
        items.append((piece, result.phone, result.error))
    return items


def add_pasted(session: Session, contact_list: ContactList, team: Team, text: str) -> AddReport:
    """Add pasted numbers to a list: how many were added, already there, and not phones."""
    report = AddReport()
    phones: list[tuple[str, dict[str, str]]] = []
    for given, phone, error in split_pasted(text, team.phone_region):
        if phone is None:
            report.invalid.append((given, phone_reason(error)))
        else:
            phones.append((phone, {}))
    for start in range(0, len(phones), 5000):
        chunk = phones[start : start + 5000]
        added = add_phones(session, contact_list, chunk)
        report.added += added
        report.duplicates += len(chunk) - added
    return report


# -- the stop list ------------------------------------------------------------------------------


def stop_listed(session: Session, team_id: int, phones: Sequence[str]) -> set[str]:
    """Which of ``phones`` are on the team's stop list."""
    if not phones:
        return set()
    return set(
        session.scalars(
            select(StopListEntry.phone).where(
                StopListEntry.team_id == team_id, StopListEntry.phone.in_(set(phones))
            )
        )
    )


def add_to_stop_list(
    session: Session, team: Team, text: str, reason: str, user: User | None
) -> AddReport:
    """Put pasted numbers on the team's stop list (opt-outs): no campaign sends to them."""
    report = AddReport()
    phones = []
    for given, phone, error in split_pasted(text, team.phone_region):
        if phone is None:
            report.invalid.append((given, phone_reason(error)))
        else:
            phones.append(phone)
    now = utcnow()
    reason = (reason or "").strip()[:200]
    for start in range(0, len(phones), 5000):
        chunk = phones[start : start + 5000]
        rows = [
            {"team_id": team.id, "phone": p, "reason": reason, "created_at": now} for p in chunk
        ]
        added = insert_ignoring_duplicates(
            session, StopListEntry.__table__, rows, ["team_id", "phone"]
        )
        report.added += added
        report.duplicates += len(chunk) - added
    if report.added:
        record(session, team.id, "stop_list_added", user, phones=report.added)
    return report


def remove_from_stop_list(session: Session, entry: StopListEntry, user: User | None) -> None:
    record(session, entry.team_id, "stop_list_removed", user, phone=entry.phone)
    session.delete(entry)


def stop_list_page(
    session: Session, team: Team, after: int | None = None, prefix: str = ""
) -> tuple[list[StopListEntry], int | None, int]:
    """A page of the stop list, newest first by id, the id to continue before, and the size."""
    query = select(StopListEntry).where(StopListEntry.team_id == team.id)
    if prefix:
        query = query.where(
            StopListEntry.phone >= prefix,
            StopListEntry.phone <= prefix + "9" * (MAX_PHONE_DIGITS - len(prefix)),
        )
    if after:
        query = query.where(StopListEntry.id < after)
    entries = list(session.scalars(query.order_by(StopListEntry.id.desc()).limit(PAGE_SIZE + 1)))
    more = len(entries) > PAGE_SIZE
    entries = entries[:PAGE_SIZE]
    # Stop lists are thousands of opt-outs, not millions: counting them is cheap.
    total = session.scalar(
        select(func.count()).select_from(StopListEntry).where(StopListEntry.team_id == team.id)
    )
    return entries, entries[-1].id if more else None, total or 0
