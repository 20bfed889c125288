"""Contact lists, their contacts and the team's stop list: the work behind the contacts pages.

Plain functions over a session, used by the views, the CSV import and the composer. Phones always
go through :mod:`webapp.phones` with the team's region. Big lists stay fast: the list's
``contact_count`` moves in the same transaction as its contacts, and pages go by id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from webapp import bulk, paging, texts
from webapp.domain import contact_search, field_stats
from webapp.domain.audit import record
from webapp.domain.pasted import (  # noqa: F401  (MAX_PASTED_LINES, pasted_lines_error: here too)
    MAX_PASTED_LINES,
    AddReport,
    add_all,
    pasted_lines_error,
)
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
from webapp.phones import normalize_phone, phone_prefix, starts_with

PAGE_SIZE = 50
MAX_LIST_NAME = 100
FIELD_LINE = re.compile(r"\s*([^=:]*[^=:\s])\s*[=:](.*)$")


class ContactError(ValueError):
    """Something a person can fix, in plain words."""


class FieldsError(ContactError):
    """Fields typed by hand that cannot be read."""


# -- writing many rows at once ------------------------------------------------------------------


CONTACT_INSERT = (
    "INSERT INTO contacts (team_id, list_id, phone, fields, created_at)"
    " VALUES (:team_id, :list_id, :phone, :fields, :created_at)"
    " ON CONFLICT (list_id, phone) DO NOTHING"
)
STOP_LIST_INSERT = (
    "INSERT INTO stop_list (team_id, phone, reason, created_at)"
    " VALUES (:team_id, :phone, :reason, :created_at)"
    " ON CONFLICT (team_id, phone) DO NOTHING"
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
    new = field_stats.new_contacts(session, list_id, phones)
    # Keys as written (not \u-escaped): SQLite's json_extract finds "Имя" only so.
    rows = [
        dict(team_id=team_id, list_id=list_id, phone=phone, created_at=created_at, fields=text)
        for phone, text in ((p, json.dumps(f, ensure_ascii=False)) for p, f in phones)
    ]
    # The driver's executemany: imports write millions of these. Its rowcount is the number
    # of rows inserted, the skipped duplicates not counted, on both databases.
    added = bulk.executemany(session, CONTACT_INSERT, rows)
    if added:
        session.execute(
            update(ContactList)
            .where(ContactList.id == contact_list.id)
            .values(
                contact_count=ContactList.contact_count + added,
                field_stats=field_stats.after_adding(session, list_id, new, added),
            )
            .execution_options(synchronize_session=False)
        )
    return added


def merge_field_names(contact_list: ContactList, names: Iterable[str]) -> None:
    """Add ``names`` (in order) to the fields the list's contacts carry."""
    current = list(contact_list.field_names or [])
    new = [n for n in dict.fromkeys(names) if n and n not in current]
    if new:
        contact_list.field_names = current + new


# -- lists --------------------------------------------------------------------------------------


def team_lists(session: Session, team: Team) -> list[ContactList]:
    """The team's lists by name."""
    return list(
        session.scalars(
            select(ContactList)
            .where(ContactList.team_id == team.id)
            .order_by(ContactList.name, ContactList.id)
        )
    )


def team_list(session: Session, team: Team, list_id: object) -> ContactList | None:
    """The team's list with this id, or None."""
    return session.scalar(
        select(ContactList).where(ContactList.id == list_id, ContactList.team_id == team.id)
    )


def clean_list_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise ContactError(_("Give the list a name."))
    if len(name) > MAX_LIST_NAME:
        under = ngettext(
            "Keep the name under %(num)s character.",
            "Keep the name under %(num)s characters.",
            MAX_LIST_NAME,
        )
        raise ContactError(under)
    return name


def create_list(session: Session, team: Team, name: str, user: User | None) -> ContactList:
    """A new, empty list in the team."""
    contact_list = ContactList(team_id=team.id, name=clean_list_name(name), field_names=[])
    session.add(contact_list)
    session.flush()
    record(session, team.id, "contact_list_created", user, list=contact_list.name)
    return contact_list


def rename_list(session: Session, contact_list: ContactList, name: str, user: User | None) -> None:
    before, contact_list.name = contact_list.name, clean_list_name(name)
    after = contact_list.name
    record(session, contact_list.team_id, "contact_list_renamed", user, before=before, after=after)


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
    details = {"list": contact_list.name, "contacts": contact_list.contact_count}
    record(session, contact_list.team_id, "contact_list_deleted", user, **details)
    session.delete(contact_list)


def remove_upload(upload_root: Path, stored_path: str) -> None:
    if stored_path:
        (upload_root / stored_path).unlink(missing_ok=True)


def field_names_of_lists(session: Session, team_id: int, list_ids: Iterable[int]) -> list[str]:
    """The fields (placeholders) the contacts of these lists of the team may carry: the union
    of the lists' field names, in the order they first appear."""
    ids = list(list_ids)
    if not ids:
        return []
    rows = session.scalars(
        select(ContactList.field_names)
        .where(ContactList.team_id == team_id, ContactList.id.in_(ids))
        .order_by(ContactList.id)
    )
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
    # A field search reads one window of contacts per page: where this one ended, when the
    # list goes on after it (the page may be short, or empty: "search further" goes on).
    searched_to: int | None = None


