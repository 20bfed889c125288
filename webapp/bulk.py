"""Bulk writes through the database driver: its own executemany, or one statement for a whole
batch of rows (``UPDATE ... FROM (VALUES ...) RETURNING``).

Used where one statement runs for thousands of rows at a time (dispatch results, statuses, CSV
imports): SQLAlchemy's per-row parameter processing would cost more than the statement itself.
Values must already be what the driver takes; :func:`db_time` converts a timestamp once per batch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from webapp.models import UTCDateTime

NAMED_PARAMETER = re.compile(r":(\w+)")


def executemany(session: Session, statement: str, rows: Sequence[dict[str, Any]]) -> int:
    """Run ``statement`` (written with ``:name`` parameters) for every row in one driver call;
    returns the number of rows it changed in all."""
    if not rows:
        return 0
    connection = session.connection()
    return connection.exec_driver_sql(_named(connection, statement), list(rows)).rowcount


def db_time(session: Session, when: datetime) -> Any:
    """``when`` as the driver takes it for a UTCDateTime column (naive UTC text on SQLite)."""
    dialect = session.get_bind().dialect
    # The dialect's own processor: on SQLite it writes microseconds always, as SQLAlchemy
    # binds them in queries. (The driver's adapter drops ".000000", and "10:00:00" sorts before
    # "10:00:00.000000": a quarter hour would fall outside a range that starts with it.)
    to_driver = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    return to_driver(when) if to_driver else when


def execute(session: Session, statement: str, parameters: dict[str, Any]) -> int:
    """Run ``statement`` (``:name`` parameters) once with ``parameters``, through the driver;
    returns the number of rows it changed."""
    connection = session.connection()
    return connection.exec_driver_sql(_named(connection, statement), parameters).rowcount


def execute_positional(session: Session, statement: str, parameters: Sequence[Any]) -> int:
    """Run ``statement`` written with ``?`` placeholders once, through the driver.

    For statements with thousands of parameters: SQLite looks named parameters up one by one
    in a list (quadratic), positional ones it does not look up at all.
    """
    return _positional(session, statement, parameters).rowcount


def fetch_positional(session: Session, statement: str, parameters: Sequence[Any]) -> list[Any]:
    """Like :func:`execute_positional`, for a statement that returns rows (``RETURNING``):
    the driver's rows, as tuples."""
    return _positional(session, statement, parameters).fetchall()


def one_of(session: Session, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """``column IN (values)`` for a batch of text values; on PostgreSQL ``= ANY(array)``: one
    parameter, so the statement is the same short one for every batch (psycopg keeps it
    parsed; an IN list of hundreds of placeholders is converted again each time)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("one_of", list(values), type_=ARRAY(String)))
    return column.in_(list(values))


def _positional(session: Session, statement: str, parameters: Sequence[Any]) -> Any:
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        statement = statement.replace("?", "%s")
    return connection.exec_driver_sql(statement, tuple(parameters))


def _named(connection: Any, statement: str) -> str:
    # sqlite3 takes :name itself; psycopg takes %(name)s.
    if connection.dialect.name == "sqlite":
        return statement
    return NAMED_PARAMETER.sub(r"%(\1)s", statement)


_COMPILED: dict[Callable[[], Any], tuple[str, dict[str, Any]]] = {}


def run_built(connection: Connection, build: Callable[[], Any], **parameters: Any) -> Any:
    """Run the statement ``build()`` makes (its variable parts named bind parameters), built
    and compiled once per process, through the driver with ``parameters``: SQLAlchemy builds,
    keys and binds a statement of a few WITH clauses in more time than PostgreSQL runs it,
    and a sending loop runs two for every batch. Array parameters go in binary (psycopg's
    ``%(name)b``). The driver's result: rows as tuples."""
    compiled = _COMPILED.get(build)
    if compiled is None:
        statement = build().compile(dialect=connection.dialect)
        sql = re.sub(r"%\((\w+)\)s(::[A-Z ]+\[\])", r"%(\1)b\2", str(statement))
        # The statement's own constants, as the driver takes them (an enum member by value).
        constants = {k: getattr(v, "value", v) for k, v in statement.params.items()}
        compiled = _COMPILED[build] = (sql, constants)
    sql, constants = compiled
    return connection.exec_driver_sql(sql, {**constants, **parameters})
