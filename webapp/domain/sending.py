"""Sending: claim due queued messages, send them in calls of 200 (:mod:`send_calls`), store the
results, start and finish campaigns.

The order of each step is what makes sending safe (docs/architecture.md, "Sending safety"):
- the claim (queued -> sending) is committed before the HTTP call, the results after it;
- a claim left ``sending`` by a worker that died mid-request becomes ``unknown``: it may have
  reached the gateway (a tick of its own, so that a loop stuck on a call never delays it);
- a team's send rate is a token bucket on its row, shared by every worker (:mod:`send_rate`);
- a loop keeps up to ``in_flight`` calls of a campaign in flight (claimed and committed, the
  HTTP call in a small pool of threads) and stores their results in claim order, in its own
  session; a failed call stops new claims of that campaign, the calls in flight still settle.
Claims are :mod:`claims`: on PostgreSQL they skip rows other workers have locked, so workers
share a campaign.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Connection, func, select, update
from sqlalchemy.orm import Session

from webapp import gateway_texts, iqsms, texts
from webapp.config import Defaults
from webapp.domain import campaigns, gateway_health, send_rate
from webapp.domain.claims import BATCH, claim_batch, sendable_now
from webapp.domain.counters import move
from webapp.domain.gateway_calls import release_connection
from webapp.domain.send_calls import Claimed, DispatchReport, Sending, post, send_batch
from webapp.domain.statuses import Checks
from webapp.log_setup import log_context
from webapp.models import Campaign, GatewayMode, Message, MessageState, Team, utcnow

# The default claim limit (the setting STALE_CLAIM_SECONDS: webapp/jobs/dispatch.py
# stale_claim_limit), far beyond a call's total deadline (GATEWAY_DEADLINE).
STALE_CLAIM = timedelta(seconds=Defaults.STALE_CLAIM_SECONDS)
TICK_BUDGET = 10.0  # seconds one tick may keep sending
SLICE = 25  # batches of one campaign before the next campaign's turn

Clock = Callable[[], datetime]
ClientFactory = Callable[[Team], iqsms.Client]


def dispatch_due_messages(
    session: Session,
    clock: Clock = utcnow,
    *,
    client_factory: ClientFactory,
    checks: Checks,
    budget: float | None = None,
    batch_size: int = BATCH,
    team_id: int | None = None,
    keep_going: Callable[[], bool] = lambda: True,
    in_flight: int = 1,
) -> DispatchReport:
    """One sending loop: start due campaigns, send while there is work and time (``budget``
    seconds, default ``TICK_BUDGET``) and ``keep_going()`` says so (asked before each claim),
    finish what is done. ``team_id`` keeps the loop to one team's campaigns (the worker's
    fairness: webapp/jobs/team_pool.py). Up to ``in_flight`` send.json calls at once (fewer
    for a team with a send rate: :func:`send_rate.calls_in_flight`); the loop never leaves
    with a call unsettled. Stale claims are settled by a tick of their own
    (:func:`settle_stale_claims`), so a loop stuck on a gateway call cannot hold them up."""
    report = DispatchReport()
    report.started = campaigns.start_due(session, clock())
    deadline = time.monotonic() + (TICK_BUDGET if budget is None else budget)
    clients: dict[int, iqsms.Client] = {}
    slices: dict[int, _CampaignCalls | None] = {}  # None: a campaign gone since
    calls = ThreadPoolExecutor(in_flight, "send-call") if in_flight > 1 else None
    direct, notes = _direct_connection(session), gateway_health.Notes()
    try:
        while time.monotonic() < deadline and keep_going():
            progressed = False
            campaign_ids = sending_campaign_ids(session, clock(), team_id)
            for campaign_id in campaign_ids:
                if campaign_id not in slices:
                    sending = load_sending(session, campaign_id)
                    client = sending and _client_of(
                        session, sending.team_id, clients, client_factory
                    )
                    slices[campaign_id] = sending and _CampaignCalls(
                        session, sending, client, clock, report, direct, notes
                    )
                loop = slices[campaign_id]
                if loop is None:
                    continue
                loop.alone = len(campaign_ids) == 1 and team_id is not None
                # A slice of batches per campaign, then the next one: big campaigns do not
                # starve small ones, and the list of campaigns is not re-read for every batch.
                with log_context(campaign=campaign_id):  # every line of its slice names it
                    progressed |= loop.run(
                        calls, in_flight, batch_size, checks, deadline, keep_going
                    )
                if time.monotonic() >= deadline:
                    break
            report.finished += campaigns.finish_done(session, clock())
            report.more = progressed  # still true if the budget ends the loop
            if not progressed:
                break
    finally:
        _close(calls, clients, direct)
    return report


def _close(
    calls: ThreadPoolExecutor | None, clients: dict[int, iqsms.Client], direct: Connection | None
) -> None:
    if calls is not None:
        calls.shutdown(wait=True)  # a call outlives no loop (each ends by its deadline)
    for client in clients.values():
        client.close()
    if direct is not None:
        direct.close()


def _direct_connection(session: Session) -> Connection | None:
    """On PostgreSQL, a connection of the loop's own in autocommit mode, for claims and
    results that are one statement each: no BEGIN and COMMIT round trips around them
    (claims.claim_batch, send_calls.store_results). SQLite's writes share one lock: none."""
    engine = session.get_bind()
    if engine.dialect.name != "postgresql":
        return None
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


