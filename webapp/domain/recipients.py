"""Who a campaign goes to: the chosen lists' phones and pasted numbers, each once, minus the
team's stop list; and the contact fields its placeholders (``{name}``, the grammar in
:mod:`webapp.domain.placeholders`) are filled from, in SQL.

A resend (``Campaign.resend_of``) goes instead to the phones of the source campaign's failed
and unknown messages, each once (its lowest message id), minus the stop list, with the texts
those messages already carry: placeholders are not rendered again.

A phone in several lists is one recipient, whose fields are those of its lowest contact id.
Everything here is counted in SQL, so it stays quick on lists of millions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Subquery,
    and_,
    distinct,
    exists,
    func,
    literal,
    select,
)
from sqlalchemy.orm import Session

from webapp import texts
from webapp.domain import field_stats, placeholders
from webapp.domain.contacts import field_names_of_lists
from webapp.models import RESENDABLE_STATES, Contact, ContactList, Message, StopListEntry
from webapp.phones import split_pasted

CHUNK = 500  # phones per IN (...) list


@dataclass(frozen=True)
class PastedNumbers:
    """Numbers as pasted: the valid ones normalised and each once, the others with why."""

    phones: list[str]
    invalid: list[tuple[str, str]]
    repeated: int = 0


def parse_pasted(text: str, region: str) -> PastedNumbers:
    """Read pasted numbers as lists and the stop list do (:func:`webapp.phones.split_pasted`),
    each phone once."""
    phones: dict[str, None] = {}
    invalid: list[tuple[str, str]] = []
    repeated = 0
    for item in split_pasted(text, region):
        if item.phone is None:
            invalid.append((item.given, texts.shown(item.reason)))
        elif item.phone in phones:
            repeated += 1
        else:
            phones[item.phone] = None
    return PastedNumbers(list(phones), invalid, repeated)


def team_list_ids(session: Session, team_id: int, wanted: Iterable[Any]) -> list[int]:
    """The ids among ``wanted`` that are lists of this team (others are dropped silently)."""
    ids = set()
    for value in wanted or ():
        try:
            ids.add(int(value))
        except (TypeError, ValueError):
            continue
    if not ids:
        return []
    return sorted(
        session.scalars(
            select(ContactList.id).where(ContactList.team_id == team_id, ContactList.id.in_(ids))
        )
    )


# -- SQL building blocks -------------------------------------------------------------------------


def not_stopped(team_id: int, phone: ColumnElement[str]) -> ColumnElement[bool]:
    return ~exists().where(StopListEntry.team_id == team_id, StopListEntry.phone == phone)


def in_lists(team_id: int, list_ids: Sequence[int]) -> ColumnElement[bool]:
    return and_(Contact.team_id == team_id, Contact.list_id.in_(list_ids))


def first_contacts(team_id: int, list_ids: Sequence[int]) -> Select[tuple[int]]:
    """The lowest contact id of each phone in the lists: the contact whose fields are used."""
    return select(func.min(Contact.id)).where(in_lists(team_id, list_ids)).group_by(Contact.phone)


def field_value(name: str) -> ColumnElement[str]:
    """A contact's field as text: ``json_extract`` on SQLite, ``->>`` on PostgreSQL."""
    return Contact.fields[name].as_string()


def rendered_text(template: str) -> ColumnElement[str]:
    """The template rendered for each contact in SQL, as :func:`placeholders.render` renders
    it: its literal runs and fields joined with ``||`` (a field's value is never searched for
    placeholders again, as nested REPLACE would), a missing or empty field replaced by the
    placeholder's fallback. Joined as a balanced tree, so a text of many placeholders stays
    within the databases' expression depth."""
    terms: list[ColumnElement[str]] = []
    for piece in placeholders.parse(template).pieces:
        if isinstance(piece, str):
            terms.append(literal(piece, String))
        else:
            filled = func.nullif(field_value(piece.name), literal("", String))
            terms.append(func.coalesce(filled, literal(piece.fallback or "", String)))
    return _joined(terms) if terms else literal("", String)


