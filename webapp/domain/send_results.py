"""A send.json reply written down: each message's send-time result in one statement per kind,
and what the messages that took it add to the team's usage and the campaign's counters.

Only messages still ``sending`` take their result (``state = 'sending'`` guards each row,
``RETURNING`` says which it changed): a reply that lands after the stale-claim tick settled its
claim ``unknown`` (a frozen worker) changes no message, so it moves no counter either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from webapp import bulk, iqsms
from webapp.domain import usage
from webapp.iqsms.parts import count_parts
from webapp.models import Campaign, MessageState

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
    return {
        Campaign.sending: Campaign.sending - (sent.accepted + sent.rejected),
        Campaign.accepted: Campaign.accepted + sent.accepted,
        Campaign.rejected: Campaign.rejected + sent.rejected,
        Campaign.parts: Campaign.parts + sent.parts,
        Campaign.cost: Campaign.cost + sent.cost,
    }
