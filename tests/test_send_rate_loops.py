"""A team's send rate holds across sending loops (threads, each its own session), on SQLite as
on PostgreSQL, against the sandbox over HTTP: SQLite ignores SELECT ... FOR UPDATE, so the
token bucket is read only once the team row is locked for writing (send_rate.take_allowance)."""

import threading
from datetime import timedelta

import sqlalchemy as sa

from tests.helpers import (
    assert_counters_match,
    make_campaign,
    received_client_ids,
    sandbox_login,
    tick,
)
from webapp.extensions import db
from webapp.models import Message, Team

RATE = 200


def busiest_second(times) -> int:
    """The most claims in any one-second window."""
    times = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= timedelta(seconds=1):
            first += 1
        most = max(most, last - first + 1)
    return most


def test_loops_at_once_keep_to_the_teams_send_rate(app, sandbox, team):
    login = sandbox_login(app, team)
    sandbox.control("PATCH", f"/accounts/{login}", json={"balance": "100000"})
    with app.app_context():
        db.session.get(Team, team.id).send_rate = RATE
        db.session.commit()
    campaign_id = make_campaign(app, team, 3000)
    sandbox.set_faults(latency_ms=20, endpoints=["send.json"])
    claimed = []

    def loop() -> None:
        claimed.append(tick(app, budget=3.0, batch_size=20, in_flight=2).claimed)

    loops = [threading.Thread(target=loop) for _ in range(4)]
    for thread in loops:
        thread.start()
    for thread in loops:
        thread.join(120)
    assert len(claimed) == 4
    with app.app_context():
        times = db.session.scalars(
            sa.select(Message.claimed_at).where(
                Message.campaign_id == campaign_id, Message.claimed_at.isnot(None)
            )
        ).all()
    assert len(times) == sum(claimed) >= 2 * RATE  # a full bucket and more than a second's
    # A full bucket (one second's worth), then the rate: at most two seconds' worth in any
    # one-second window.
    assert busiest_second(times) <= 2 * RATE
    assert_counters_match(app, campaign_id)
    ids = received_client_ids(sandbox, login)
    assert len(ids) == len(set(ids)) == len(times)