def _joined(terms: list[ColumnElement[str]]) -> ColumnElement[str]:
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return _joined(terms[:middle]).concat(_joined(terms[middle:]))


@dataclass
class Recipients:
    """Who a campaign would go to now."""

    count: int = 0
    from_lists: int = 0  # distinct phones of the lists, not stopped
    pasted_only: list[str] = field(default_factory=list)  # pasted, in no chosen list, not stopped
    pasted_in_lists: int = 0  # pasted numbers already in a chosen list
    stopped: int = 0  # distinct phones left out because of the stop list
    stopped_in_lists: int = 0  # those of them in the chosen lists
    invalid: list[tuple[str, str]] = field(default_factory=list)
    repeated: int = 0  # pasted numbers typed more than once
    list_ids: list[int] = field(default_factory=list)
    field_names: list[str] = field(default_factory=list)
    resend_of: int | None = None  # a resend: the source campaign's id


# -- a resend: the source campaign's failed and unknown messages ---------------------------------


def resend_where(team_id: int, source_id: int, message: Any = Message) -> ColumnElement[bool]:
    """The source's failed and unknown messages, of this team only."""
    return and_(
        message.campaign_id == source_id,
        message.team_id == team_id,
        message.state.in_(RESENDABLE_STATES),
    )


def resent(team_id: int, source_id: int) -> Subquery:
    """The rows a resend sends: each resendable phone's first message (lowest id) not on the
    stop list, with its id, phone, text and parts.

    One scan ranked by a window function, not ``id IN (SELECT min(id) ... GROUP BY phone)``:
    PostgreSQL, its statistics taken while the messages were still queued, expects one failed
    message and re-runs that GROUP BY for every outer row (82 s for 20,000 messages).
    """
    rank = func.row_number().over(partition_by=Message.phone, order_by=Message.id)
    ranked = (
        select(Message.id, Message.phone, Message.text, Message.parts, rank.label("rank"))
        .where(resend_where(team_id, source_id), not_stopped(team_id, Message.phone))
        .subquery("ranked")
    )
    return (
        select(ranked.c.id, ranked.c.phone, ranked.c.text, ranked.c.parts)
        .where(ranked.c.rank == 1)
        .subquery("resent")
    )


def resolve_resend(session: Session, team_id: int, source_id: int) -> Recipients:
    """Count a resend's recipients: distinct phones of the source's failed and unknown
    messages, minus the stop list."""
    result = Recipients(resend_of=source_id)
    result.count, result.stopped = _kept_and_stopped(
        session, team_id, Message.phone, resend_where(team_id, source_id)
    )
    return result


def _kept_and_stopped(
    session: Session, team_id: int, phone: Any, chosen: ColumnElement[bool]
) -> tuple[int, int]:
    """How many distinct phones of the chosen rows the stop list lets through, and how many
    it holds back."""
    kept = not_stopped(team_id, phone)
    count = func.count(distinct(phone))
    through = session.scalar(select(count).where(chosen, kept))
    held = session.scalar(select(count).where(chosen, ~kept))
    return int(through or 0), int(held or 0)


def _listed_and_stopped(session: Session, team_id: int, list_ids: Sequence[int]) -> tuple[int, int]:
    """How many distinct phones of the lists the stop list lets through, and how many it holds
    back. The stopped ones are found from the stop list's side (thousands of opt-outs, each
    looked up by the lists' phone index), the rest by a count: of one list's contacts (a
    phone is in a list once), or of the distinct phones of several."""
    held = session.scalar(
        select(func.count())
        .select_from(StopListEntry)
        .where(
            StopListEntry.team_id == team_id,
            exists().where(in_lists(team_id, list_ids), Contact.phone == StopListEntry.phone),
        )
    )
    only = session.get(ContactList, list_ids[0]) if len(list_ids) == 1 else None
    if only is not None and field_stats.trusted(session, only):
        total = only.contact_count  # moved with its contacts, and known to be right
    elif len(list_ids) == 1:
        total = session.scalar(select(func.count()).where(in_lists(team_id, list_ids)))
    else:
        total = session.scalar(
            select(func.count(distinct(Contact.phone))).where(in_lists(team_id, list_ids))
        )
    return int(total or 0) - int(held or 0), int(held or 0)


