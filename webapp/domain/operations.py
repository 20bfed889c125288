"""What an operator asks of the running service: are workers alive, is each active team's
status queue being drained, is the service ready.

Both answers live in the ``leases`` table, so they hold across every web and worker process
and need no table of their own:

- a worker's heartbeat is a lease named ``worker:<host>:<pid>`` that it renews every few
  seconds (webapp/jobs/heartbeat.py) until ``WORKER_HEARTBEAT_STALE_SECONDS`` from now; a
  worker that died stops renewing, and its lease runs out.
- a team's status queue is drained under the lease ``statuses:<team id>``
  (webapp/domain/statuses.py, ``status_lease_name``; the status poll of its messages takes
  the same lease: webapp/domain/status_poll.py), which is released by setting its expiry to
  the moment the work ended. Its expiry is therefore when the team's statuses were last
  read, or, while it is in the future, that they are being read now.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from webapp import bulk
from webapp.domain.statuses import active_team_ids, status_lease_name
from webapp.models import Lease

HEARTBEAT_PREFIX = "worker:"
# Heartbeats of workers long gone are removed (a host that restarts daily leaves one a day).
FORGET_AFTER = timedelta(days=1)
# Bounds on what /readyz asks of PostgreSQL, however loaded it is (milliseconds).
STATEMENT_TIMEOUT_MS = 2000


def heartbeat_name() -> str:
    """This worker process's heartbeat lease: its host and process id."""
    return f"{HEARTBEAT_PREFIX}{os.uname().nodename}:{os.getpid()}"[:100]


def beat(session: Session, now: datetime, alive_for: timedelta) -> None:
    """Renew this process's heartbeat until ``now + alive_for``, and forget heartbeats that
    ran out long ago; commits."""
    name, expires = heartbeat_name(), now + alive_for
    renewed = session.execute(
        update(Lease.__table__).where(Lease.name == name).values(expires_at=expires)
    ).rowcount
    if not renewed:
        bulk.execute(
            session,
            "INSERT INTO leases (name, holder, expires_at) VALUES (:name, :name, :expires)"
            " ON CONFLICT (name) DO NOTHING",
            {"name": name, "expires": bulk.db_time(session, expires)},
        )
    session.execute(
        delete(Lease.__table__).where(
            Lease.name.startswith(HEARTBEAT_PREFIX), Lease.expires_at < now - FORGET_AFTER
        )
    )
    session.commit()


def stop_beating(session: Session, now: datetime) -> None:
    """A worker stopping on purpose: its heartbeat runs out now, not in a minute; commits."""
    session.execute(
        update(Lease.__table__).where(Lease.name == heartbeat_name()).values(expires_at=now)
    )
    session.commit()


def live_workers(session: Session, now: datetime) -> int:
    """Worker processes whose heartbeat has not run out."""
    return session.scalar(
        select(func.count())
        .select_from(Lease)
        .where(Lease.name.startswith(HEARTBEAT_PREFIX), Lease.expires_at > now)
    )


@dataclass(frozen=True)
class Drain:
    """An active team's status queue: when its last drain ended (None: not since its lease
    was made), and how long ago that was (0 while a drain runs)."""

    team_id: int
    last_drain: datetime | None
    lag_seconds: float | None


def drains(session: Session, now: datetime) -> list[Drain]:
    """Each active team's (webapp/domain/statuses.py) last status-queue drain, by team id."""
    team_ids = sorted(active_team_ids(session))
    if not team_ids:
        return []
    ended = dict(
        session.execute(
            select(Lease.name, Lease.expires_at).where(
                Lease.name.in_([status_lease_name(t) for t in team_ids])
            )
        ).all()
    )
    out = []
    for team_id in team_ids:
        expires = ended.get(status_lease_name(team_id))
        if expires is None:
            out.append(Drain(team_id, None, None))
        else:
            last = min(expires, now)
            out.append(Drain(team_id, last, (now - last).total_seconds()))
    return out


@dataclass
class Readiness:
    """Whether the service is ready, and why not: ``problems`` names each failed check
    (``database``, ``worker``); ``workers`` is None when the database could not be asked."""

    problems: list[str] = field(default_factory=list)
    workers: int | None = None

    @property
    def ready(self) -> bool:
        return not self.problems


def limit_statement_time(session: Session) -> None:
    """On PostgreSQL, end this transaction's statements after ``STATEMENT_TIMEOUT_MS``: a probe
    must answer quickly, not queue behind a locked or overloaded database."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))


def readiness(session: Session, now: datetime) -> Readiness:
    """Ready when the database answers and a worker's heartbeat is fresh: two small queries
    on the ``leases`` table. Per-team drains are reported, never a reason to be unready: one
    team's gateway that hangs must not take the service out of its load balancer."""
    report = Readiness()
    try:
        limit_statement_time(session)
        report.workers = live_workers(session, now)
    except SQLAlchemyError:
        session.rollback()
        report.problems.append("database")
        return report
    if not report.workers:
        report.problems.append("worker")
    return report
