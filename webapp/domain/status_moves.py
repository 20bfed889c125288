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
  statuses passed as four binary arrays, its messages locked (FOR UPDATE, in smsc_id order),
  moved, and counted by campaign and old and new state, with the smsc_ids no message has.
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

from webapp import bulk
from webapp.domain import usage
from webapp.models import DELIVERY_OUTCOMES, Message, MessageState

S = MessageState
# Our states that take statuses, by rank; an expired message still takes a final status. A
# status only ever moves a message to a higher rank.
RANK: dict[str, int] = {S.ACCEPTED: 0, S.ENROUTE: 1, S.EXPIRED: 2, S.DELIVERED: 3, S.FAILED: 3}
FINAL_SQL = ", ".join(f"'{state}'" for state in DELIVERY_OUTCOMES)  # for raw SQL

# smsc_id -> (our new state, its rank, the gateway's status)
Wanted = Mapping[str, tuple[str, int, str]]


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
            state, rank, gateway = wanted[row.smsc_id]
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


def _rank_of(column: str) -> str:
    """SQL for RANK of ``column`` (NULL for a state that takes no status)."""
    whens = " ".join(f"WHEN '{state}' THEN {rank}" for state, rank in RANK.items())
    return f"CASE {column} {whens} END"


# psycopg's own placeholders (run as it is, not through bulk's ``:name``): ``%(name)b`` sends
# the page's four arrays in binary, a third of the client's time of text arrays (or of one
# JSON parameter, which the server then parses more slowly).
POSTGRESQL_MOVE = (
    "WITH page (smsc_id, state, rank, status) AS (SELECT * FROM unnest("
    "CAST(%(smsc_ids)b AS text[]), CAST(%(states)b AS text[]), CAST(%(ranks)b AS int[]),"
    " CAST(%(statuses)b AS text[]))),"
    " found AS (SELECT messages.id, messages.smsc_id, messages.state AS old,"
    " page.state, page.rank, page.status"
    " FROM page JOIN messages ON messages.smsc_id = page.smsc_id"
    " WHERE messages.team_id = %(team_id)s FOR UPDATE OF messages),"
    " moved AS (UPDATE messages SET state = found.state, gateway_status = found.status,"
    f" enroute_at = CASE WHEN found.state = '{S.ENROUTE}' THEN %(now)s"
    " ELSE messages.enroute_at END,"
    f" final_at = CASE WHEN found.state IN ({FINAL_SQL}) THEN %(now)s ELSE messages.final_at END,"
    " updated_at = %(now)s"
    # No guard on messages.state: it would be checked against the statement's snapshot, and
    # turn away the rows another worker moved while this one waited for their locks; found
    # holds those locks, and read the rows as they are now.
    f" FROM found WHERE messages.id = found.id AND found.rank > {_rank_of('found.old')}"
    " RETURNING messages.campaign_id, found.old, messages.state, messages.sent_at)"
    " SELECT campaign_id, old, state, sent_at, count(*) FROM moved"
    " GROUP BY campaign_id, old, state, sent_at"
    # The smsc_ids no message has: their statuses wait (pending statuses).
    " UNION ALL SELECT NULL, page.smsc_id, NULL, NULL, 0 FROM page"
    " WHERE NOT EXISTS (SELECT FROM found WHERE found.smsc_id = page.smsc_id)"
)


def _move_postgresql(
    session: Session, team_id: int, wanted: Wanted, now: datetime
) -> tuple[list[Moved], list[str]]:
    # In smsc_id order, so that two workers lock a page's messages in the same order.
    smsc_ids = sorted(wanted)
    targets = [wanted[smsc_id] for smsc_id in smsc_ids]
    parameters = {
        "smsc_ids": smsc_ids,
        "states": [state for state, _rank, _gateway in targets],
        "ranks": [rank for _state, rank, _gateway in targets],
        "statuses": [gateway for _state, _rank, gateway in targets],
        "team_id": team_id,
        "now": now,
    }
    rows = session.connection().exec_driver_sql(POSTGRESQL_MOVE, parameters).fetchall()
    moved = [Moved(*row) for row in rows if row[0] is not None]
    missing = [row[1] for row in rows if row[0] is None]
    return moved, missing
