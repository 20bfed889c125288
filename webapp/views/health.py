"""Readiness and metrics, for load balancers, monitoring and the operator (liveness, which asks
nothing of the database, is ``main.healthz``).

Teams are mutually hostile, and these URLs need no sign-in: a stranger learns only whether the
service is ready, from an answer each process computes at most every ``READY_CACHE_SECONDS``
(a flood of probes costs the database nothing more). Per-team details (which teams are
sending, how late their status queues are) are for the operator, who sends the
``METRICS_TOKEN`` as a bearer token; without that setting /metrics is not found at all.
"""

from __future__ import annotations

import hmac
import threading
import time
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from webapp import metrics
from webapp.domain import operations
from webapp.extensions import db
from webapp.models import utcnow

bp = Blueprint("health", __name__)

READY_CACHE_SECONDS = 2.0
_cache_lock = threading.Lock()


def operator_token_given() -> bool:
    """Whether the request carries ``Authorization: Bearer <METRICS_TOKEN>`` (compared in
    constant time); never, while no token is configured."""
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        return False
    scheme, _space, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), str(token).encode())


def _readiness(fresh: bool) -> operations.Readiness:
    """This process's latest readiness: asked again when older than the cache (or ``fresh``)."""
    cache = current_app.extensions.setdefault("iqsms_readiness", {})
    with _cache_lock:
        cached = cache.get("value")
        if not fresh and cached and time.monotonic() - cache["at"] < READY_CACHE_SECONDS:
            return cached
    try:
        report = operations.readiness(db.session, utcnow())
    finally:
        db.session.rollback()  # read only: end the transaction, give the connection back
    with _cache_lock:
        cache.update(value=report, at=time.monotonic())
    return report


def _reasons(report: operations.Readiness) -> list[str]:
    stale = int(current_app.config["WORKER_HEARTBEAT_STALE_SECONDS"])
    texts = {
        "database": _("The database does not answer."),
        "worker": _("No worker has reported in the last %(seconds)d s.", seconds=stale),
    }
    return [texts[p] for p in report.problems]


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """200 when the database answers and a worker's heartbeat is fresh, else 503 with the
    reasons. With the operator's token: also the live workers and each active team's last
    status-queue drain."""
    operator = operator_token_given()
    report = _readiness(fresh=operator)
    body: dict[str, Any] = {"status": "ready" if report.ready else "not ready"}
    if not report.ready:
        body["problems"] = report.problems
        body["reasons"] = _reasons(report)
    if operator and report.workers is not None:
        body["workers"] = report.workers
        body["teams"] = _drains()
    response = jsonify(body)
    response.status_code = 200 if report.ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def _drains() -> list[dict[str, Any]]:
    try:
        operations.limit_statement_time(db.session)
        drains = operations.drains(db.session, utcnow())
    finally:
        db.session.rollback()
    return [
        {
            "team": d.team_id,
            "last_drain": d.last_drain.isoformat() if d.last_drain else None,
            "lag_seconds": None if d.lag_seconds is None else round(d.lag_seconds, 3),
        }
        for d in drains
    ]


@bp.get("/metrics")
def prometheus_metrics() -> ResponseReturnValue:
    """Prometheus metrics, read from the database at each scrape (so the same from every web
    process); only with the operator's bearer token, and not found while none is set."""
    if not current_app.config.get("METRICS_TOKEN"):
        abort(404)
    if not operator_token_given():
        response = Response(_("A valid bearer token is needed."), 401, mimetype="text/plain")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    try:
        operations.limit_statement_time(db.session)
        body = metrics.exposition(db.session, utcnow())
    finally:
        db.session.rollback()
    response = Response(body, mimetype=None, content_type=metrics.CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response
