"""A send.json reply written down: each message's send-time result in one statement per kind,
and what the messages that took it add to the team's usage and the campaign's counters.

Only messages still ``sending`` take their result (``state = 'sending'`` guards each row,
``RETURNING`` says which it changed): a reply that lands after the stale-claim tick settled its
claim ``unknown`` (a frozen worker) changes no message, so it moves no counter either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Connection,
    Integer,
    Numeric,
    Text,
    bindparam,
    case,
    cast,
    func,
    literal,
    select,
    update,
)  # fmt: skip
from sqlalchemy.orm import Session

from webapp import bulk, iqsms
from webapp.domain import usage
from webapp.iqsms.parts import count_parts
from webapp.models import Campaign, Message, MessageState, PendingStatus, UTCDateTime

if TYPE_CHECKING:
    from webapp.domain.send_calls import Claimed

M = MessageState
# (id, smsc_id, parts, cost, estimated) of an accepted message
Accepted = tuple[int, str | None, int, Decimal, bool]


@dataclass
class Outcome:
    """A call's reply, sorted: the accepted messages, (id, gateway status) of rejected ones,
    the ids of those refused for want of balance and of those the reply did not mention."""

    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    no_balance: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)

    @property
    def all_accepted(self) -> bool:
        return not (self.rejected or self.no_balance or self.missing)


def sort_results(claimed: Claimed, result: iqsms.SendResult) -> Outcome:
    by_client_id = result.by_client_id()
    price = claimed.sending.price_per_part
    outcome = Outcome()
    for message_id, _phone, body in claimed.rows:
        status = by_client_id.get(str(message_id))
        if status is None:
            outcome.missing.append(message_id)
        elif status.accepted:
            parts = status.sms_count if status.sms_count is not None else count_parts(body)
            estimated = status.cost is None
            cost = price * parts if estimated else status.cost
            outcome.accepted.append((message_id, status.smsc_id, parts, cost, estimated))
        elif status.status == iqsms.Status.NOT_ENOUGH_BALANCE:
            outcome.no_balance.append(message_id)
        else:
            outcome.rejected.append((message_id, status.status[:64]))
    return outcome


_SET_ACCEPTED = (
    f"UPDATE messages SET state = '{M.ACCEPTED}', gateway_status = 'accepted',"
    " smsc_id = v.smsc, parts = v.parts, cost = v.cost, cost_estimated = v.estimated,"
)
# The guard is an expression no index holds, and which the planner takes for an ordinary
# filter: PostgreSQL's statistics, taken when a campaign's messages were all queued, know of
# no message ``sending``; given a plain ``state = 'sending'`` the planner expected one row and
# went through every claimed message (by the (campaign, state, id) index) for each of the
# batch's 200: half a second per batch with 4,800 claimed. Now it finds the batch's rows by
# id (in a small table: by one scan and a hash join).
_WHERE_SENDING = (
    f" WHERE messages.id = v.id AND coalesce(messages.state, '') = '{M.SENDING}'"
    " RETURNING messages.id"
)
# SQLite's: the batch's rows in a VALUES list (SQLite's UPDATE names no FROM list of its own).
ACCEPTED_UPDATE = (
    "WITH v(id, smsc, parts, cost, estimated) AS (VALUES {values}) "
    + _SET_ACCEPTED
    + " sent_at = ?, updated_at = ?, next_check_at = ? FROM v"
    + _WHERE_SENDING.replace("v.id", "CAST(v.id AS BIGINT)")
)
# PostgreSQL's: the same short statement for every batch, its columns as binary arrays. A
# VALUES list of a thousand placeholders was too long for psycopg to keep parsed: converting it
# took a quarter of a sending loop's time.
POSTGRESQL_ACCEPTED_UPDATE = (
    _SET_ACCEPTED + " sent_at = %(now)s, updated_at = %(now)s, next_check_at = %(check_at)s"
    " FROM unnest(CAST(%(ids)b AS bigint[]), CAST(%(smsc)b AS text[]),"
    " CAST(%(parts)b AS integer[]), CAST(%(costs)b AS numeric[]),"
    " CAST(%(estimated)b AS boolean[])) AS v(id, smsc, parts, cost, estimated)" + _WHERE_SENDING
)
REJECTED_UPDATE = (
    "WITH v(id, status) AS (VALUES {values})"
    f" UPDATE messages SET state = '{M.REJECTED}', gateway_status = v.status,"
    " sent_at = ?, final_at = ?, updated_at = ? FROM v"
    + _WHERE_SENDING.replace("v.id", "CAST(v.id AS BIGINT)")
)


def write_results(
    session: Session, outcome: Outcome, now: datetime, check_at: datetime
) -> tuple[list[Accepted], int]:
    """The accepted rows that took their result, and how many rejected ones did. Raw values
    through the driver: this runs for every batch, and SQLAlchemy's per-row parameter
    processing costs more than the statement itself. (A reply holds at most MAX_SEND rows: far
    from SQLite's limit on parameters.)"""
    accepted = outcome.accepted
    if accepted:
        changed = _write_accepted(session, accepted, now, check_at)
        if len(changed) < len(accepted):
            accepted = [row for row in accepted if row[0] in changed]
    rejected = 0
    if outcome.rejected:
        raw_now = bulk.db_time(session, now)
        parameters = [value for row in outcome.rejected for value in row]
        parameters += (raw_now, raw_now, raw_now)
        rejected = len(_changed(session, REJECTED_UPDATE, 2, len(outcome.rejected), parameters))
    return accepted, rejected


def _write_accepted(
    session: Session, accepted: list[Accepted], now: datetime, check_at: datetime
) -> set[int]:
    if session.get_bind().dialect.name == "postgresql":
        ids, smsc, parts, costs, estimated = (
            list(column) for column in zip(*accepted, strict=True)
        )
        values = {"ids": ids, "smsc": smsc, "parts": parts, "costs": costs}
        values |= {"estimated": estimated, "now": now, "check_at": check_at}
        rows = session.connection().exec_driver_sql(POSTGRESQL_ACCEPTED_UPDATE, values)
        return {row[0] for row in rows}
    parameters: list[Any] = []
    for message_id, smsc_id, message_parts, cost, was_estimated in accepted:
        # The sqlite3 driver takes no Decimal.
        parameters += (message_id, smsc_id, message_parts, str(cost), was_estimated)
    raw_now = bulk.db_time(session, now)
    parameters += (raw_now, raw_now, bulk.db_time(session, check_at))
    return _changed(session, ACCEPTED_UPDATE, 5, len(accepted), parameters)


def _changed(session: Session, statement: str, width: int, rows: int, parameters: list) -> set:
    """The ids ``statement`` changed, its VALUES list holding ``rows`` rows of ``width``."""
    values = ", ".join([f"({', '.join(['?'] * width)})"] * rows)
    changed = bulk.fetch_positional(session, statement.format(values=values), parameters)
    return {row[0] for row in changed}


def count_results(
    session: Session, claimed: Claimed, accepted: list[Accepted], rejected: int, now: datetime
) -> dict[Any, Any]:
    """The team's usage for the period recorded, and the campaign's counters and spending of
    the messages that took their result as a SET clause (empty if none did): the caller writes
    the campaign's row, last before the commit."""
    sent = usage.Sent(accepted=len(accepted), rejected=rejected)
    for _id, _smsc, parts, cost, estimated in accepted:
        sent.parts += parts
        sent.cost += cost
        if estimated:
            sent.estimated_parts += parts
            sent.estimated_cost += cost
    if not (sent.accepted or sent.rejected):
        return {}
    usage.record_sent(session, claimed.sending.team_id, claimed.sending.campaign_id, now, sent)
    return campaign_counts(sent.accepted, sent.rejected, sent.parts, sent.cost)


def campaign_counts(accepted: Any, rejected: Any, parts: Any, cost: Any) -> dict[Any, Any]:
    """The campaign's counters and spending as a SET clause, for messages that took their
    result (numbers, or columns of a statement's own sums)."""
    return {
        Campaign.sending: Campaign.sending - (accepted + rejected),
        Campaign.accepted: Campaign.accepted + accepted,
        Campaign.rejected: Campaign.rejected + rejected,
        Campaign.parts: Campaign.parts + parts,
        Campaign.cost: Campaign.cost + cost,
    }


def campaign_update(
    campaign_id: Any, seq: Any, counted: Mapping[Any, Any], counted_any: Any = None
) -> Any:
    """The UPDATE of the campaign's row after the results of its batch number ``seq``:
    ``counted`` (a SET clause of :func:`campaign_counts`), and the end of any run of failures
    and its back-off if the batch was claimed after the last counted failure (one claimed
    before it says nothing about the gateway since). With nothing counted, the row is written
    only to end a run; ``counted_any`` (a condition) says whether the statement's own sums
    counted anything."""
    after = Campaign.failure_claim_seq < seq
    ended = {Campaign.failed_attempts: 0, Campaign.retry_at: None}
    a_run = after & ((Campaign.failed_attempts > 0) | Campaign.retry_at.isnot(None))
    where = [Campaign.id == campaign_id]
    if not counted:
        return update(Campaign.__table__).where(*where, a_run).values(ended)
    # The row is written anyway: the run's end is a CASE in the same statement.
    ended = {column: case((after, value), else_=column) for column, value in ended.items()}
    if counted_any is not None:
        where.append(counted_any | a_run)
    return update(Campaign.__table__).where(*where).values({**counted, **ended})


def store_accepted_at_once(
    direct: Connection,
    claimed: Claimed,
    accepted: list[Accepted],
    now: datetime,
    check_at: datetime,
) -> tuple[list[Accepted], bool]:
    """A reply that accepted every message, stored as one PostgreSQL statement in autocommit
    (a loop's ``direct`` connection): the messages still ``sending`` take their result, their
    sums go to the team's usage, then to the campaign's row with the end of any run of
    failures. Each step reads the one before it, so the locks are taken messages, usage,
    campaign, the order of every transaction. The rows that took it, and whether statuses
    came through the queue for them before (the caller applies them: statuses.apply_pending)."""
    ids, smsc, parts, costs, estimated = (list(c) for c in zip(*accepted, strict=True))
    sending = claimed.sending
    changed, _campaign, pending = bulk.run_built(
        direct, _accepted_statement, ids=ids, smsc=smsc, parts=parts, costs=costs,
        estimated=estimated, now=now, check_at=check_at, period=usage.period_start(now),
        team_id=sending.team_id, campaign_id=sending.campaign_id, seq=claimed.seq,
    ).one()  # fmt: skip
    changed = set(changed or ())
    if len(changed) < len(accepted):
        accepted = [row for row in accepted if row[0] in changed]
    return accepted, bool(pending)


def _accepted_statement() -> Any:
    """:func:`store_accepted_at_once`'s statement, its values as named parameters."""
    now = bindparam("now", type_=UTCDateTime)
    written = _written(now)
    guessed = written.c.estimated
    sums = select(
        func.count().label("accepted"),
        literal(0).label("rejected"),
        func.coalesce(func.sum(written.c.parts), 0).label("parts"),
        func.coalesce(func.sum(written.c.cost), 0).label("cost"),
        func.coalesce(func.sum(written.c.parts).filter(guessed), 0).label("estimated_parts"),
        func.coalesce(func.sum(written.c.cost).filter(guessed), 0).label("estimated_cost"),
    ).cte("sums")
    team_id, campaign_id = (
        bindparam("team_id", type_=Integer),
        bindparam("campaign_id", type_=Integer),
    )
    period = bindparam("period", type_=UTCDateTime)
    upsert = usage.sent_upsert(team_id, campaign_id, period, sums)
    used = upsert.returning(literal(1).label("one")).cte("used")
    after_usage = select(func.count()).select_from(used).scalar_subquery() >= 0
    # Each sum as a subquery of its own (one row): no FROM list beside the campaign's row.
    accepted_count, parts_sum, cost_sum = (
        select(sums.c[name]).scalar_subquery() for name in ("accepted", "parts", "cost")
    )
    counted = campaign_counts(accepted_count, 0, parts_sum, cost_sum)
    seq = bindparam("seq", type_=Integer)
    row = campaign_update(campaign_id, seq, counted, accepted_count > 0).where(after_usage)
    row = row.values({Campaign.updated_at: now})  # a WITH's UPDATE gets no onupdate value
    campaign = row.returning(Campaign.id).cte("campaign")
    pending = select(PendingStatus.id).where(
        PendingStatus.team_id == team_id, PendingStatus.smsc_id == func.any(_array("smsc", Text))
    )
    return select(
        select(func.array_agg(written.c.id)).scalar_subquery(),
        select(func.count()).select_from(campaign).scalar_subquery(),
        pending.exists(),
    )


def _written(now: Any) -> Any:
    """The messages still ``sending`` of the arrays' ids take their result."""
    table = Message.__table__
    v = (
        func.unnest(
            _array("ids", BigInteger), _array("smsc", Text), _array("parts", Integer),
            _array("costs", Numeric), _array("estimated", Boolean),
        )
        .table_valued("id", "smsc", "parts", "cost", "estimated")
        .render_derived(name="v")
    )  # fmt: skip
    written = (
        update(table)
        .where(table.c.id == v.c.id, func.coalesce(table.c.state, "") == M.SENDING)
        .values(
            state=M.ACCEPTED,
            gateway_status=M.ACCEPTED,
            smsc_id=v.c.smsc,
            parts=v.c.parts,
            cost=v.c.cost,
            cost_estimated=v.c.estimated,
            sent_at=now,
            updated_at=now,
            next_check_at=bindparam("check_at", type_=UTCDateTime),
        )
        .returning(table.c.id, v.c.parts, v.c.cost, v.c.estimated)
        .cte("written")
    )
    return written


def _array(name: str, item: Any) -> Any:
    return cast(bindparam(name, type_=ARRAY(item)), ARRAY(item))
