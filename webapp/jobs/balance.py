"""The balance tick: snapshots of every team's balance.json, when due (webapp/domain/balance.py),
every ``BALANCE_INTERVAL`` seconds (webapp/config.py).

The worker reads each team's balance in its pool for the tick (``TEAM_THREADS`` threads, one
slot per team: webapp/jobs/team_pool.py), so a team whose gateway hangs delays no other
team's reading; the claim on the team row keeps other workers off a reading under way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import wait as wait_for
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy.orm import Session

from webapp import iqsms
from webapp.domain import balance, gateways
from webapp.domain.gateway_calls import release_connection
from webapp.extensions import db
from webapp.jobs.statuses import team_threads
from webapp.jobs.team_pool import Slot, in_app, pool_for
from webapp.models import Team, utcnow

log = logging.getLogger(__name__)


def snapshot_due_teams(
    session: Session,
    clock: Callable[[], datetime],
    client_for: Callable[[Team], iqsms.Client],
    interval: timedelta,
) -> dict[int, str]:
    """Take every due team's snapshot, team by team. A gateway failure is logged and retried
    later with a back-off; it does not stop the other teams. Returns {team id: failure}."""
    failures: dict[int, str] = {}
    for team_id in balance.due_team_ids(session, clock()):
        failure = snapshot_team(session, team_id, clock, client_for, interval)
        if failure is not None:
            failures[team_id] = failure
    return failures


def snapshot_team(
    session: Session,
    team_id: int,
    clock: Callable[[], datetime],
    client_for: Callable[[Team], iqsms.Client],
    interval: timedelta,
) -> str | None:
    """Claim and take one team's due snapshot; the failure in words, or None (also when
    another worker has it or it is no longer due)."""
    now = clock()
    if not balance.claim(session, team_id, now):
        return None  # another worker has it
    team = session.get(Team, team_id)
    if team is None:
        return None
    release_connection(session)  # no transaction open while balance.json answers
    try:
        with client_for(team) as client:
            outcome = balance.take_snapshot(session, team, client, now, interval)
    except Exception as exc:  # a bug or a broken gateway setting: the next claim retries
        session.rollback()
        log.exception("balance of team %s not read", team_id)
        return str(exc) or type(exc).__name__
    if not outcome.ok:
        log.warning("balance of team %s not read: %s", team_id, outcome.message)
        return outcome.message
    return None


def configured_interval(app: Flask) -> timedelta:
    """How long a team's snapshot stays fresh: the setting ``BALANCE_INTERVAL``, in seconds."""
    return timedelta(seconds=float(app.config["BALANCE_INTERVAL"]))


# Seconds a tick waits for the readings it started, well within its interval (10 s): a reading
# still waiting on its gateway then goes on alone, and the next tick serves the other teams.
WAIT = 5.0


def run(app: Flask, *, wait: float = WAIT) -> None:
    """Read every due team's balance, each team in a thread of its own, waiting up to
    ``wait`` seconds for them."""
    pool = pool_for(app, "balance", team_threads(app))
    with app.app_context():
        try:
            due = balance.due_team_ids(db.session, utcnow())
        finally:
            db.session.remove()
    started = pool.fill(due, lambda team_id: _snapshot(app, team_id))
    if wait and started:
        wait_for(started, timeout=wait)


def _snapshot(app: Flask, team_id: int) -> Callable[[Slot], None]:
    def work(slot: Slot) -> None:
        client_factory = gateways.client_factory(app.config)
        snapshot_team(db.session, team_id, utcnow, client_factory, configured_interval(app))

    return in_app(app, f"balance of team {team_id}", work)
