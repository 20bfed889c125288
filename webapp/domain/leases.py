"""Named leases: work that must not run twice at once (draining one team's status queue) is
done by whichever worker holds its lease, until that worker releases it or the lease expires.
Also claims of a team's due work on its row, and :func:`backoff`, when failed work is next due."""

from __future__ import annotations

import os
import secrets
import threading
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, update
from sqlalchemy.orm import Session

from webapp import bulk
from webapp.models import Lease, Team

LEASE_TTL = timedelta(seconds=60)


def holder_name() -> str:
    """A name for this worker thread, unique across hosts and restarts."""
    return f"{os.uname().nodename}:{os.getpid()}:{threading.get_ident()}:{secrets.token_hex(4)}"


def acquire_lease(session: Session, name: str, holder: str, now: datetime) -> bool:
    """Take the named lease unless another holder has it and it has not expired; commits."""
    expires = now + LEASE_TTL
    taken = session.execute(
        update(Lease.__table__)
        .where(Lease.name == name, (Lease.expires_at <= now) | (Lease.holder == holder))
        .values(holder=holder, expires_at=expires)
    ).rowcount
    if not taken:
        taken = bulk.execute(
            session,
            "INSERT INTO leases (name, holder, expires_at) VALUES (:name, :holder, :expires)"
            " ON CONFLICT (name) DO NOTHING",
            {"name": name, "holder": holder, "expires": bulk.db_time(session, expires)},
        )
    session.commit()
    return bool(taken)


def release_lease(session: Session, name: str, holder: str, now: datetime) -> None:
    session.execute(
        update(Lease.__table__)
        .where(Lease.name == name, Lease.holder == holder)
        .values(expires_at=now)
    )
    session.commit()


# -- claims on a team's row -------------------------------------------------------------------


def claim_team(session: Session, team_id: int, due: ColumnElement[bool], **values: object) -> bool:
    """Take a team's due work for this worker (committed): one guarded UPDATE of its row sets
    ``values`` (a due time later than now, so that every other worker sees it taken) only
    while ``due`` still holds. False when another worker took it first or it is no longer due.
    Work due once per interval, whatever the number of workers, is claimed this way: balance
    snapshots (webapp/domain/balance.py), the sender sync (webapp/jobs/senders.py)."""
    result = session.execute(update(Team.__table__).where(Team.id == team_id, due).values(**values))
    session.commit()
    return bool(result.rowcount)


# -- when failed work is tried again ----------------------------------------------------------


def backoff(first: timedelta, failures: int, cap: timedelta) -> timedelta:
    """The wait before the next try after ``failures`` failures in a row: ``first`` after one,
    twice as long after each more, never longer than ``cap``, however many (no overflow).
    One rule for balance readings, sender-name syncs and notification mail. ``first`` > 0."""
    # Past this many doublings the wait is past the cap already: doubling further only risks
    # a timedelta too large to exist (about 2**46 seconds).
    enough = (cap // first).bit_length()
    return min(first * 2 ** min(max(failures - 1, 0), enough), cap)
