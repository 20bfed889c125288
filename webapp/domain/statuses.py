"""Delivery statuses: applying them, draining each team's status queue, polling status.json.

- The queue drain empties each active team's named queue with statusQueue.json, a page of up to
  1,000 at a time, under a lease so that one worker drains a team at once.
- Statuses are applied in bulk by smsc_id, idempotently, and never move a message backwards (a
  late ``queued`` never undoes ``delivered``). A status for an smsc_id not stored yet (its send
  result is still being committed) waits in ``pending_statuses`` and is applied when it is.
- A queue reply lost in transit loses its statuses, so the poll (webapp/domain/status_poll.py)
  asks status.json about messages still on their way after a while (``Checks.first``), with a
  wait that doubles per message, and marks those still without a final status after
  ``Checks.expire`` ``expired`` (:func:`expire_messages`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from webapp import bulk, iqsms
from webapp.domain import gateway_health, status_appliers, status_moves, usage
from webapp.domain.counters import shift
from webapp.domain.leases import acquire_lease, holder_name, release_lease
from webapp.models import (
    LIVE_STATES,
    Campaign,
    Message,
    MessageState,
    PendingStatus,
    Team,
    utcnow,
)

QUEUE_PAGE = iqsms.MAX_QUEUE
POLL_BATCH = iqsms.MAX_STATUS
MAX_CHECK_WAIT = timedelta(hours=6)
DRAIN_BUDGET = 5.0  # seconds one team's queue may take per tick
PENDING_SWEEP_AFTER = timedelta(seconds=30)
STATUS_LEASE_PREFIX = "statuses:"  # then the team's id: status_lease_name

Clock = Callable[[], datetime]
ClientFactory = Callable[[Team], iqsms.Client]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checks:
    """When status.json is first asked about an accepted message (the wait doubles after
    that), and how long after sending a message without a final status becomes ``expired``."""

    first: timedelta
    expire: timedelta

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Checks:
        """From the settings ``STATUS_CHECK_AFTER_MINUTES`` and ``STATUS_EXPIRE_AFTER_HOURS``."""
        return cls(
            first=timedelta(minutes=float(config["STATUS_CHECK_AFTER_MINUTES"])),
            expire=timedelta(hours=float(config["STATUS_EXPIRE_AFTER_HOURS"])),
        )


S = MessageState
RANK = status_moves.RANK  # our states that take statuses, by rank
TARGET = status_moves.TARGET  # what a gateway status means for our state, and its rank


@dataclass
class ApplyReport:
    applied: int = 0  # messages moved forward
    ignored: int = 0  # duplicates, late or unknown statuses
    pending: int = 0  # kept aside for messages not stored yet


def apply_statuses(
    session: Session, team_id: int, statuses: Sequence[iqsms.MessageStatus], now: datetime
) -> ApplyReport:
    """Apply a page of statuses to the team's messages in bulk, whatever the page's size
    (:func:`status_moves.move_messages`), and move the campaign counters and usage by the
    messages really moved, so that two callers applying the same page count it once. The
    caller commits."""
    report = ApplyReport()
    latest: dict[str, str] = {}  # smsc_id -> the furthest status for it in the page
    for status in statuses:
        target = TARGET.get(status.status)
        if not status.smsc_id or target is None:
            report.ignored += 1
            continue
        seen = latest.get(status.smsc_id)
        if seen is None or target[1] >= TARGET[seen][1]:
            latest[status.smsc_id] = status.status
    if not latest:
        return report
    moved, missing = status_moves.move_messages(session, team_id, latest, now)
    if missing:
        pending = [
            {"team_id": team_id, "smsc_id": smsc, "status": latest[smsc], "received_at": now}
            for smsc in missing
        ]
        session.execute(PendingStatus.__table__.insert(), pending)
        report.pending = len(missing)
    report.applied = sum(move.count for move in moved)
    report.ignored += len(latest) - len(missing) - report.applied
    if moved:
        changes: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        outcomes: Counter[tuple[int, Any, str]] = Counter()
        for move in moved:
            changes[move.campaign_id][move.old] -= move.count
            changes[move.campaign_id][move.state] += move.count
            outcomes[move.campaign_id, move.sent_at, move.state] += move.count
        # Usage, then the campaigns' rows: the order every writer of both takes (the rows
        # every worker's statuses and results write, held for the least time before commit).
        usage.record_outcome_counts(session, team_id, outcomes)
        for campaign_id, delta in sorted(changes.items()):  # by id: see status_appliers
            shift(session, campaign_id, delta)
    return report


def apply_pending(
    session: Session, team_id: int, smsc_ids: Sequence[str], now: datetime
) -> ApplyReport | None:
    """Statuses that arrived before these messages' send results: apply and forget them."""
    if not smsc_ids:
        return None
    waiting = session.execute(
        select(PendingStatus.id, PendingStatus.smsc_id, PendingStatus.status).where(
            PendingStatus.team_id == team_id, bulk.one_of(session, PendingStatus.smsc_id, smsc_ids)
        )
    ).all()
    if not waiting:
        return None
    report = apply_statuses(
        session,
        team_id,
        [iqsms.MessageStatus(status=w.status, smsc_id=w.smsc_id) for w in waiting],
        now,
    )
    session.execute(delete(PendingStatus).where(PendingStatus.id.in_([w.id for w in waiting])))
    return report


