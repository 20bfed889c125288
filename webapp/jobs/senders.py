"""The hourly sender-name tick: every team's names synced from the gateway's senders.json."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import wait as wait_for

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp import iqsms
from webapp.domain import gateways, senders
from webapp.extensions import db
from webapp.jobs.statuses import team_threads
from webapp.jobs.team_pool import Slot, in_app, pool_for
from webapp.models import Team

log = logging.getLogger(__name__)


def sync_all(session: Session, client_for: Callable[[Team], iqsms.Client]) -> dict[int, str]:
    """Sync every team's sender names, committing team by team.

    A team whose gateway fails (wrong password, gateway down) is logged and skipped: it does
    not stop the others. Returns the failures, {team id: reason}.
    """
    failures: dict[int, str] = {}
    for team_id in session.scalars(select(Team.id).order_by(Team.id)).all():
        failure = sync_team(session, team_id, client_for)
        if failure is not None:
            failures[team_id] = failure
    return failures


def sync_team(
    session: Session, team_id: int, client_for: Callable[[Team], iqsms.Client]
) -> str | None:
    """Sync one team's sender names; the failure in words, or None."""
    team = session.get(Team, team_id)
    if team is None:  # deleted meanwhile
        return None
    try:
        with client_for(team) as client:
            senders.sync(session, team, client)
        session.commit()
    except Exception as exc:
        session.rollback()
        failure = str(exc) or type(exc).__name__
        log.warning("sender names of team %s not synced: %s", team_id, failure)
        return failure
    return None


# Seconds the hourly tick waits for the teams it started; a team still waiting on its gateway
# then goes on alone.
WAIT = 60.0


def run(app: Flask, *, wait: float = WAIT) -> None:
    """Sync every team's sender names, each team in a thread of its own (``TEAM_THREADS``,
    one slot per team), so that one slow gateway delays no other team's names."""
    pool = pool_for(app, "senders", team_threads(app))
    with app.app_context():
        try:
            team_ids = db.session.scalars(select(Team.id).order_by(Team.id)).all()
        finally:
            db.session.remove()
    started = pool.fill(team_ids, lambda team_id: _sync(app, team_id))
    if wait and started:
        wait_for(started, timeout=wait)


def _sync(app: Flask, team_id: int) -> Callable[[Slot], None]:
    def work(slot: Slot) -> None:
        sync_team(db.session, team_id, gateways.client_factory(app.config))

    return in_app(app, f"sender names of team {team_id}", work)
