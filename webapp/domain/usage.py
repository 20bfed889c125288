"""What a team's messages cost and how they fared, kept by quarter hour (``UsagePeriod``).

Dispatch records each batch's answers, parts and cost; applying statuses records delivered
and failed outcomes against the period the message was sent in. Both run inside the
transactions that move the messages, so the figures always match the messages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import String, func, literal, select, type_coerce
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from webapp import bulk
from webapp.models import DELIVERY_OUTCOMES, Campaign, Message, UsagePeriod

PERIOD = timedelta(minutes=15)

# The figures a period adds up; a row for a period already there adds to it.
SUMMED = (
    "accepted", "rejected", "parts", "cost", "estimated_parts", "estimated_cost", "delivered",
    "failed",
)  # fmt: skip
UPSERT = (
    f"INSERT INTO usage_periods (team_id, campaign_id, period_start, {', '.join(SUMMED)})"
    f" VALUES (:team_id, :campaign_id, :period_start, {', '.join(':' + c for c in SUMMED)})"
    " ON CONFLICT (campaign_id, period_start) DO UPDATE SET "
    + ", ".join(f"{c} = usage_periods.{c} + excluded.{c}" for c in SUMMED)
)


def period_start(when: datetime) -> datetime:
    """The start of the quarter hour (UTC) that ``when`` falls in."""
    return when.replace(minute=when.minute - when.minute % 15, second=0, microsecond=0)


@dataclass
class Sent:
    """One batch's answers from send.json, as dispatch stores them."""

    accepted: int = 0
    rejected: int = 0
    parts: int = 0
    cost: Decimal = Decimal(0)
    estimated_parts: int = 0
    estimated_cost: Decimal = Decimal(0)


def record_sent(
    session: Session, team_id: int, campaign_id: int, now: datetime, sent: Sent
) -> None:
    """Add a batch's answers to the campaign's current period. The caller commits."""
    if not (sent.accepted or sent.rejected):
        return
    _upsert(
        session,
        [
            _row(
                session,
                team_id,
                campaign_id,
                period_start(now),
                accepted=sent.accepted,
                rejected=sent.rejected,
                parts=sent.parts,
                cost=sent.cost,
                estimated_parts=sent.estimated_parts,
                estimated_cost=sent.estimated_cost,
            )
        ],
    )


def sent_upsert(team_id: Any, campaign_id: Any, period: Any, sent: Any) -> Any:
    """:func:`record_sent` as a PostgreSQL statement to put in a WITH (webapp/domain/
    send_results.py), for the period starting ``period`` (values or bind parameters):
    ``sent``, a one-row select of the batch's figures, named as :class:`Sent`'s fields, added
    to the period unless it counted no message."""
    table = UsagePeriod.__table__
    figures = [f.name for f in fields(Sent)]
    others = [name for name in SUMMED if name not in figures]  # outcomes: none yet
    rows = select(
        team_id, campaign_id, period, *(sent.c[name] for name in figures),
        *(literal(0) for _ in others),
    ).where((sent.c.accepted + sent.c.rejected) > 0)  # fmt: skip
    insert = postgresql.insert(table).from_select(
        ["team_id", "campaign_id", "period_start", *figures, *others], rows
    )
    return insert.on_conflict_do_update(
        index_elements=["campaign_id", "period_start"],
        set_={name: table.c[name] + insert.excluded[name] for name in figures},
    )


def record_outcomes(
    session: Session, team_id: int, outcomes: Iterable[tuple[int, datetime | str | None, str]]
) -> None:
    """Count final statuses, given one per message as (campaign id, when the message was sent,
    new state), against the periods the messages were sent in. The caller commits."""
    record_outcome_counts(session, team_id, Counter(outcomes))


def record_outcome_counts(
    session: Session, team_id: int, counts: Mapping[tuple[int, datetime | str | None, str], int]
) -> None:
    """Like :func:`record_outcomes`, given how many messages of each (campaign id, when sent,
    new state) there were.

    ``sent_at`` may be the database's own value (see :func:`raw_sent_at`): this runs for every
    page of statuses, and converting a thousand timestamps cost more than the rest.
    """
    by_period: dict[tuple[int, datetime | str], Counter[str]] = {}
    for (campaign_id, sent_at, state), count in counts.items():
        if sent_at is not None and state in DELIVERY_OUTCOMES:
            by_period.setdefault((campaign_id, _period_of(sent_at)), Counter())[state] += count
    _upsert(
        session,
        [
            _row(session, team_id, campaign_id, start, **by_state)
            # In one order (see webapp/domain/status_appliers.py)
            for (campaign_id, start), by_state in sorted(by_period.items())
        ],
    )