def first_resent(session: Session, team_id: int, source_id: int) -> tuple[str, str] | None:
    """The sample of a resend: the first resent message's phone and text (as rendered then)."""
    rows = resent(team_id, source_id)
    row = session.execute(select(rows.c.phone, rows.c.text).order_by(rows.c.id).limit(1)).first()
    return (row.phone, row.text) if row is not None else None


def resend_parts_range(session: Session, team_id: int, source_id: int) -> tuple[int, int]:
    """Fewest and most parts of the resent messages, as the source counted them."""
    rows = resent(team_id, source_id)
    row = session.execute(select(func.min(rows.c.parts), func.max(rows.c.parts))).first()
    if row is None or row[1] is None:
        return 0, 0
    return int(row[0]), int(row[1])


# -- resolving -----------------------------------------------------------------------------------


def resolve(
    session: Session,
    team_id: int,
    list_ids: Sequence[int],
    pasted: str,
    region: str,
    *,
    resend_of: int | None = None,
) -> Recipients:
    """Count the distinct recipients of chosen lists ∪ pasted numbers, minus the stop list;
    for a resend, those of the source campaign's failed and unknown messages instead."""
    if resend_of is not None:
        return resolve_resend(session, team_id, resend_of)
    numbers = parse_pasted(pasted, region)
    result = Recipients(invalid=numbers.invalid, repeated=numbers.repeated, list_ids=list(list_ids))
    if list_ids:
        result.from_lists, result.stopped = _listed_and_stopped(session, team_id, list_ids)
        result.stopped_in_lists = result.stopped
        result.field_names = field_names_of_lists(session, team_id, list_ids)
    listed: set[str] = set()
    stopped: set[str] = set()
    for start in range(0, len(numbers.phones), CHUNK):
        chunk = numbers.phones[start : start + CHUNK]
        if list_ids:
            listed.update(
                session.scalars(
                    select(Contact.phone)
                    .where(in_lists(team_id, list_ids), Contact.phone.in_(chunk))
                    .distinct()
                )
            )
        stopped.update(
            session.scalars(
                select(StopListEntry.phone).where(
                    StopListEntry.team_id == team_id, StopListEntry.phone.in_(chunk)
                )
            )
        )
    result.pasted_in_lists = len(listed)
    result.pasted_only = [p for p in numbers.phones if p not in listed and p not in stopped]
    result.stopped += len(stopped - listed)  # stopped listed phones are counted above
    result.count = result.from_lists + len(result.pasted_only)
    return result


def first_recipient(
    session: Session, team_id: int, recipients: Recipients
) -> tuple[str, dict[str, Any]] | None:
    """The sample recipient shown in the preview: the first contact of the lists, else the
    first pasted number; its phone and fields."""
    if recipients.list_ids and recipients.from_lists:
        # The lowest contact id not stopped is its phone's first contact (a lower one of the
        # same phone would be neither stopped nor later): no grouping of the lists needed.
        row = session.execute(
            select(Contact.phone, Contact.fields)
            .where(in_lists(team_id, recipients.list_ids), not_stopped(team_id, Contact.phone))
            .order_by(Contact.id)
            .limit(1)
        ).first()
        if row is not None:
            return row.phone, dict(row.fields or {})
    if recipients.pasted_only:
        return recipients.pasted_only[0], {}
    return None
