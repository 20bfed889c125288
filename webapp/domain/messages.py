"""A campaign's message table: filters, search by phone, sorting and keyset pages, the CSV
export's chunks, and the summary's figures (from the campaign's counters, never a COUNT).

Pages are keyset pages: a page starts after (or ends before) a message id, and the query walks an
index from there, so page 20,000 of a 1,000,000-message campaign costs what page 1 costs. Every
query is scoped by team and campaign.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from webapp import paging
from webapp.domain.usage import delivery_rate  # noqa: F401  (one definition, for templates)
from webapp.models import (
    COUNTED_STATES,
    MOVING_STATES,
    SETTLED_STATES,
    UNDELIVERED_STATES,
    Campaign,
    CampaignState,
    Message,
)
from webapp.phones import phone_prefix, starts_with

PAGE_SIZE = 50
EXPORT_CHUNK = 5_000

# The sort orders a person can choose: (label key, columns, descending).
SORTS = ("newest", "oldest", "phone")
DEFAULT_SORT = "newest"

# The summary's counters, in the order a message goes through them.
SUMMARY_STATES = COUNTED_STATES
FINAL_CAMPAIGN_STATES = (CampaignState.FINISHED.value, CampaignState.CANCELLED.value)
# What a scheduled campaign whose time has come is shown as (not a stored state).
STARTING = "starting"
# What a finished campaign is shown as while some of its messages still await their delivery
# report: every message was sent, not every one reported.
AWAITING_REPORTS = "awaiting_reports"
# Every state a campaign is shown in, in the order of its life (the campaigns list's filter).
SHOWN_STATES = (
    CampaignState.DRAFT.value,
    CampaignState.SCHEDULED.value,
    STARTING,
    CampaignState.SENDING.value,
    CampaignState.PAUSED.value,
    AWAITING_REPORTS,
    CampaignState.FINISHED.value,
    CampaignState.CANCELLED.value,
)

EXPORT_COLUMNS = (
    "phone",
    "state",
    "gateway_status",
    "parts",
    "cost",
    "sent_at",
    "enroute_at",
    "final_at",
)


# -- the summary: the campaign row only ----------------------------------------------------------


def is_final(campaign: Campaign) -> bool:
    """Whether nothing about the campaign can change any more: it is finished or cancelled and
    no message is still queued, being sent or on its way."""
    return campaign.state in FINAL_CAMPAIGN_STATES and not any(
        getattr(campaign, state) for state in MOVING_STATES
    )


def is_live(campaign: Campaign) -> bool:
    """Whether a page showing the campaign should keep polling it (a draft does not change by
    itself; a final campaign never changes again)."""
    return campaign.state != CampaignState.DRAFT and not is_final(campaign)


def settled(campaign: Campaign) -> int:
    """How many of the campaign's messages are in a state they end in (the progress bar)."""
    return sum(getattr(campaign, state) for state in SETTLED_STATES)


def undelivered(campaign: Campaign) -> int:
    """How many of the campaign's messages ended without reaching the phone."""
    return sum(getattr(campaign, state) for state in UNDELIVERED_STATES)


def resendable(campaign: Campaign) -> int:
    return campaign.failed + campaign.unknown


def shown_state(campaign: Campaign, now: datetime) -> str:
    """The campaign's state as a person should read it, on every page (the list, its page,
    the home page): one of ``SHOWN_STATES``; :func:`shown_state_where` is the same rule in
    SQL. A scheduled campaign whose time has come (sent "now", or its time passed) is
    "starting": it waits for nothing but the worker's next dispatch tick
    (``campaigns.start_due``), which makes it "sending". The stored state stays "scheduled"
    until then, and so do the actions it allows (edit, cancel). A finished campaign some of
    whose messages still await their delivery report is "sent, awaiting reports"."""
    if campaign.state == CampaignState.SCHEDULED and (
        campaign.send_at is None or campaign.send_at <= now
    ):
        return STARTING
    if campaign.state == CampaignState.FINISHED and any(
        getattr(campaign, state) for state in MOVING_STATES
    ):
        return AWAITING_REPORTS
    return campaign.state


def shown_state_where(shown: str, now: datetime) -> ColumnElement[bool]:
    """The campaigns :func:`shown_state` shows as ``shown`` (one of ``SHOWN_STATES``)."""
    moving = or_(*(getattr(Campaign, state) > 0 for state in MOVING_STATES))
    due = or_(Campaign.send_at.is_(None), Campaign.send_at <= now)
    if shown == STARTING:
        return and_(Campaign.state == CampaignState.SCHEDULED, due)
    if shown == CampaignState.SCHEDULED:
        return and_(Campaign.state == CampaignState.SCHEDULED, Campaign.send_at > now)
    if shown == AWAITING_REPORTS:
        return and_(Campaign.state == CampaignState.FINISHED, moving)
    if shown == CampaignState.FINISHED:
        return and_(Campaign.state == CampaignState.FINISHED, ~moving)
    return Campaign.state == shown


def version(campaigns: Sequence[Campaign], now: datetime) -> str:
    """A short fingerprint of what the polled region shows: it changes when a counter or a
    state does (as shown: "scheduled" turning "starting" too), so a poll can tell "nothing
    changed" and wait longer."""
    digest = hashlib.blake2s(digest_size=6)
    for c in campaigns:
        values = [c.id, shown_state(c, now), c.recipients, c.parts, c.cost]
        values += [getattr(c, state) for state in SUMMARY_STATES]
        digest.update(repr(values).encode())
    return digest.hexdigest()


# Polling slows down while nothing changes: 2 s, 4 s, 8 s, then every 10 s.
FIRST_INTERVAL = 2
MAX_INTERVAL = 10


