"""The sender-name tick: every team's names synced from the gateway's senders.json hourly, and
a team that has no names yet (new, or just moved to another gateway) within seconds, so that its
composer offers them without anyone asking. Pages never call the gateway (a GET never writes)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import wait as wait_for

from flask import Flask
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from webapp import iqsms
from webapp.domain import gateways, senders
from webapp.extensions import db
from webapp.jobs.statuses import team_threads
from webapp.jobs.team_pool import Slot, in_app, pool_for
from webapp.models import SenderName, Team

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


# Seconds the tick waits for the teams it started, within its 5 s interval; a team still waiting
# on its gateway then goes on alone, and the next tick serves the others.
WAIT = 4.0
# Every team's names are synced this often; a team without names is asked again after FIRST_RETRY
# seconds, the wait doubling while its gateway has none to give (or fails), up to EVERY.
EVERY = 3600.0
FIRST_RETRY = 10.0


class Schedule:
    """When each team is next due, in this worker process (a restart syncs everyone at once,
    which is what the hourly sync does anyway)."""

    def __init__(self) -> None:
        self.full_at = 0.0
        self.retry: dict[int, tuple[float, float]] = {}  # team id: (due at, next delay)

    def due(self, session: Session, now: float) -> list[int]:
        if now >= self.full_at:
            self.full_at, self.retry = now + EVERY, {}
            return list(session.scalars(select(Team.id).order_by(Team.id)))
        has_names = exists().where(SenderName.team_id == Team.id)
        nameless = session.scalars(select(Team.id).where(~has_names).order_by(Team.id)).all()
        due = []
        for team_id in nameless:
            at, delay = self.retry.get(team_id, (0.0, FIRST_RETRY))
            if now >= at:
                due.append(team_id)
                self.retry[team_id] = (now + delay, min(delay * 2, EVERY))
        return due


def run(app: Flask, *, wait: float = WAIT, schedule: Schedule | None = None) -> None:
    """Sync the sender names of the teams due (every team hourly; a team without names soon),
    each team in a thread of its own (``TEAM_THREADS``, one slot per team), so that one slow
    gateway delays no other team's names."""
    pool = pool_for(app, "senders", team_threads(app))
    schedule = schedule or app.extensions.setdefault("sender_schedule", Schedule())
    with app.app_context():
        try:
            team_ids = schedule.due(db.session, time.monotonic())
        finally:
            db.session.remove()
    started = pool.fill(team_ids, lambda team_id: _sync(app, team_id))
    if wait and started:
        wait_for(started, timeout=wait)


def _sync(app: Flask, team_id: int) -> Callable[[Slot], None]:
    def work(slot: Slot) -> None:
        sync_team(db.session, team_id, gateways.client_factory(app.config))

    return in_app(app, f"sender names of team {team_id}", work)
