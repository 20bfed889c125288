"""The dispatch tick: up to ``DISPATCH_THREADS`` sending loops side by side, shared fairly
between the teams with messages to send; and the stale-claims tick. The sending itself is in
:mod:`webapp.domain.sending`.

Each team with work holds at most ceil(threads / teams with work) loops at once, and a team
whose gateway is not answering holds one (its calls would only wait side by side), as does
every team on SQLite (one writer: :func:`loops_per_team`). Each loop
keeps several send.json calls in flight, the team's ``SEND_IN_FLIGHT`` split between the loops
it may hold (:func:`in_flight_per_loop`): a team's calls at once stay within the setting
however many loops it gets, and every team's loops get the same number. The tick
hands loops to the worker's dispatch pool and returns: a loop waiting on a slow gateway keeps
its own slot while the next tick (a second later) gives the free ones to the other teams.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import wait as wait_for
from datetime import timedelta
from typing import Any

from flask import Flask

from webapp.domain import campaigns, gateways, sending
from webapp.domain.statuses import Checks
from webapp.extensions import db
from webapp.jobs.team_pool import Slot, fair_shares, in_app, pool_for
from webapp.models import utcnow


def run(app: Flask, *, wait: float = 0) -> None:
    """The worker's entry point: start due campaigns, then fill the dispatch pool's free
    threads with per-team sending loops. ``wait``: seconds to wait for the loops started
    (tests and scripts; the scheduler does not wait)."""
    threads = max(1, int(app.config["DISPATCH_THREADS"]))
    pool = pool_for(app, "dispatch", threads)
    with app.app_context():
        try:
            now = utcnow()
            campaigns.start_due(db.session, now)
            teams = sending.teams_with_work(db.session, now)
            most = loops_per_team(db.engine.dialect.name)
        finally:
            db.session.remove()
    quiet = [t for t, silent in teams if silent]
    pool.set_shares(fair_shares([t for t, _ in teams], threads, quiet, most))
    started = pool.fill([t for t, _ in teams], lambda team_id: _loop(app, team_id))
    if wait and started:
        wait_for(started, timeout=wait)


def loops_per_team(dialect: str) -> int | None:
    """The most sending loops one team holds at once: on SQLite one, since its writes take
    turns at one lock (the loops of a team would only queue for it: one loop with all of the
    team's calls in flight sent 9,753 messages/s at a 150 ms round trip, three loops sharing
    them 7,000 to 8,700/s); on PostgreSQL no limit but the fair share (its sessions write side by
    side: three loops 9,040 to 9,917/s, one 7,580/s)."""
    return 1 if dialect == "sqlite" else None


def in_flight_per_loop(config: Mapping[str, Any], loops: int) -> int:
    """Calls one of a team's ``loops`` sending loops keeps in flight: its share of the team's
    ``SEND_IN_FLIGHT``, at least one."""
    return max(1, int(config["SEND_IN_FLIGHT"]) // max(1, loops))


def _loop(app: Flask, team_id: int) -> Callable[[Slot], None]:
    def work(slot: Slot) -> None:
        # A loop that used its whole budget with messages still to send goes on at once, its
        # team and campaigns read afresh, instead of leaving its thread idle until the next
        # tick; a team over its share (more teams have work now) gives the loop back.
        more = True
        while more and not slot.over_share():
            report = sending.dispatch_due_messages(
                db.session,
                client_factory=gateways.client_factory(app.config),
                checks=Checks.from_config(app.config),
                team_id=team_id,
                keep_going=lambda: not slot.over_share(),
                in_flight=in_flight_per_loop(app.config, slot.pool.share(team_id)),
            )
            if report.claimed or report.started or report.finished or report.paused:
                app.logger.info("dispatch: team %s: %s", team_id, report)
            more = report.more

    return in_app(app, f"dispatch loop of team {team_id}", work)


def run_stale_claims(app: Flask) -> None:
    """Settle what dead workers left ``sending`` (``unknown``): a tick of its own, so that a
    sending loop waiting on a slow gateway never holds it up."""
    settled = sending.settle_stale_claims(db.session, utcnow(), stale_claim_limit(app.config))
    if settled:
        app.logger.warning("stale claims: %s messages of dead workers are unknown", settled)
        # Their campaigns may have nothing left to send now: no sending loop would finish them.
        campaigns.finish_done(db.session, utcnow())


def stale_claim_limit(config: Mapping[str, Any]) -> timedelta:
    """How old a claim must be to be a dead worker's: the setting ``STALE_CLAIM_SECONDS``, but
    never under twice ``GATEWAY_DEADLINE`` (a live worker's call ends by its deadline)."""
    deadline = 2 * float(config["GATEWAY_DEADLINE"])
    return timedelta(seconds=max(float(config["STALE_CLAIM_SECONDS"]), deadline))
