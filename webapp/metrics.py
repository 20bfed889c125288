"""Prometheus metrics for /metrics, correct however many web and worker processes run.

Nothing is summed in one process's memory for long: messages by state come from the
campaigns' counters (one pass over the campaigns, never over the messages), workers and
queue drains from the ``leases`` table (webapp/domain/operations.py), and gateway calls from
``gateway_call_totals``, to which each worker adds its calls every few seconds
(:func:`flush_gateway_calls`, from webapp/jobs/heartbeat.py). A worker killed outright loses
at most those few seconds of counts. The text format is prometheus_client's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp import bulk, iqsms
from webapp.domain import operations
from webapp.iqsms.errors import DeadlineExceeded, MalformedReply, NotIqsmsReply
from webapp.models import COUNTED_STATES, Campaign, CampaignState, GatewayCallTotal

__all__ = ["CONTENT_TYPE_LATEST", "exposition", "record_gateway_call", "timed_gateway_call"]

# Upper bounds (seconds) of the gateway latency histogram: a reply at real network latency
# takes 0.1-0.3 s, a slow gateway seconds, one cut by the deadline (45 s) lands in +Inf.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
INF = "+Inf"
SEND_ENDPOINT = "send.json"


def outcome(exc: BaseException | None) -> str:
    """A gateway call's outcome as /metrics labels it."""
    if exc is None:
        return "ok"
    if isinstance(exc, iqsms.AuthorizationError):
        return "authorization"
    if isinstance(exc, iqsms.GatewayError):
        return "error_reply"
    if isinstance(exc, DeadlineExceeded):
        return "timeout"
    if isinstance(exc, iqsms.NotSentError):
        return "unreachable"
    if isinstance(exc, NotIqsmsReply | MalformedReply):
        return "bad_reply"
    if isinstance(exc, iqsms.TransportError):
        return "transport"
    return "other"


def bucket_of(seconds: float) -> str:
    return next((floatToGoString(b) for b in BUCKETS if seconds <= b), INF)


class _Tally:
    """This process's gateway calls not yet added to the database. Thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[tuple[str, str, str], list[float]] = {}

    def add(self, key: tuple[str, str, str], calls: float, seconds: float) -> None:
        with self.lock:
            entry = self.counts.setdefault(key, [0, 0.0])
            entry[0] += calls
            entry[1] += seconds

    def take(self) -> dict[tuple[str, str, str], list[float]]:
        with self.lock:
            taken, self.counts = self.counts, {}
        return taken


_tally = _Tally()


def record_gateway_call(endpoint: str, seconds: float, exc: BaseException | None) -> None:
    """Count one gateway call (in this process until the next flush)."""
    _tally.add((endpoint[:32], outcome(exc), bucket_of(seconds)), 1, seconds)


def timed_gateway_call(endpoint: str, call: Any) -> Any:
    """``call()``, counted as one call to ``endpoint`` with its time and outcome."""
    started = time.monotonic()
    try:
        result = call()
    except BaseException as exc:
        record_gateway_call(endpoint, time.monotonic() - started, exc)
        raise
    record_gateway_call(endpoint, time.monotonic() - started, None)
    return result


def flush_gateway_calls(session: Session) -> int:
    """Add this process's counted calls to ``gateway_call_totals``; the caller commits. On a
    failure the counts go back to the tally, for the next flush. Returns the calls added."""
    taken = _tally.take()
    rows = [
        {"endpoint": e, "outcome": o, "bucket": b, "calls": int(c), "seconds": s}
        for (e, o, b), (c, s) in sorted(taken.items())  # one lock order for every worker
    ]
    try:
        bulk.executemany(
            session,
            "INSERT INTO gateway_call_totals (endpoint, outcome, bucket, calls, seconds)"
            " VALUES (:endpoint, :outcome, :bucket, :calls, :seconds)"
            " ON CONFLICT (endpoint, outcome, bucket) DO UPDATE SET"
            " calls = gateway_call_totals.calls + excluded.calls,"
            " seconds = gateway_call_totals.seconds + excluded.seconds",
            rows,
        )
    except BaseException:
        for key, (calls, seconds) in taken.items():
            _tally.add(key, calls, seconds)
        raise
    return sum(r["calls"] for r in rows)


class _DatabaseCollector(Collector):
    """Reads every figure from the database at each scrape."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session, self.now = session, now

    def collect(self) -> Iterator[Metric]:
        yield from _messages(self.session)
        yield from _gateway_calls(self.session)
        yield from _workers_and_drains(self.session, self.now)


