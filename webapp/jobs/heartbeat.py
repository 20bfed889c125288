"""The worker's heartbeat tick: every few seconds it says it is alive (a lease that runs out
``WORKER_HEARTBEAT_STALE_SECONDS`` later: webapp/domain/operations.py) and adds the gateway
calls it counted to the database (webapp/metrics.py), for /readyz and /metrics."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from webapp import metrics
from webapp.domain import operations
from webapp.extensions import db
from webapp.models import utcnow

INTERVAL = 10  # seconds between beats


def run(app: Flask) -> None:
    """Beat, then flush the counted gateway calls (one transaction each: a failed flush,
    kept for the next, does not stop the beat)."""
    alive_for = timedelta(seconds=float(app.config["WORKER_HEARTBEAT_STALE_SECONDS"]))
    with app.app_context():
        try:
            operations.beat(db.session, utcnow(), alive_for)
            metrics.flush_gateway_calls(db.session)
            db.session.commit()
        finally:
            db.session.remove()


def stop(app: Flask) -> None:
    """A worker stopping on purpose: its heartbeat runs out now, so /readyz counts it gone at
    once rather than a minute later; what it counted is flushed first."""
    with app.app_context():
        try:
            metrics.flush_gateway_calls(db.session)
            db.session.commit()
            operations.stop_beating(db.session, utcnow())
        finally:
            db.session.remove()