class _CampaignCalls:
    """A loop's slices of one campaign: claim, call, store, with calls in flight up to its
    window. The window opens as replies come back (1, 2, 4, ... up to the bound) and closes to
    one at a failed call: a gateway that stops answering holds one call of the loop, not the
    bound's worth of batches that would all end ``unknown``."""

    def __init__(
        self,
        session: Session,
        sending: Sending,
        client: Callable[[], iqsms.Client],
        clock: Clock,
        report: DispatchReport,
        direct: Connection | None = None,
        notes: gateway_health.Notes | None = None,
    ) -> None:
        self.session, self.sending, self.client = session, sending, client
        self.clock, self.report = clock, report
        self.direct, self.notes = direct, notes
        self.window = 1
        self.alone = False  # the only campaign its team has sending: see :meth:`next_slice`

    def run(
        self,
        calls: ThreadPoolExecutor | None,
        in_flight: int,
        batch_size: int,
        checks: Checks,
        deadline: float,
        keep_going: Callable[[], bool],
    ) -> bool:
        """True if anything was claimed. Results are stored in claim order (the oldest call
        first), each in its own transaction after its call; claims stop at a failed call
        (the campaign backs off or is paused), at the slice's end or the loop's deadline.

        The window bounds the calls on their way: a call answered whose result waits to be
        stored frees its place, so the next one is sent while the loop stores (up to twice
        the bound claimed and not yet stored)."""
        bound = send_rate.calls_in_flight(in_flight, self.sending.send_rate, batch_size)
        flight: deque[tuple[Claimed, Future | None]] = deque()
        claims, claiming, progressed, after = 0, True, False, 0

        def room() -> bool:
            on_way = sum(1 for _, call in flight if call is None or not call.done())
            return on_way < min(bound, self.window) and len(flight) < 2 * bound

        while True:
            if claiming and room():
                if claims >= SLICE and self.next_slice():
                    claims = 0
                claimed = (
                    claims < SLICE
                    and time.monotonic() < deadline
                    and keep_going()
                    and claim_batch(
                        self.session, self.sending, self.clock(), batch_size, after, self.direct
                    )
                )
                if claimed:
                    claims, after = claims + 1, claimed.rows[-1][0]
                    progressed = True
                    self.report.claimed += len(claimed.rows)
                    call = self._submit(calls, claimed) if bound > 1 else None
                    flight.append((claimed, call))
                    if call is not None and room():
                        continue  # claim the next while this one is on its way
                else:
                    claiming = False
            if not flight:
                return progressed
            claimed, call = flight.popleft()
            reply = call.result if call is not None else None
            client, report = self.client(), self.report
            stored = send_batch(
                self.session, claimed, client, self.clock, report, checks.first, reply,
                direct=self.direct, notes=self.notes,
            )  # fmt: skip
            if stored:
                self.window = min(bound, 2 * self.window)
            else:
                claiming = False  # paused or backing off: the campaign waits its turn
                self.window = 1

    def next_slice(self) -> bool:
        """Whether a campaign alone in its loop goes on to its next slice with its calls still
        in flight: if it is still its team's only campaign with messages to send now. (Leaving
        the slice would wait for every call in flight first, a round trip with none.)"""
        if not self.alone:
            return False
        campaign_id, team_id = self.sending.campaign_id, self.sending.team_id
        alone = sending_campaign_ids(self.session, self.clock(), team_id) == [campaign_id]
        self.session.commit()  # the read ends here
        return alone

    def _submit(self, calls: ThreadPoolExecutor | None, claimed: Claimed) -> Future | None:
        """The call on its way in the loop's pool; None (made when its result is stored) when
        there is no pool, or it no longer takes work (the interpreter is shutting down)."""
        if calls is None:
            return None
        try:
            return calls.submit(post, claimed, self.client())
        except RuntimeError:
            return None