def raw_sent_at() -> Any:
    """``Message.sent_at`` as the driver returns it, without SQLAlchemy's conversion: text on
    SQLite (parsed by :func:`_period_of` with a slice), a datetime from psycopg."""
    return type_coerce(Message.sent_at, String).label("sent_at")


# SQLite keeps a UTCDateTime as "YYYY-MM-DD HH:MM:SS.ffffff": the minutes, to their period.
_QUARTER_OF_MINUTE = {f"{m:02d}": f"{m - m % 15:02d}:00.000000" for m in range(60)}


def _period_of(sent_at: datetime | str) -> datetime | str:
    if isinstance(sent_at, str):
        return sent_at[:14] + _QUARTER_OF_MINUTE[sent_at[14:16]]
    return period_start(sent_at)


def _row(
    session: Session, team_id: int, campaign_id: int, start: datetime | str, **values: object
) -> dict[str, object]:
    """An UPSERT row; ``start`` is a datetime, or already SQLite's text for one."""
    row: dict[str, object] = {
        "team_id": team_id,
        "campaign_id": campaign_id,
        "period_start": start if isinstance(start, str) else bulk.db_time(session, start),
        "accepted": 0,
        "rejected": 0,
        "parts": 0,
        "cost": Decimal(0),
        "estimated_parts": 0,
        "estimated_cost": Decimal(0),
        "delivered": 0,
        "failed": 0,
    }
    row.update(values)
    if session.get_bind().dialect.name == "sqlite":  # the sqlite3 driver takes no Decimal
        row["cost"], row["estimated_cost"] = str(row["cost"]), str(row["estimated_cost"])
    return row


def _upsert(session: Session, rows: list[dict[str, object]]) -> None:
    # Sorted, so that two workers touching the same periods lock them in the same order.
    rows.sort(key=lambda row: (row["campaign_id"], str(row["period_start"])))
    bulk.executemany(session, UPSERT, rows)


@dataclass
class Totals(Sent):
    """Sums over a team's periods: messages answered, their parts and cost (with the share we
    estimated), and their outcomes so far."""

    delivered: int = 0
    failed: int = 0

    @property
    def messages(self) -> int:
        return self.accepted + self.rejected

    @property
    def delivery_rate(self) -> float | None:
        return delivery_rate(self)


SUMMED = ("accepted", "rejected", "parts", "cost", "estimated_parts", "estimated_cost")
SUMMED += ("delivered", "failed")


def sums():
    """``SUM(column)`` for every summed column, labelled with its name (for GROUP BY queries)."""
    return [func.coalesce(func.sum(getattr(UsagePeriod, c)), 0).label(c) for c in SUMMED]


def totals(session: Session, team_id: int, start: datetime, end: datetime) -> Totals:
    """The team's usage of messages sent from ``start`` up to ``end``."""
    row = session.execute(
        select(*sums()).where(
            UsagePeriod.team_id == team_id,
            UsagePeriod.period_start >= start,
            UsagePeriod.period_start < end,
        )
    ).one()
    return totals_of(row)


def totals_of(row: object) -> Totals:
    """A result row holding the columns of :func:`sums` as Totals."""
    return Totals(**{c: _number(c, getattr(row, c)) for c in SUMMED})


def _number(column: str, value: object) -> int | Decimal:
    # SQLite sums a NUMERIC column as a float: back to Decimal, rounded to the column's scale.
    if column in ("cost", "estimated_cost"):
        return Decimal(str(value)).quantize(Decimal("0.0001"))
    return int(value)


def delivery_rate(counts: Totals | Campaign) -> float | None:
    """Delivered as a percentage of the messages whose delivery is known: those the gateway
    gave its final word on, delivered or failed (``DELIVERY_OUTCOMES``). None while none is.

    The one definition, for a campaign (the campaign page, home's running campaigns) and for
    usage (home's today and this month, the spending report). Send-time rejections are
    counted apart; an expired message is not known either way: it only went without a status
    for too long, and a late status still settles it (and counts it then)."""
    known = sum(getattr(counts, state) for state in DELIVERY_OUTCOMES)
    return 100.0 * counts.delivered / known if known else None
