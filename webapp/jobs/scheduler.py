"""Scheduler wiring: every registered tick becomes one APScheduler interval job.

The ticks themselves are plain functions; this module only decides when they run, keeps one
failing run from stopping the others or the worker, and stops them all gracefully
(:func:`run_until_stopped`).
"""

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from werkzeug.serving import BaseWSGIServer

from webapp.jobs import stopping
from webapp.jobs.team_pool import pools_of


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
        heartbeat,
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
        # Alive, for /readyz; and the gateway calls counted here, for /metrics.
        Tick("heartbeat", heartbeat.run, heartbeat.INTERVAL),
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
    if stopping.requested():
        return  # due just as the stop began: nothing new starts
    with app.app_context():
        try:
            tick.function(app)
        except Exception:
            # Logged, not raised: the next run is the retry, and other ticks keep running.
            app.logger.exception("tick %s failed", tick.name)


# Seconds the stop waits beyond the gateway deadline (GATEWAY_DEADLINE) for the work in flight:
# storing the last call's results and applying the last status page, on a loaded machine.
STOP_MARGIN = 15.0


def run_until_stopped(
    app: Flask,
    scheduler: BaseScheduler | None,
    server: BaseWSGIServer | None = None,
    on_stop: Callable[[float], None] = lambda bound: None,
) -> None:
    """Run the background ``scheduler`` (and the web ``server``, in a thread) until SIGTERM or
    Ctrl-C, then stop them: the one stop sequence of `flask worker` and `flask serve`.

    1. Nothing new starts (webapp/jobs/stopping.py): no tick runs, the team pools take no work,
       sending loops claim no batch and status drains pop no page; ``on_stop(bound)`` is told
       how long step 2 may take.
    2. The main thread waits, for at most the gateway deadline plus STOP_MARGIN, for the ticks
       and the pools' work in flight: the gateway call under way completes or meets its
       deadline and its result is stored, every status page popped is applied, and the work
       releases the leases it took. Waiting here, not returning, is the point: a returned main
       thread lets the interpreter finalise, and a pool then refuses the next piece of work
       ("cannot schedule new futures after shutdown"), which dropped a popped status page.
    3. Then the web server stops; not before: the sandbox it may mount answers the calls
       under way, and closing its socket would reset a call still waiting to be accepted,
       whose batch would become ``unknown``.

    Work still running after that (a database not answering) is left as a SIGKILL would leave
    it, which the sending rules allow for (its claims become ``unknown``, its leases expire):
    the process exits at once with status 1.
    """
    bound = float(app.config["GATEWAY_DEADLINE"]) + STOP_MARGIN
    with stopping.on_signals():
        web = None
        if server is not None:
            web = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="web", daemon=True
            )
            web.start()
        if scheduler is not None:
            scheduler.start()
        stopping.wait(until=lambda: web is not None and not web.is_alive())
        stopping.request()  # also when the web server ended by itself
        on_stop(bound)
        if not _stop(app, scheduler, server, time.monotonic() + bound):
            app.logger.error("stop: work still running after %.0f s; exiting without it", bound)
            logging.shutdown()
            os._exit(1)


def _stop(
    app: Flask, scheduler: BaseScheduler | None, server: BaseWSGIServer | None, deadline: float
) -> bool:
    """Steps 2 and 3 of :func:`run_until_stopped`; True when no work is left running."""
    finished = True
    if scheduler is not None and scheduler.running:
        # shutdown(wait=True) waits for the running ticks without a limit: it runs beside, and
        # the limit is kept here.
        ending = threading.Thread(target=scheduler.shutdown, name="scheduler-stop", daemon=True)
        ending.start()
        ending.join(max(0.0, deadline - time.monotonic()))
        finished = not ending.is_alive()
    for pool in pools_of(app):
        finished = pool.wait_idle(deadline - time.monotonic()) and finished
    if server is not None:
        # It closes its socket as it leaves; the requests under way go on in their threads.
        server.shutdown()
    return finished