# -- the status-queue tick -----------------------------------------------------------------------


@dataclass
class DrainReport:
    teams: int = 0
    pages: int = 0
    received: int = 0
    applied: int = 0
    pending: int = 0
    skipped_teams: int = 0  # another worker held the lease


def active_team_ids(session: Session) -> list[int]:
    """Teams with messages on their way: their queues may hold statuses."""
    return session.scalars(
        select(Campaign.team_id)
        .where((Campaign.accepted > 0) | (Campaign.enroute > 0) | (Campaign.sending > 0))
        .distinct()
    ).all()


def status_lease_name(team_id: int) -> str:
    """The lease a team's status queue is drained under, and its status poll made: one at a
    time per team across workers. Its expiry says when the team's statuses were last read
    (webapp/domain/operations.py)."""
    return f"{STATUS_LEASE_PREFIX}{team_id}"


def drain_status_queues(
    session: Session,
    clock: Clock = utcnow,
    *,
    client_factory: ClientFactory,
    budget: float = DRAIN_BUDGET,
    appliers: int = 1,
) -> DrainReport:
    """Drain each active team's status queue, a team after another (the worker runs
    :func:`drain_team_queue` for each team side by side instead: webapp/jobs/statuses.py)."""
    report = DrainReport()
    for team_id in active_team_ids(session):
        drain_team_queue(session, team_id, clock, client_factory, budget, report, appliers)
    return report


def drain_team_queue(
    session: Session,
    team_id: int,
    clock: Clock,
    client_factory: ClientFactory,
    budget: float,
    report: DrainReport,
    appliers: int = 1,
) -> None:
    """Drain one team's status queue under its lease (skipped when another worker holds it),
    ``appliers`` pages at once (webapp/domain/status_appliers.py). No transaction is open
    while the gateway answers: a process frozen mid-call holds no lock and no snapshot (the
    server ends a transaction left idle, webapp/app.py)."""
    from webapp.domain.gateway_calls import release_connection  # imports this, by metrics

    lease, holder = status_lease_name(team_id), holder_name()
    if not acquire_lease(session, lease, holder, clock()):
        report.skipped_teams += 1
        return
    try:
        team = session.get(Team, team_id)
        release_connection(session)  # the team stays readable; the first page is waited for
        with client_factory(team) as client:
            _drain_team(
                session, team_id, team.status_queue_name, client, clock, budget, report, appliers
            )
    finally:
        release_lease(session, lease, holder, clock())
    report.teams += 1