def contacts_page(
    session: Session, contact_list: ContactList, after: int | None = None, query: str = ""
) -> ContactPage:
    """A page of a list's contacts by id (keyset: no OFFSET, no COUNT), optionally only those
    ``query`` finds (see :func:`contact_search.search`); phones on the team's stop list are
    named. A search by field value reads at most ``contact_search.WINDOW`` contacts."""
    rows = select(Contact).where(Contact.list_id == contact_list.id)
    window_end = None
    if query.strip():
        rows = rows.where(contact_search.search(session, query))
        if not contact_search.by_phone(query):
            window_end = contact_search.window_end(session, contact_list.id, after)
            if window_end is not None:
                rows = rows.where(Contact.id <= window_end)
    if after:
        rows = rows.where(Contact.id > after)
    contacts, more = paging.first_rows(session, rows.order_by(Contact.id), PAGE_SIZE)
    return ContactPage(
        contacts,
        paging.next_key(contacts, more),
        stop_listed(session, contact_list.team_id, [c.phone for c in contacts]),
        None if more else window_end,
    )


def parse_fields(text: str | None) -> dict[str, str]:
    """Fields typed as ``name = value`` (or ``name: value``), one per line."""
    fields: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        match = FIELD_LINE.match(line)
        if match is None:
            raise FieldsError(_("Line %(line)s: write a field as name = value.", line=number))
        fields[match.group(1).strip()] = match.group(2).strip()
    return fields


def typed_fields(
    contact_list: ContactList, more_fields: str | None, inputs: Mapping[str, str]
) -> dict[str, str]:
    """The fields of a contact added by hand: those typed as ``name = value`` lines, then the
    list's known fields from their own inputs (``field:<name>``), which win."""
    fields = parse_fields(more_fields)
    for name in contact_list.field_names or []:
        if value := (inputs.get(f"field:{name}") or "").strip():
            fields[name] = value
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
        raise ContactError(texts.shown(result.error))
    fields = {k.strip(): v.strip() for k, v in fields.items() if k.strip()}
    if not add_phones(session, contact_list, [(result.phone, fields)]):
        raise ContactError(_("%(phone)s is already in this list.", phone=result.phone))
    merge_field_names(contact_list, fields)
    return session.scalars(
        select(Contact).where(Contact.list_id == contact_list.id, Contact.phone == result.phone)
    ).one()


def remove_contact(session: Session, contact: Contact) -> None:
    """Take a contact out of its list, its fields out of the list's statistics."""
    session.execute(
        update(ContactList)
        .where(ContactList.id == contact.list_id)
        .values(
            contact_count=ContactList.contact_count - 1,
            field_stats=field_stats.after_removing(session, contact),
        )
        .execution_options(synchronize_session=False)
    )
    session.delete(contact)


def add_pasted(
    session: Session, contact_list: ContactList, team: Team, text: str, user: User | None
) -> AddReport:
    """Add pasted numbers to a list: how many were added, already there, and not phones."""
    report = add_all(
        text,
        team.phone_region,
        lambda phones: add_phones(session, contact_list, [(p, {}) for p in phones]),
    )
    if report.added:
        record(session, team.id, "contacts_pasted", user, added=report.added)
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
    now = bulk.db_time(session, utcnow())
    reason = (reason or "").strip()[:200]

    def add(phones: list[str]) -> int:
        rows = [dict(team_id=team.id, phone=p, reason=reason, created_at=now) for p in phones]
        return bulk.executemany(session, STOP_LIST_INSERT, rows)

    report = add_all(text, team.phone_region, add)
    if report.added:
        record(session, team.id, "stop_list_added", user, phones=report.added)
    return report


def remove_from_stop_list(session: Session, entry: StopListEntry, user: User | None) -> None:
    record(session, entry.team_id, "stop_list_removed", user, phone=entry.phone)
    session.delete(entry)


def stop_list_page(
    session: Session, team: Team, after: int | None = None, query: str = ""
) -> tuple[list[StopListEntry], int | None, int]:
    """A page of the stop list, newest first by id, optionally only phones starting with the
    phone ``query``; the id to continue before, and the list's size."""
    rows = select(StopListEntry).where(StopListEntry.team_id == team.id)
    if query.strip():
        rows = rows.where(starts_with(StopListEntry.phone, phone_prefix(query)))
    if after:
        rows = rows.where(StopListEntry.id < after)
    entries, more = paging.first_rows(session, rows.order_by(StopListEntry.id.desc()), PAGE_SIZE)
    # Stop lists are thousands of opt-outs, not millions: counting them is cheap.
    total = session.scalar(
        select(func.count()).select_from(StopListEntry).where(StopListEntry.team_id == team.id)
    )
    return entries, paging.next_key(entries, more), total or 0
