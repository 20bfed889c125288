"""A page of statuses moving a team's messages forward: one path per database, selected in
:func:`move_messages`, each answering with the messages it really moved.

Counters and usage are moved from that answer, never from what was read before the write: two
callers applying the same statuses at once (two workers' pending sweeps, a sweep and a send
result) count each move once, on either database.

- SQLite (:func:`_move_sqlite`): the page's messages read, then one ``UPDATE ... FROM (VALUES
  ...)`` guarded by each row's old state, returning the ids it moved (SQLite's RETURNING cannot
  name the FROM list). SQLite ignores FOR UPDATE, so another writer may move a message between
  the read and the write: those the guard held back are read and moved again, once, under the
  write lock that the first UPDATE took.
- PostgreSQL (:func:`_move_postgresql`): one statement and one round trip for the page: its
  statuses passed as two binary arrays, its messages read, moved by their row's address
  (ctid) and counted by campaign and old and new state, with the smsc_ids no message has. A
  message another transaction moved meanwhile is turned away by that statement and moved by
  a second one that locks first (FOR UPDATE): locking every row cost a write per row.
  Reading first and writing second, with a thousand parameters each, cost the worker about
  seven times the CPU per page and the database a quarter more; a COPY into a temporary table
  costs the worker more than the arrays do (benchmarks/status.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp import bulk, iqsms
from webapp.domain import usage
from webapp.models import DELIVERY_OUTCOMES, Message, MessageState

S = MessageState
# Our states that take statuses, by rank; an expired message still takes a final status. A
# status only ever moves a message to a higher rank.
RANK: dict[str, int] = {S.ACCEPTED: 0, S.ENROUTE: 1, S.EXPIRED: 2, S.DELIVERED: 3, S.FAILED: 3}
FINAL_SQL = ", ".join(f"'{state}'" for state in DELIVERY_OUTCOMES)  # for raw SQL

# What a gateway status means for our state, and how far along that is (RANK).
TARGET: dict[str, tuple[str, int]] = {
    iqsms.Status.QUEUED: (S.ACCEPTED, 0),
    iqsms.Status.SMSC_SUBMIT: (S.ENROUTE, 1),
    iqsms.Status.DELIVERED: (S.DELIVERED, 3),
    iqsms.Status.DELIVERY_ERROR: (S.FAILED, 3),
    iqsms.Status.SMSC_REJECT: (S.FAILED, 3),
    iqsms.Status.INCORRECT_ID: (S.FAILED, 3),
}

# smsc_id -> the gateway's status for it (one of TARGET's)
Wanted = Mapping[str, str]


class Moved(NamedTuple):
    """``count`` messages moved alike: their campaign, their state before and after, and when
    they were sent (as the driver gives it: see usage.raw_sent_at; a batch shares one time)."""

    campaign_id: int
    old: str
    state: str
    sent_at: Any
    count: int


def move_messages(
    session: Session, team_id: int, wanted: Wanted, now: datetime
) -> tuple[list[Moved], list[str]]:
    """Move the team's messages named by ``wanted`` forward, never backwards: the messages
    moved (counted by campaign, old and new state, and time sent), and the smsc_ids no message
    of the team has (yet). The caller commits."""
    if session.get_bind().dialect.name == "postgresql":
        return _move_postgresql(session, team_id, wanted, now)
    return _move_sqlite(session, team_id, wanted, now)


def _move_sqlite(
    session: Session, team_id: int, wanted: Wanted, now: datetime
) -> tuple[list[Moved], list[str]]:
    moved: Counter[tuple[int, str, str, Any]] = Counter()
    found: set[str] = set()
    todo = list(wanted)
    for _ in range(2):  # the second pass, if any, holds the write lock: nothing moves under it
        rows = session.execute(
            select(
                Message.id, Message.campaign_id, Message.state, Message.smsc_id, usage.raw_sent_at()
            ).where(Message.team_id == team_id, Message.smsc_id.in_(todo))
        ).all()
        found.update(row.smsc_id for row in rows)
        moves: dict[int, tuple[Any, str, str]] = {}
        for row in rows:
            gateway = wanted[row.smsc_id]
            state, rank = TARGET[gateway]
            current = RANK.get(row.state)
            if current is not None and rank > current:
                moves[row.id] = (row, state, gateway)
        if not moves:
            break
        changed = _update_sqlite(session, moves, now)
        todo = []
        for message_id, (row, state, _gateway) in moves.items():
            if message_id in changed:
                moved[row.campaign_id, row.state, state, row.sent_at] += 1
            else:
                todo.append(row.smsc_id)
        if not todo:
            break
    missing = [smsc_id for smsc_id in wanted if smsc_id not in found]
    return [Moved(*key, count) for key, count in moved.items()], missing


def _update_sqlite(
    session: Session, moves: dict[int, tuple[Any, str, str]], now: datetime
) -> set[int]:
    """One UPDATE for the whole page, joined to its new states; ``old`` guards each row. The ids
    it moved."""
    parameters: list[object] = []
    for message_id, (row, state, gateway) in moves.items():
        parameters += (message_id, row.state, state, gateway)
    at = bulk.db_time(session, now)
    parameters += (at, at, at)
    changed = bulk.fetch_positional(
        session,
        f"WITH v(id, old, state, status) AS (VALUES {', '.join(['(?, ?, ?, ?)'] * len(moves))}) "
        "UPDATE messages SET state = v.state, gateway_status = v.status,"
        f" enroute_at = CASE WHEN v.state = '{S.ENROUTE}' THEN ? ELSE messages.enroute_at END,"
        f" final_at = CASE WHEN v.state IN ({FINAL_SQL}) THEN ? ELSE messages.final_at END,"
        " updated_at = ?"
        " FROM v WHERE messages.id = CAST(v.id AS BIGINT) AND messages.state = v.old"
        " RETURNING messages.id",
        parameters,
    )
    return {row[0] for row in changed}


def _case(column: str, values: Mapping[str, str | int]) -> str:
    """SQL for ``values[column]`` (NULL for a value not in it): our own constants only."""
    whens = " ".join(
        f"WHEN '{key}' THEN " + (str(value) if isinstance(value, int) else f"'{value}'")
        for key, value in values.items()
    )
    return f"CASE {column} {whens} END"


_PAGE = (
    # psycopg's own placeholders (run as they are, not through bulk's ``:name``): ``%(name)b``
    # sends the page's two arrays in binary, a third of the client's time of text arrays (or
    # of one JSON parameter, which the server then parses more slowly); each status's new
    # state and rank are worked out by the server, from TARGET (two arrays fewer).
    "WITH page (smsc_id, status) AS (SELECT * FROM unnest("
    "CAST(%(smsc_ids)b AS text[]), CAST(%(statuses)b AS text[]))),"
    " target AS (SELECT smsc_id, status,"
    f" {_case('status', {status: state for status, (state, _rank) in TARGET.items()})} AS state,"
    f" {_case('status', {status: rank for status, (_state, rank) in TARGET.items()})} AS rank"
    " FROM page),"
)
_FOUND = (
    " found AS MATERIALIZED (SELECT messages.ctid AS row, messages.id, messages.smsc_id,"
    " messages.state AS old, target.state, target.rank, target.status"
    " FROM target JOIN messages ON messages.smsc_id = target.smsc_id"
    " WHERE messages.team_id = %(team_id)s ORDER BY messages.smsc_id{lock}),"
)
_MOVED = (
    " moved AS (UPDATE messages SET state = found.state, gateway_status = found.status,"
    f" enroute_at = CASE WHEN found.state = '{S.ENROUTE}' THEN %(now)s"
    " ELSE messages.enroute_at END,"
    f" final_at = CASE WHEN found.state IN ({FINAL_SQL}) THEN %(now)s ELSE messages.final_at END,"
    " updated_at = %(now)s"
    f" FROM found WHERE {{join}} AND found.rank > {_case('found.old', RANK)}"
    " RETURNING messages.id, messages.campaign_id, found.old, messages.state, messages.sent_at)"
    # Counted by campaign, old and new state; then the smsc_ids no message has (their
    # statuses wait: pending statuses), and the messages to move that did not (see below).
    " SELECT campaign_id, old, state, sent_at, count(*) FROM moved"
    " GROUP BY campaign_id, old, state, sent_at"
    " UNION ALL SELECT NULL, target.smsc_id, 'missing', NULL, 0 FROM target"
    " WHERE NOT EXISTS (SELECT FROM found WHERE found.smsc_id = target.smsc_id)"
    " UNION ALL SELECT NULL, found.smsc_id, 'again', NULL, 0 FROM found"
    f" WHERE found.rank > {_case('found.old', RANK)}"
    " AND NOT EXISTS (SELECT FROM moved WHERE moved.id = found.id)"
)
# The page as one statement and one round trip: its messages read (as of the statement's
# snapshot), moved by their row's address (ctid: no second index search), counted. A message
# another transaction moved after that snapshot is turned away, not moved twice: the UPDATE
# waits for that transaction, then checks its condition against the row as it is now, whose
# address is a new one. Those come back "again" and are moved by POSTGRESQL_LOCKED_MOVE.
POSTGRESQL_MOVE = _PAGE + _FOUND.format(lock="") + _MOVED.format(join="messages.ctid = found.row")
# The same, its messages locked first (FOR UPDATE; the page in smsc_id order, so that two
# workers lock in the same order) and read as they are once locked, then moved by id: the
# row's address as of the snapshot is an old one, and the UPDATE follows it to the row now,
# which this statement holds locked. Locking costs a write per row, so it is kept for the
# few the first statement turned away.
POSTGRESQL_LOCKED_MOVE = (
    _PAGE
    + _FOUND.format(lock=" FOR UPDATE OF messages")
    + _MOVED.format(join="messages.id = found.id")
)


def _move_postgresql(
    session: Session, team_id: int, wanted: Wanted, now: datetime
) -> tuple[list[Moved], list[str]]:
    moved: list[Moved] = []
    missing: list[str] = []
    todo = sorted(wanted)  # the order in which the locked statement locks
    for statement in (POSTGRESQL_MOVE, POSTGRESQL_LOCKED_MOVE):
        if not todo:
            break
        parameters = {
            "smsc_ids": todo,
            "statuses": [wanted[smsc_id] for smsc_id in todo],
            "team_id": team_id,
            "now": now,
        }
        rows = session.connection().exec_driver_sql(statement, parameters).fetchall()
        moved += [Moved(*row) for row in rows if row[0] is not None]
        missing += [row[1] for row in rows if row[2] == "missing"]
        todo = [row[1] for row in rows if row[2] == "again"]
    return moved, missing
