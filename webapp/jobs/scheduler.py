"""Scheduler wiring: every registered tick becomes one APScheduler interval job.

The ticks themselves are plain functions; this module only decides when they run, and keeps one
failing run from stopping the others or the worker.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask


@dataclass(frozen=True)
class Tick:
    """A unit of periodic work: ``function(app)`` runs every ``interval`` seconds."""

    name: str
    function: Callable[[Flask], None]
    interval: float


def default_ticks() -> list[Tick]:
    """Every tick the worker runs."""
    from webapp.jobs import (
        balance,
        contact_stats,
        dispatch,
        housekeeping,
        imports,
        notifications,
        senders,
        statuses,
        uploads,
    )

    return [
        # Each tick fills the free sending loops (each sends for up to sending.TICK_BUDGET
        # seconds) and returns: in effect a steady loop per thread (webapp/jobs/dispatch.py).
        Tick("dispatch", dispatch.run, 1),
        # On its own, so that a sending loop stuck on a slow gateway never delays it.
        Tick("stale-claims", dispatch.run_stale_claims, 15),
        Tick("status-queue", statuses.run_queue, 2),
        Tick("status-poll", statuses.run_poll, 30),
        Tick("imports", imports.run, 2),
        Tick("uploads", uploads.run, 600),  # uploads never started, removed after a day
        Tick("contact-stats", contact_stats.run, 60),  # lists' field statistics not known
        # Cheap when nothing is due: snapshots follow their own schedule (BALANCE_INTERVAL)
        # and come soon after a campaign finishes.
        Tick("balance", balance.run, 10),
        Tick("housekeeping", housekeeping.run, 3600),
        # Notifications the app has shown go out by mail too, where it is set up.
        Tick("notification-mail", notifications.run, 10),
        # Every team hourly; a team without names yet (new, or on another gateway) soon.
        Tick("senders", senders.run, 5),
    ]


def create_scheduler(
    app: Flask, *, background: bool, ticks: Iterable[Tick] | None = None
) -> BaseScheduler:
    """Build (but do not start) a scheduler with one job per tick (default: every tick)."""
    scheduler_class = BackgroundScheduler if background else BlockingScheduler
    scheduler = scheduler_class(timezone=UTC)
    for tick in default_ticks() if ticks is None else ticks:
        scheduler.add_job(
            _run_tick,
            "interval",
            args=(app, tick),
            seconds=tick.interval,
            id=tick.name,
            name=tick.name,
            # A tick that overran its interval runs once more, not once per missed slot, and
            # never beside itself in the same process.
            coalesce=True,
            max_instances=1,
            # First run at start-up: a worker restart should not delay work by a full interval.
            next_run_time=datetime.now(UTC),
        )
    return scheduler


def _run_tick(app: Flask, tick: Tick) -> None:
    with app.app_context():
        try:
            tick.function(app)
        except Exception:
            # Logged, not raised: the next run is the retry, and other ticks keep running.
            app.logger.exception("tick %s failed", tick.name)
