"""The campaigns list: a team's campaigns newest first, by keyset pages, searched by name and
filtered by the state they are shown in, their sender name and a period (the team's days).

Pages start after (or end before) a campaign's id and walk ``ix_campaigns_team_id_id`` from
there, so the 2,000th page costs what the first does at 100,000 campaigns. Test sends
(``test_of``) are not campaigns a person runs, and are never listed. Every query is scoped by
team.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from webapp import paging, periods
from webapp.domain import messages
from webapp.models import Campaign, SenderName, Team

PAGE_SIZE = 50
# What a search or a filter may hold: a name is at most 200 characters, a sender name 32.
MAX_QUERY = 200
MAX_SENDER = 32
# The periods offered: any time, the presets of whole days, or typed days.
ANY_TIME = ""
PERIODS = ("today", "yesterday", "last-7-days", "last-30-days", "this-month", "last-month")


@dataclass
class ListChoice:
    """What the person asked the list for, as typed (kept for the form), the period it makes
    (None: any time), and what is wrong with typed days, in words, by field ("from", "to")."""

    q: str = ""
    state: str = ""
    sender: str = ""
    period_name: str = ANY_TIME
    typed: dict[str, str] = field(default_factory=lambda: {"from": "", "to": ""})
    period: periods.Period | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, args: Mapping[str, str], team: Team, now: datetime) -> ListChoice:
        """The choice in a query string; what is not offered is ignored (any state, any
        sender, any time), and typed days that make no period are errors beside their fields
        (the list is then shown for any time)."""
        state = args.get("state", "") or ""
        typed = {key: (args.get(key, "") or "").strip()[:32] for key in ("from", "to")}
        name = args.get("period", "") or ""
        if name not in (*PERIODS, periods.CUSTOM):
            name = periods.CUSTOM if (typed["from"] or typed["to"]) else ANY_TIME
        choice = cls(
            q=" ".join((args.get("q", "") or "").split())[:MAX_QUERY],
            state=state if state in messages.SHOWN_STATES else "",
            sender=(args.get("sender", "") or "").strip()[:MAX_SENDER],
            period_name=name,
            typed=typed,
        )
        if name != ANY_TIME:
            try:
                choice.period = periods.choose(team, now, name, typed["from"], typed["to"])
            except periods.PeriodError as exc:
                choice.errors = {k: periods.problem(k, code) for k, code in exc.problems.items()}
        return choice

    @property
    def filtered(self) -> bool:
        return bool(self.q or self.state or self.sender or self.period)

    def url_args(self) -> dict[str, str]:
        """The choice as a short query string (what a shared link or a poll carries)."""
        args = {"q": self.q, "state": self.state, "sender": self.sender}
        if self.period_name:
            args["period"] = self.period_name
        if self.period_name == periods.CUSTOM:
            args.update(self.typed)
        return {k: v for k, v in args.items() if v}

    def where(self, team_id: int, now: datetime) -> list[ColumnElement[bool]]:
        conditions = [Campaign.team_id == team_id, Campaign.test_of.is_(None)]
        if self.q:
            escaped = self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(Campaign.name.ilike(f"%{escaped}%", escape="\\"))
        if self.state:
            conditions.append(messages.shown_state_where(self.state, now))
        if self.sender:
            conditions.append(Campaign.sender == self.sender)
        if self.period is not None:
            # Sent (or to be sent) in the period; a draft without a time, when it was made.
            when = func.coalesce(Campaign.send_at, Campaign.created_at)
            conditions += [when >= self.period.start, when < self.period.end]
        return conditions


@dataclass
class Page:
    """One page of the list, and where the pages beside it start."""

    rows: list[Campaign]
    next_after: int | None
    prev_before: int | None

    @property
    def first(self) -> bool:
        return self.prev_before is None


def page(
    session: Session,
    team_id: int,
    choice: ListChoice,
    now: datetime,
    *,
    after: int | None = None,
    before: int | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    """The campaigns of the choice after the campaign ``after`` (older ones) or before
    ``before`` (newer ones), else the newest, with the cursors of the pages beside it."""
    base = select(Campaign).where(*choice.where(team_id, now))
    if before is not None:
        query: Select = base.where(Campaign.id > before).order_by(Campaign.id.asc())
        rows, more = paging.first_rows(session, query, size)
        rows.reverse()
        older = bool(rows) and _exists(session, base.where(Campaign.id < rows[-1].id))
        return Page(rows, rows[-1].id if older else None, rows[0].id if more else None)
    query = base.order_by(Campaign.id.desc())
    if after is not None:
        query = query.where(Campaign.id < after)
    rows, more = paging.first_rows(session, query, size)
    newer = (
        after is not None and bool(rows) and _exists(session, base.where(Campaign.id > rows[0].id))
    )
    return Page(rows, paging.next_key(rows, more), rows[0].id if newer else None)


def _exists(session: Session, query: Select) -> bool:
    return session.scalar(query.with_only_columns(Campaign.id).limit(1)) is not None


def sender_choices(session: Session, team_id: int, chosen: str) -> Sequence[str]:
    """The sender names the filter offers: the team's (whatever their status: campaigns sent
    from a name since blocked are still found), and the one chosen, if it is none of them."""
    names = list(
        session.scalars(
            select(SenderName.name).where(SenderName.team_id == team_id).order_by(SenderName.name)
        )
    )
    if chosen and chosen not in names:
        names.append(chosen)
    return names