def _drain_team(
    session: Session,
    team_id: int,
    queue: str,
    client: iqsms.Client,
    clock: Clock,
    budget: float,
    report: DrainReport,
    appliers: int,
) -> None:
    from webapp.jobs import stopping  # the process's stop request (a leaf module)

    deadline = time.monotonic() + budget
    # The next page is asked for while this one is applied: the gateway's time and ours
    # overlap. A page popped but not applied (a crash) is recovered by the poll, like a lost
    # reply. Once the process is stopping, no page is popped, and the pages popped (those
    # being applied and the one on its way) are still applied: the stop waits for that.
    if stopping.requested():
        return
    # The team's gateway answered: noted at most once a second (a statement and the start of
    # a transaction per page otherwise, a tenth of the page's time on PostgreSQL).
    notes = gateway_health.Notes()

    def apply_page(own: Session, page: Sequence[iqsms.MessageStatus]) -> ApplyReport:
        notes.note(own, team_id, None, clock())  # first: see gateway_health
        applied = apply_statuses(own, team_id, page, clock())
        own.commit()
        return applied

    def done(applied: ApplyReport) -> None:
        report.applied += applied.applied
        report.pending += applied.pending

    with (
        ThreadPoolExecutor(1, thread_name_prefix="status-queue") as fetcher,
        status_appliers.Appliers(session, apply_page, done, appliers) as pages,
    ):
        next_page = fetcher.submit(client.status_queue, queue, QUEUE_PAGE)
        while next_page is not None:
            try:
                page = next_page.result()  # never retried: a read pops
            except iqsms.IqsmsError as exc:
                # A lost reply lost its statuses; the poll tick recovers them (status.json).
                log.warning("status queue of team %s: %s", team_id, exc)
                notes.note(session, team_id, exc, clock())
                session.commit()
                return
            more = len(page) == QUEUE_PAGE and time.monotonic() < deadline
            next_page = None
            if more and not stopping.requested():
                try:
                    next_page = fetcher.submit(client.status_queue, queue, QUEUE_PAGE)
                except RuntimeError:  # the interpreter is finalising: this page still counts
                    next_page = None
            report.pages += 1
            report.received += len(page)
            pages.apply(page)


# -- kept for the status-poll tick (webapp/domain/status_poll.py) ------------------------------


def expire_messages(session: Session, now: datetime, expire_after: timedelta) -> int:
    """Messages still without a final status long after they were sent become ``expired``."""
    cutoff = now - expire_after
    expired = 0
    campaigns = session.scalars(
        select(Campaign.id).where(
            (Campaign.accepted > 0) | (Campaign.enroute > 0), Campaign.started_at < cutoff
        )
    ).all()
    for campaign_id in campaigns:
        for state in LIVE_STATES:
            moved = session.execute(
                update(Message.__table__)
                .where(
                    Message.campaign_id == campaign_id,
                    Message.state == state,
                    Message.sent_at < cutoff,
                )
                .values(state=S.EXPIRED, final_at=now, updated_at=now)
            ).rowcount
            if moved:
                shift(session, campaign_id, {state: -moved, S.EXPIRED: moved})
                expired += moved
    session.commit()
    return expired


def sweep_pending(session: Session, now: datetime, expire_after: timedelta) -> int:
    """Statuses that waited a while for their message: apply those whose message is stored now
    (its result landed just after the status was set aside); forget the very old ones."""
    waiting = session.execute(
        select(PendingStatus.team_id, PendingStatus.smsc_id).where(
            PendingStatus.received_at < now - PENDING_SWEEP_AFTER
        )
    ).all()
    applied = 0
    by_team: dict[int, list[str]] = defaultdict(list)
    for row in waiting:
        by_team[row.team_id].append(row.smsc_id)
    for team_id, smsc_ids in by_team.items():
        for chunk in iqsms.batches(smsc_ids, 1000):
            known = session.scalars(
                select(Message.smsc_id).where(
                    Message.team_id == team_id, Message.smsc_id.in_(chunk)
                )
            ).all()
            result = apply_pending(session, team_id, known, now)
            applied += result.applied if result else 0
    session.execute(delete(PendingStatus).where(PendingStatus.received_at < now - expire_after))
    session.commit()
    return applied
