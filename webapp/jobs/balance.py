"""The balance tick: snapshots of every team's balance.json, when due (webapp/domain/balance.py),
every ``BALANCE_INTERVAL`` seconds (webapp/config.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy.orm import Session

from webapp import iqsms
from webapp.domain import balance, gateways
from webapp.extensions import db
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
        now = clock()
        if not balance.claim(session, team_id, now):
            continue  # another worker has it
        team = session.get(Team, team_id)
        if team is None:
            continue
        try:
            with client_for(team) as client:
                outcome = balance.take_snapshot(session, team, client, now, interval)
        except Exception as exc:  # a bug or a broken gateway setting: the next claim retries
            session.rollback()
            failures[team_id] = str(exc) or type(exc).__name__
            log.exception("balance of team %s not read", team_id)
            continue
        if not outcome.ok:
            failures[team_id] = outcome.message
            log.warning("balance of team %s not read: %s", team_id, outcome.message)
    return failures


def configured_interval(app: Flask) -> timedelta:
    """How long a team's snapshot stays fresh: the setting ``BALANCE_INTERVAL``, in seconds."""
    return timedelta(seconds=float(app.config["BALANCE_INTERVAL"]))


def run(app: Flask) -> None:
    snapshot_due_teams(
        db.session, utcnow, gateways.client_factory(app.config), configured_interval(app)
    )