def _client_of(
    session: Session, team_id: int, clients: dict[int, iqsms.Client], factory: ClientFactory
) -> Callable[[], iqsms.Client]:
    """The team's client, made when first asked for (once a batch is claimed), one per loop;
    the team is read in a transaction ended before the client is made and used."""

    def client() -> iqsms.Client:
        if team_id not in clients:
            team = session.get(Team, team_id)
            release_connection(session)  # no transaction open while the gateway answers
            clients[team_id] = factory(team)
        return clients[team_id]

    return client


def settle_stale_claims(
    session: Session, now: datetime, older_than: timedelta = STALE_CLAIM
) -> int:
    """Messages a dead worker left ``sending`` more than ``older_than`` ago may have reached
    the gateway: ``unknown``. The worker's "stale-claims" tick runs this on its own
    (webapp/jobs/dispatch.py)."""
    settled = 0
    for campaign_id in session.scalars(select(Campaign.id).where(Campaign.sending > 0)).all():
        result = session.execute(
            update(Message.__table__)
            .where(
                Message.campaign_id == campaign_id,
                Message.state == MessageState.SENDING,
                Message.claimed_at < now - older_than,
            )
            .values(
                state=MessageState.UNKNOWN,
                gateway_status=texts.stored(gateway_texts.WORKER_STOPPED),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        move(session, campaign_id, MessageState.SENDING, MessageState.UNKNOWN, result.rowcount)
        settled += result.rowcount
    session.commit()
    return settled


def sending_campaign_ids(session: Session, now: datetime, team_id: int | None = None) -> list[int]:
    """Campaigns with messages to send now (of one team, or of all), oldest first."""
    query = select(Campaign.id).where(*sendable_now(now))
    if team_id is not None:
        query = query.where(Campaign.team_id == team_id)
    return session.scalars(query.order_by(Campaign.started_at, Campaign.id)).all()


def teams_with_work(session: Session, now: datetime) -> list[tuple[int, bool]]:
    """(team id, whether its gateway is not answering) of every team with messages to send
    now, the team of the oldest sending campaign first. Commits (ends the read)."""
    oldest = func.min(Campaign.started_at)
    rows = session.execute(
        select(Campaign.team_id, Team.gateway_silent_since.isnot(None))
        .join(Team, Team.id == Campaign.team_id)
        .where(*sendable_now(now))
        .group_by(Campaign.team_id, Team.gateway_silent_since)
        .order_by(oldest, Campaign.team_id)
    ).all()
    session.commit()
    return [(team_id, bool(silent)) for team_id, silent in rows]


def load_sending(session: Session, campaign_id: int) -> Sending | None:
    row = session.execute(
        select(
            Campaign.id,
            Campaign.team_id,
            Campaign.sender,
            Campaign.wapurl,
            Campaign.flash,
            Campaign.price_per_part,
            Team.status_queue_name,
            Team.gateway_mode,
            Team.send_rate,
        )
        .join(Team, Team.id == Campaign.team_id)
        .where(Campaign.id == campaign_id)
    ).first()
    session.commit()
    if row is None:
        return None
    return Sending(
        campaign_id=row.id,
        team_id=row.team_id,
        sender=row.sender or None,
        wapurl=row.wapurl or None,
        flash=row.flash,
        price_per_part=row.price_per_part or Decimal(0),
        queue_name=row.status_queue_name,
        sandbox=row.gateway_mode == GatewayMode.SANDBOX,
        send_rate=row.send_rate or 0,
    )