def _messages(session: Session) -> Iterator[Metric]:
    sums = session.execute(
        select(*(func.coalesce(func.sum(getattr(Campaign, s.value)), 0) for s in COUNTED_STATES))
    ).one()
    messages = GaugeMetricFamily(
        "iqsms_messages", "Messages in each state, from the campaigns' counters.", labels=["state"]
    )
    for state, value in zip(COUNTED_STATES, sums, strict=True):
        messages.add_metric([state.value], int(value))
    yield messages
    campaigns = GaugeMetricFamily("iqsms_campaigns", "Campaigns in each state.", labels=["state"])
    counts = dict(
        session.execute(select(Campaign.state, func.count()).group_by(Campaign.state)).all()
    )
    for state in CampaignState:  # every state, none missing: a series that drops to 0 stays
        campaigns.add_metric([state.value], counts.get(state.value, 0))
    yield campaigns


def _gateway_calls(session: Session) -> Iterator[Metric]:
    rows = session.execute(
        select(
            GatewayCallTotal.endpoint,
            GatewayCallTotal.outcome,
            GatewayCallTotal.bucket,
            GatewayCallTotal.calls,
            GatewayCallTotal.seconds,
        )
    ).all()
    calls = CounterMetricFamily(
        "iqsms_gateway_calls",
        "Gateway calls made by the workers, by endpoint and outcome.",
        labels=["endpoint", "outcome"],
    )
    batches = CounterMetricFamily(
        "iqsms_batches_sent", "Batches of messages the gateway accepted (send.json answered)."
    )
    by_outcome: dict[tuple[str, str], int] = {}
    by_endpoint: dict[str, tuple[dict[str, int], float]] = {}
    for endpoint, result, bucket, count, seconds in rows:
        by_outcome[endpoint, result] = by_outcome.get((endpoint, result), 0) + count
        buckets, total = by_endpoint.setdefault(endpoint, ({}, 0.0))
        buckets[bucket] = buckets.get(bucket, 0) + count
        by_endpoint[endpoint] = (buckets, total + seconds)
    for (endpoint, result), count in sorted(by_outcome.items()):
        calls.add_metric([endpoint, result], count)
    batches.add_metric([], by_outcome.get((SEND_ENDPOINT, "ok"), 0))
    latency = HistogramMetricFamily(
        "iqsms_gateway_call_duration_seconds",
        "Time each gateway call took, retries within its deadline included, by endpoint.",
        labels=["endpoint"],
    )
    for endpoint, (buckets, total) in sorted(by_endpoint.items()):
        cumulative, running = [], 0
        for bound in [*(floatToGoString(b) for b in BUCKETS), INF]:
            running += buckets.get(bound, 0)
            cumulative.append((bound, running))
        latency.add_metric([endpoint], cumulative, total)
    yield calls
    yield batches
    yield latency


def _workers_and_drains(session: Session, now: datetime) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "iqsms_workers_alive",
        "Worker processes whose heartbeat has not run out.",
        value=operations.live_workers(session, now),
    )
    drains = operations.drains(session, now)
    yield GaugeMetricFamily(
        "iqsms_status_queue_active_teams",
        "Teams with messages on their way, whose status queues the workers drain.",
        value=len(drains),
    )
    lag = GaugeMetricFamily(
        "iqsms_status_queue_drain_lag_seconds",
        "Seconds since an active team's status queue was last drained (0 while it is).",
        labels=["team"],
    )
    never = 0
    for drain in drains:
        if drain.lag_seconds is None:
            never += 1
        else:
            lag.add_metric([str(drain.team_id)], drain.lag_seconds)
    yield lag
    yield GaugeMetricFamily(
        "iqsms_status_queue_never_drained_teams",
        "Active teams whose status queue no worker has drained yet.",
        value=never,
    )


def exposition(session: Session, now: datetime) -> bytes:
    """Every metric in the Prometheus text format, read from the database now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_DatabaseCollector(session, now))
    return generate_latest(registry)
