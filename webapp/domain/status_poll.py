"""The status poll: status.json about messages still on their way whose status never came
through the queue (a queue reply lost in transit loses its statuses), oldest check first; and
expiry. See :mod:`webapp.domain.statuses` for how statuses are applied.

The tick's shared part (:func:`due_by_team`: expiry, the pending sweep, which messages are due)
runs once; each team's calls (:func:`poll_team`) run under the team's status lease, side by
side in the worker (webapp/jobs/statuses.py), so one slow gateway delays only its own team.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from webapp import bulk, iqsms
from webapp.domain import gateway_health
from webapp.domain.gateway_calls import release_connection
from webapp.domain.leases import acquire_lease, holder_name, release_lease
from webapp.domain.statuses import (
    MAX_CHECK_WAIT,
    POLL_BATCH,
    Checks,
    ClientFactory,
    Clock,
    apply_statuses,
    expire_messages,
    status_lease_name,
    sweep_pending,
)
from webapp.models import LIVE_STATES_SQL, Message, Team, utcnow

log = logging.getLogger(__name__)


@dataclass
class PollReport:
    checked: int = 0
    applied: int = 0
    expired: int = 0
    swept: int = 0


def poll_statuses(
    session: Session,
    clock: Clock = utcnow,
    *,
    client_factory: ClientFactory,
    checks: Checks,
    limit: int = 2000,
) -> PollReport:
    """One tick: expire what waited too long, apply statuses that waited for their messages,
    and check due messages with status.json, a team after another."""
    report = PollReport()
    for team_id, rows in due_by_team(session, clock(), checks, report, limit).items():
        poll_team(session, team_id, rows, clock, client_factory, checks, report)
    return report


def due_by_team(
    session: Session, now: datetime, checks: Checks, report: PollReport, limit: int = 2000
) -> dict[int, list]:
    """Expire and sweep (counted in ``report``), then the messages due a check, oldest first,
    by team. Commits."""
    report.expired += expire_messages(session, now, checks.expire)
    report.swept += sweep_pending(session, now, checks.expire)
    due = session.execute(
        select(Message.id, Message.team_id, Message.smsc_id, Message.checks)
        .where(text(LIVE_STATES_SQL), Message.next_check_at <= now)  # its partial index
        .order_by(Message.next_check_at)
        .limit(limit)
    ).all()
    session.commit()
    by_team: dict[int, list] = defaultdict(list)
    for row in due:
        by_team[row.team_id].append(row)
    return dict(by_team)


def poll_team(
    session: Session,
    team_id: int,
    rows: Sequence,
    clock: Clock,
    client_factory: ClientFactory,
    checks: Checks,
    report: PollReport,
) -> None:
    """Ask status.json about the team's due messages ``rows``, under the team's status lease
    (when it is being drained right now, they stay due for the next tick); each reply is
    waited for with no transaction open."""
    lease, holder = status_lease_name(team_id), holder_name()
    if not acquire_lease(session, lease, holder, clock()):
        return
    try:
        team = session.get(Team, team_id)
        release_connection(session)  # no transaction open while status.json answers
        with client_factory(team) as client:
            for batch in iqsms.batches(rows, POLL_BATCH):
                try:
                    replies = client.status([(r.smsc_id, str(r.id)) for r in batch])
                except iqsms.IqsmsError as exc:
                    log.warning("status poll of team %s: %s", team_id, exc)
                    gateway_health.note(session, team_id, exc, clock())
                    session.commit()
                    break
                now = clock()
                gateway_health.note(session, team_id, None, now)  # first: see gateway_health
                applied = apply_statuses(session, team_id, replies, now)
                _schedule_next_checks(session, batch, now, checks.first)
                session.commit()
                report.checked += len(batch)
                report.applied += applied.applied
    finally:
        release_lease(session, lease, holder, clock())


def _schedule_next_checks(
    session: Session, rows: Sequence, now: datetime, check_after: timedelta
) -> None:
    """Each checked message waits twice as long before its next check (at most 6 hours)."""
    bulk.executemany(
        session,
        "UPDATE messages SET next_check_at = :at, checks = :checks WHERE id = :id",
        [
            {
                "id": row.id,
                "checks": row.checks + 1,
                "at": bulk.db_time(
                    session, now + min(check_after * 2 ** (row.checks + 1), MAX_CHECK_WAIT)
                ),
            }
            for row in rows
        ],
    )