def next_interval(seen: str | None, current: str, last_interval: int | None) -> int:
    """The next poll's interval in seconds: back to 2 s when something changed since the poll
    that saw ``seen``, twice as long (at most 10 s) when nothing did."""
    if not seen or seen != current or not last_interval:
        return FIRST_INTERVAL
    return min(max(last_interval, FIRST_INTERVAL) * 2, MAX_INTERVAL)


# -- filters and search --------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What the table shows: one state or all, a phone prefix, a sort order."""

    state: str = ""
    q: str = ""
    sort: str = DEFAULT_SORT

    @classmethod
    def from_args(cls, args: Any) -> Filters:
        state = args.get("state", "") or ""
        sort = args.get("sort", "") or DEFAULT_SORT
        return cls(
            state=state if state in SUMMARY_STATES else "",
            q=phone_prefix(args.get("q")),
            sort=sort if sort in SORTS else DEFAULT_SORT,
        )

    def url_args(self) -> dict[str, str]:
        """Only what differs from the defaults, for short URLs."""
        args = {"state": self.state, "q": self.q}
        if self.sort != DEFAULT_SORT:
            args["sort"] = self.sort
        return {k: v for k, v in args.items() if v}

    def where(self, team_id: int, campaign_id: int) -> list[ColumnElement[bool]]:
        conditions = [Message.team_id == team_id, Message.campaign_id == campaign_id]
        if self.state:
            conditions.append(Message.state == self.state)
        if self.q:
            conditions.append(starts_with(Message.phone, self.q))
        return conditions


# -- keyset pages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """A position in the table: a message's sort key."""

    id: int
    phone: str = ""


def _beyond(sort: str, cursor: Cursor, forward: bool) -> ColumnElement[bool]:
    """Rows strictly after ``cursor`` in the sort order (before it when not ``forward``)."""
    if sort == "phone":
        if forward:
            return or_(
                Message.phone > cursor.phone,
                and_(Message.phone == cursor.phone, Message.id > cursor.id),
            )
        return or_(
            Message.phone < cursor.phone,
            and_(Message.phone == cursor.phone, Message.id < cursor.id),
        )
    ascending = (sort == "oldest") == forward
    return Message.id > cursor.id if ascending else Message.id < cursor.id


def _ordered(query: Select, sort: str, forward: bool) -> Select:
    if sort == "phone":
        if forward:
            return query.order_by(Message.phone.asc(), Message.id.asc())
        return query.order_by(Message.phone.desc(), Message.id.desc())
    ascending = (sort == "oldest") == forward
    return query.order_by(Message.id.asc() if ascending else Message.id.desc())


def _cursor_of(session: Session, team_id: int, campaign_id: int, message_id: int) -> Cursor:
    """The sort key of the message a page starts after; a foreign or missing id reads as a
    position by id alone (an id is not a secret: the query stays scoped)."""
    phone = session.scalar(
        select(Message.phone).where(
            Message.id == message_id,
            Message.team_id == team_id,
            Message.campaign_id == campaign_id,
        )
    )
    return Cursor(message_id, phone or "")


@dataclass
class Page:
    """One page of the table and where the pages beside it start."""

    rows: list[Message]
    next_after: int | None  # the "Next" link's ``after``
    prev_before: int | None  # the "Previous" link's ``before``
    filters: Filters

    @property
    def first(self) -> bool:
        return self.prev_before is None


def page(
    session: Session,
    team_id: int,
    campaign_id: int,
    filters: Filters,
    *,
    after: int | None = None,
    before: int | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    """The page of messages after the message ``after`` (or before ``before``; else the first)
    in the filters' order, with the cursors of the next and previous pages."""
    base = select(Message).where(*filters.where(team_id, campaign_id))
    forward = before is None
    anchor = after if forward else before
    query = base
    if anchor is not None:
        cursor = _cursor_of(session, team_id, campaign_id, anchor)
        query = query.where(_beyond(filters.sort, cursor, forward))
    rows, more = paging.first_rows(session, _ordered(query, filters.sort, forward), size)
    if not forward:
        rows.reverse()
    if not rows:
        return Page([], None, None, filters)
    first, last = rows[0], rows[-1]
    if forward:
        has_next = more
        has_prev = anchor is not None and _exists(session, base, filters.sort, first, False)
    else:
        has_prev = more
        has_next = _exists(session, base, filters.sort, last, True)
    return Page(
        rows,
        next_after=last.id if has_next else None,
        prev_before=first.id if has_prev else None,
        filters=filters,
    )


def _exists(session: Session, base: Select, sort: str, row: Message, forward: bool) -> bool:
    beyond = _beyond(sort, Cursor(row.id, row.phone), forward)
    query = base.with_only_columns(Message.id).where(beyond).limit(1)
    return session.scalar(query) is not None


# -- the CSV export ------------------------------------------------------------------------------


def export_rows(
    session: Session,
    team_id: int,
    campaign_id: int,
    filters: Filters,
    *,
    chunk: int = EXPORT_CHUNK,
) -> Iterator[tuple[Any, ...]]:
    """Every message the filters select, in their order, as tuples of ``EXPORT_COLUMNS``: read
    ``chunk`` rows at a time by keyset, so memory stays flat however many there are."""
    columns = [getattr(Message, name) for name in EXPORT_COLUMNS]
    base = select(Message.id, *columns).where(*filters.where(team_id, campaign_id))
    cursor: Cursor | None = None
    while True:
        query = base
        if cursor is not None:
            query = query.where(_beyond(filters.sort, cursor, True))
        rows = session.execute(_ordered(query, filters.sort, True).limit(chunk)).all()
        for row in rows:
            yield tuple(row[1:])
        if len(rows) < chunk:
            return
        last = rows[-1]
        cursor = Cursor(last[0], last[1])
