"""The sender-name tick: every team's names synced from the gateway's senders.json hourly, and
a team that has no names yet (new, or just moved to another gateway) within seconds, so that its
composer offers them without anyone asking. Pages never call the gateway (a GET never writes).

When each team is next due lives in its row (``senders_next_at``), not in a worker's memory:
however many ``flask worker`` processes run, the one that claims the team's sync (the guarded
UPDATE balance snapshots use too, :func:`webapp.domain.leases.claim_team`) calls senders.json,
and the others see it taken. A worker that starts (or restarts) syncs only the teams due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import wait as wait_for
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from webapp import iqsms
from webapp.domain import gateways, leases, senders
from webapp.domain.gateway_calls import release_connection
from webapp.extensions import db
from webapp.jobs.statuses import team_threads
from webapp.jobs.team_pool import Slot, in_app, pool_for
from webapp.models import Team, utcnow

log = logging.getLogger(__name__)

# Every team's names are synced this often; a team whose gateway gave none (or failed) is asked
# again after FIRST_RETRY, the wait doubling each time it still has none, up to EVERY.
EVERY = timedelta(hours=1)
FIRST_RETRY = timedelta(seconds=10)
# A claimed sync that has not ended by then (its worker died mid-call) is due again.
CLAIM_TTL = timedelta(minutes=2)


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(Team.senders_next_at.is_(None), Team.senders_next_at <= now)


def due_team_ids(session: Session, now: datetime) -> list[int]:
    """Teams whose sync is due: never synced (a new team: NULL), or its time has come."""
    return list(session.scalars(select(Team.id).where(_due(now)).order_by(Team.id)))


def claim(session: Session, team_id: int, now: datetime) -> bool:
    """Take the team's due sync for this worker (committed), or False if another worker took
    it first or it is no longer due."""
    return leases.claim_team(session, team_id, _due(now), senders_next_at=now + CLAIM_TTL)


def plan_next(team: Team, now: datetime, *, found_names: bool) -> None:
    """When the team's names are next synced: in EVERY after names came; while its gateway has
    none to give or fails, after FIRST_RETRY, twice as long each time, up to EVERY. The caller
    commits."""
    if found_names:
        team.senders_failures = 0
        team.senders_next_at = now + EVERY
        return
    team.senders_failures = (team.senders_failures or 0) + 1
    team.senders_next_at = now + leases.backoff(FIRST_RETRY, team.senders_failures, EVERY)


def sync_due_teams(
    session: Session,
    clock: Callable[[], datetime],
    client_for: Callable[[Team], iqsms.Client],
) -> dict[int, str]:
    """Sync every due team's sender names, team by team, committing each. A team whose gateway
    fails (wrong password, gateway down) is logged and retried later with a back-off: it does
    not stop the others. Returns the failures, {team id: reason}."""
    failures: dict[int, str] = {}
    for team_id in due_team_ids(session, clock()):
        failure = sync_team(session, team_id, clock, client_for)
        if failure is not None:
            failures[team_id] = failure
    return failures


def sync_team(
    session: Session,
    team_id: int,
    clock: Callable[[], datetime],
    client_for: Callable[[Team], iqsms.Client],
) -> str | None:
    """Claim and do one team's due sync; the failure in words, or None (also when another
    worker has it, or it is no longer due)."""
    now = clock()
    if not claim(session, team_id, now):
        return None
    team = session.get(Team, team_id)
    if team is None:  # deleted meanwhile
        return None
    release_connection(session)  # no transaction open while senders.json answers
    try:
        with client_for(team) as client:
            result = senders.sync(session, team, client)
    except Exception as exc:
        session.rollback()
        failure = str(exc) or type(exc).__name__
        log.warning("sender names of team %s not synced: %s", team_id, failure)
        team = session.get(Team, team_id)
        if team is not None:
            plan_next(team, clock(), found_names=False)
            session.commit()
        return failure
    plan_next(team, clock(), found_names=result.total > 0)
    session.commit()
    return None


# Seconds the tick waits for the teams it started, within its 5 s interval; a team still waiting
# on its gateway then goes on alone, and the next tick serves the others.
WAIT = 4.0


def run(app: Flask, *, wait: float = WAIT, clock: Callable[[], datetime] = utcnow) -> None:
    """Sync the sender names of the teams due (every team hourly; a team without names soon),
    each team in a thread of its own (``TEAM_THREADS``, one slot per team), so that one slow
    gateway delays no other team's names."""
    pool = pool_for(app, "senders", team_threads(app))
    with app.app_context():
        try:
            team_ids = due_team_ids(db.session, clock())
        finally:
            db.session.remove()
    started = pool.fill(team_ids, lambda team_id: _sync(app, team_id, clock))
    if wait and started:
        wait_for(started, timeout=wait)


def _sync(app: Flask, team_id: int, clock: Callable[[], datetime]) -> Callable[[Slot], None]:
    def work(slot: Slot) -> None:
        sync_team(db.session, team_id, clock, gateways.client_factory(app.config))

    return in_app(app, f"sender names of team {team_id}", work)
