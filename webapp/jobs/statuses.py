"""The delivery-status ticks: draining the status queues, and polling status.json (with expiry).
The work itself is in :mod:`webapp.domain.statuses` and :mod:`webapp.domain.status_poll`.

Each team's calls run in the worker's pool for the tick (``TEAM_THREADS`` threads, one slot
per team: webapp/jobs/team_pool.py); the tick hands them over and returns, so a team whose
gateway hangs keeps only its own slot while the next tick drains every other team's queue.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import wait as wait_for

from flask import Flask

from webapp.domain import gateways, status_poll, statuses
from webapp.extensions import db
from webapp.jobs.team_pool import Slot, in_app, pool_for
from webapp.models import utcnow


def team_threads(app: Flask) -> int:
    """The size of each team-by-team job's pool: the setting ``TEAM_THREADS``."""
    return max(1, int(app.config["TEAM_THREADS"]))


# Seconds a tick waits for the teams' calls it started, within its interval (2 s and 30 s): a
# team still waiting on its gateway then goes on alone, and the next tick serves the others.
QUEUE_WAIT = 1.0
POLL_WAIT = 10.0


def run_queue(app: Flask, *, wait: float = QUEUE_WAIT) -> None:
    """Drain every active team's status queue, each team in a thread of its own, waiting up
    to ``wait`` seconds for them."""
    pool = pool_for(app, "status-queue", team_threads(app))
    with app.app_context():
        try:
            team_ids = statuses.active_team_ids(db.session)
        finally:
            db.session.remove()
    started = pool.fill(team_ids, lambda team_id: _drain(app, team_id))
    if wait and started:
        wait_for(started, timeout=wait)


def _drain(app: Flask, team_id: int) -> Callable[[Slot], None]:
    def work(slot: Slot) -> None:
        report = statuses.DrainReport()
        client_factory = gateways.client_factory(app.config)
        statuses.drain_team_queue(
            db.session, team_id, utcnow, client_factory, statuses.DRAIN_BUDGET, report,
            appliers=int(app.config["STATUS_APPLIERS"]),
        )  # fmt: skip
        if report.received:
            app.logger.info("status queue: team %s: %s", team_id, report)

    return in_app(app, f"status queue of team {team_id}", work)


def run_poll(app: Flask, *, wait: float = POLL_WAIT) -> None:
    """Expire and sweep, then ask status.json about each team's due messages, each team in a
    thread of its own, waiting up to ``wait`` seconds for them."""
    checks = statuses.Checks.from_config(app.config)
    pool = pool_for(app, "status-poll", team_threads(app))
    report = status_poll.PollReport()
    with app.app_context():
        try:
            due = status_poll.due_by_team(db.session, utcnow(), checks, report)
        finally:
            db.session.remove()
    if report.expired or report.swept:
        app.logger.info("status poll: %s", report)
    started = pool.fill(due, lambda team_id: _poll(app, team_id, due[team_id], checks))
    if wait and started:
        wait_for(started, timeout=wait)


def _poll(app: Flask, team_id: int, rows: list, checks: statuses.Checks) -> Callable[[Slot], None]:
    def work(slot: Slot) -> None:
        report = status_poll.PollReport()
        client_factory = gateways.client_factory(app.config)
        status_poll.poll_team(db.session, team_id, rows, utcnow, client_factory, checks, report)
        if report.checked:
            app.logger.info("status poll: team %s: %s", team_id, report)

    return in_app(app, f"status poll of team {team_id}", work)
