"""Pages of statuses applied as the queue drain pops them (webapp/domain/statuses.py): in the
drain's own session, one page at a time, on SQLite (whose writes take turns at one lock) and,
unless the setting ``STATUS_APPLIERS`` asks for more, on PostgreSQL. With more, that many
threads apply pages side by side on PostgreSQL, each in a session (a connection) of its own:
a page's time there is the server's (some 15 ms of its CPU for a thousand statuses: a row and
five index entries written per status), so a server with cores to spare applies a flood of
statuses faster. Where the server shares the web's cores, two applying sessions took the CPU
the pages people look at need (their p95 past 50 ms on two cores): hence one by default.

Two pages applied at once may name the same message (its ``enroute`` in one, ``delivered`` in
the next): each statement moves a message only forward and counts only what it moved
(webapp/domain/status_moves.py), so the order in which they land changes nothing. They take
their locks in one order (the team row, messages by smsc_id, usage rows, campaigns by id).
SQL promises no order to an UPDATE's rows, though, and two sessions may plan one statement
differently: a page the server turned away as deadlocked is rolled back and applied again
(``RETRIES`` times; it moves only what is still to move).

On PostgreSQL each transaction commits without waiting for its flush to disk (``SET LOCAL
synchronous_commit``: that transaction alone). A page so committed and lost in a database
crash is a page popped and not applied, which the poll recovers like a lost reply
(status.json), and its counters go with it (one transaction); the flush cost a tenth of the
drain's time. Send results, which nothing could recover, keep the flush.

Measured with ``python benchmarks/status.py --messages 1000000 --database-url sqlite
--database-url postgresql+psycopg://...`` on two shared cores (README, Benchmarks).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, scoped_session

from webapp import iqsms

RETRIES = 3  # more tries of a page the server turned away as deadlocked
# SQLSTATEs of a transaction the server ended to break a deadlock or a serialisation conflict.
TRY_AGAIN = {"40P01", "40001"}
log = logging.getLogger(__name__)
R = TypeVar("R")
Page = Sequence[iqsms.MessageStatus]


def appliers_for(dialect: str, wanted: int) -> int:
    """How many pages of one team's queue are applied at once on this database, ``wanted``
    of them (the setting ``STATUS_APPLIERS``) on PostgreSQL."""
    return max(1, wanted) if dialect == "postgresql" else 1


class Appliers:
    """Apply each page given to :meth:`apply` with ``apply_page(session, page)``, which
    commits, and hand each result to ``done`` in the caller's thread, as pages finish. With
    one applier the page is applied at once in ``session``; with more, :meth:`apply` waits
    only while that many pages are being applied. Leaving the ``with`` block waits for every
    page given (a stopping worker still applies the pages it popped), and raises the first
    error of any."""

    def __init__(
        self,
        session: Session | scoped_session,
        apply_page: Callable[[Session, Page], R],
        done: Callable[[R], None],
        wanted: int = 1,
    ) -> None:
        self.session, self.apply_page, self.done = session, apply_page, done
        self.bind = session.get_bind()
        self.count = appliers_for(self.bind.dialect.name, wanted)
        self.pool = (
            ThreadPoolExecutor(self.count, thread_name_prefix="status-apply")
            if self.count > 1
            else None
        )
        self.running: deque[Future] = deque()
        self.local = threading.local()
        self.sessions: list[Session] = []
        self.lock = threading.Lock()

    def __enter__(self) -> Appliers:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            while self.running:
                future = self.running.popleft()
                if exc[0] is None:
                    self.done(future.result())
                else:
                    future.exception()  # waited for; the error already on its way wins
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True)
            for own in self.sessions:
                own.close()

    def apply(self, page: Page) -> None:
        if self.pool is None:
            with without_waiting_for_the_disk(self.session):
                self.done(self._tries(self.session, page))
            return
        while len(self.running) >= self.count:
            self.done(self.running.popleft().result())
        self.running.append(self.pool.submit(self._in_thread, page))

    def _in_thread(self, page: Page) -> Any:
        own = getattr(self.local, "session", None)
        if own is None:
            own = self.local.session = Session(bind=self.bind)
            with self.lock:
                self.sessions.append(own)
        with without_waiting_for_the_disk(own):
            return self._tries(own, page)

    def _tries(self, session: Session | scoped_session, page: Page) -> Any:
        tried = 0
        while True:
            try:
                return self.apply_page(session, page)
            except OperationalError as exc:
                session.rollback()
                tried += 1
                if getattr(exc.orig, "sqlstate", None) not in TRY_AGAIN or tried > RETRIES:
                    raise
                log.info("a page of statuses applied again: %s", exc.orig)


@contextmanager
def without_waiting_for_the_disk(session: Session | scoped_session) -> Iterator[None]:
    """On PostgreSQL, each transaction ``session`` begins meanwhile commits without waiting
    for its flush to disk (see above); elsewhere nothing changes."""
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    own = session() if isinstance(session, scoped_session) else session  # this thread's

    def asynchronous(_session: Session, _transaction: Any, connection: Any) -> None:
        connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")

    event.listen(own, "after_begin", asynchronous)
    try:
        yield
    finally:
        event.remove(own, "after_begin", asynchronous)
