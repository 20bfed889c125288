"""`flask worker` killed (SIGKILL) while a batch is in flight: on restart nothing is lost and
nothing is sent twice. The request in flight may have reached the gateway, so its messages
become ``unknown``; the rest are sent once."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from tests.helpers import (
    assert_counters_match,
    make_campaign,
    received_client_ids,
    sandbox_login,
    states,
    tick,
)
from webapp.domain import sending
from webapp.extensions import db
from webapp.models import Message, MessageState, Team, utcnow

ROOT = Path(__file__).resolve().parent.parent


def test_a_killed_worker_loses_nothing_and_sends_nothing_twice(app, sandbox, team, tmp_path):
    sandbox.control("PATCH", f"/accounts/{sandbox_login(app, team)}", json={"balance": "10000"})
    campaign_id = make_campaign(app, team, 1000)
    with app.app_context():
        db.session.execute(sa.update(Team).where(Team.id == team.id).values(send_rate=0))
        db.session.commit()
    # Each send.json call takes 3 s before the sandbox acts on it: the kill lands mid-call.
    sandbox.set_faults(latency_ms=3000, endpoints=["send.json"])
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("IQSMS_", "FLASK_", "DATABASE"))
    }
    env.update(
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        IQSMS_INSTANCE_PATH=str(tmp_path / "worker-instance"),
        IQSMS_SANDBOX_URL=sandbox.base_url,
        SECRET_KEY=app.config["SECRET_KEY"],
        IQSMS_ENCRYPTION_KEY=app.config["ENCRYPTION_KEY"],
    )
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "worker"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 30
        while states(app, campaign_id).get(MessageState.SENDING, 0) == 0:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, "the worker never claimed a batch"
            time.sleep(0.05)
        time.sleep(0.5)  # the requests are on their way
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        log.close()
    in_flight = states(app, campaign_id)[MessageState.SENDING]
    assert in_flight in (200, 400, 600)  # each dispatch loop may have had a batch out
    time.sleep(3.5)  # the sandbox finishes the requests the dead worker made
    sandbox.set_faults()

    # A worker starting again right away leaves the fresh claims alone...
    with app.app_context():
        assert sending.settle_stale_claims(db.session, utcnow()) == 0
    # ...and settles them once they are stale, then sends the rest, once.
    later = utcnow() + sending.STALE_CLAIM + timedelta(seconds=1)
    with app.app_context():
        assert sending.settle_stale_claims(db.session, later) == in_flight
    tick(app, clock=lambda: later)
    assert states(app, campaign_id) == {
        MessageState.UNKNOWN: in_flight,
        MessageState.ACCEPTED: 1000 - in_flight,
    }
    assert_counters_match(app, campaign_id)
    ids = received_client_ids(sandbox, sandbox_login(app, team))
    assert len(ids) == len(set(ids)) == 1000  # the in-flight ones reached it, once
    with app.app_context():
        unknown = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Message)
            .where(Message.state == MessageState.UNKNOWN, Message.smsc_id.is_(None))
        )
    assert unknown == in_flight  # never resent: no gateway id was ever stored for them
