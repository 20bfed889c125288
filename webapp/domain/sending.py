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
On PostgreSQL the claim skips rows other workers have locked, so workers share a campaign.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, true, update
from sqlalchemy.orm import Session

from webapp import gateway_texts, iqsms, texts
from webapp.config import Defaults
from webapp.domain import campaigns, send_rate
from webapp.domain.counters import move, shifted
from webapp.domain.gateway_calls import release_connection
from webapp.domain.send_calls import Claimed, DispatchReport, Sending, post, send_batch
from webapp.domain.statuses import Checks
from webapp.log_setup import log_context
from webapp.models import Campaign, CampaignState, GatewayMode, Message, MessageState, Team, utcnow

BATCH = iqsms.MAX_SEND
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
    report.more = False
    clients: dict[int, iqsms.Client] = {}
    campaigns_read: dict[int, Sending | None] = {}
    slices: dict[int, _CampaignCalls] = {}
    calls = ThreadPoolExecutor(in_flight, "send-call") if in_flight > 1 else None
    try:
        while time.monotonic() < deadline and keep_going():
            progressed = False
            campaign_ids = sending_campaign_ids(session, clock(), team_id)
            for campaign_id in campaign_ids:
                if campaign_id not in campaigns_read:
                    campaigns_read[campaign_id] = load_sending(session, campaign_id)
                sending = campaigns_read[campaign_id]
                if sending is None:
                    continue
                if campaign_id not in slices:
                    client = _client_of(session, sending.team_id, clients, client_factory)
                    slices[campaign_id] = _CampaignCalls(session, sending, client, clock, report)
                slices[campaign_id].alone = len(campaign_ids) == 1 and team_id is not None
                # A slice of batches per campaign, then the next one: big campaigns do not
                # starve small ones, and the list of campaigns is not re-read for every batch.
                loop = slices[campaign_id]
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
        if calls is not None:
            calls.shutdown(wait=True)  # a call outlives no loop (each ends by its deadline)
        for client in clients.values():
            client.close()
    return report


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
    ) -> None:
        self.session, self.sending, self.client = session, sending, client
        self.clock, self.report = clock, report
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
                    and claim_batch(self.session, self.sending, self.clock(), batch_size, after)
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
            if send_batch(self.session, claimed, client, self.clock, report, checks.first, reply):
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


def _sendable_now(now: datetime) -> tuple:
    """What makes a campaign's messages sendable now: sending, some queued, not backing off."""
    return (
        Campaign.state == CampaignState.SENDING,
        Campaign.queued > 0,
        (Campaign.retry_at.is_(None)) | (Campaign.retry_at <= now),
    )


def sending_campaign_ids(session: Session, now: datetime, team_id: int | None = None) -> list[int]:
    """Campaigns with messages to send now (of one team, or of all), oldest first."""
    query = select(Campaign.id).where(*_sendable_now(now))
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
        .where(*_sendable_now(now))
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


def claim_batch(
    session: Session, sending: Sending, now: datetime, batch_size: int = BATCH, after: int = 0
) -> Claimed | None:
    """Mark up to ``batch_size`` queued messages ``sending`` and commit; None if none may go
    now (nothing queued, the campaign no longer sending, or the team's send rate used up).

    ``after``: the last id this loop claimed. On PostgreSQL the index on (campaign, state,
    id) keeps an entry under ``queued`` for every claimed row until vacuum: a claim starting
    from the campaign's first id would step over all of them, every time. Rows requeued
    below it wait for the loop's next slice (a requeue comes with a back-off anyway)."""
    wanted = batch_size
    if sending.send_rate > 0:
        wanted = send_rate.take_allowance(
            session, sending.team_id, sending.send_rate, batch_size, now
        )
        if wanted == 0:
            session.rollback()
            return None
    if session.get_bind().dialect.name == "postgresql":
        rows, seq = _claim_in_one_statement(session, sending, now, wanted, after)
    else:
        rows, seq = _claim(session, sending, now, wanted, after)
    if not rows or seq is None:
        session.rollback()
        return None
    if sending.send_rate > 0 and len(rows) < wanted:
        session.execute(
            update(Team.__table__)
            .where(Team.id == sending.team_id)
            .values(send_allowance=Team.send_allowance + (wanted - len(rows)))
        )
    session.commit()
    return Claimed(sending, sorted(rows), seq)


def _claim(
    session: Session, sending: Sending, now: datetime, wanted: int, after: int
) -> tuple[list[tuple[int, str, str]], int | None]:
    """The claimed (id, phone, text) rows, and the batch's place in the campaign's send order
    (send_calls.back_off): None if the campaign is no longer sendable now that its row is
    locked (another loop may have noted a failed call since the claim's check read it: this
    UPDATE waits for that one's commit, then sees its back-off). Its counters too."""
    rows = session.execute(
        update(Message.__table__)
        .where(Message.id.in_(_next_queued(sending, now, wanted, after)))
        .values(state=MessageState.SENDING, claimed_at=now, updated_at=now)
        .returning(Message.id, Message.phone, Message.text)
        .execution_options(synchronize_session=False)
    ).all()
    if not rows:
        return [], None
    counted = shifted({MessageState.QUEUED: -len(rows), MessageState.SENDING: len(rows)})
    seq = session.scalar(
        update(Campaign.__table__)
        .where(Campaign.id == sending.campaign_id, *_sendable_now(now))
        .values({Campaign.claims: Campaign.claims + 1, **counted})
        .returning(Campaign.claims)
    )
    return [tuple(row) for row in rows], seq


def _claim_in_one_statement(
    session: Session, sending: Sending, now: datetime, wanted: int, after: int
) -> tuple[list[tuple[int, str, str]], int | None]:
    """:func:`_claim` as one statement (PostgreSQL's data-modifying WITH): one round trip
    fewer per batch. The campaign's row is written from the claimed rows' count, so it is
    locked after them (the order every transaction takes); no row comes back if none was
    claimed or the campaign is no longer sendable, and the caller rolls the claim back."""
    claimed = (
        update(Message.__table__)
        .where(Message.id.in_(_next_queued(sending, now, wanted, after)))
        .values(state=MessageState.SENDING, claimed_at=now, updated_at=now)
        .returning(Message.id, Message.phone, Message.text)
        .cte("claimed")
    )
    count = select(func.count()).select_from(claimed).scalar_subquery()
    seq = (
        update(Campaign.__table__)
        .where(Campaign.id == sending.campaign_id, *_sendable_now(now), count > 0)
        .values(
            {
                Campaign.claims: Campaign.claims + 1,
                **shifted({MessageState.QUEUED: -count, MessageState.SENDING: count}),
            }
        )
        .returning(Campaign.claims)
        .cte("seq")
    )
    rows = session.execute(
        select(claimed.c.id, claimed.c.phone, claimed.c.text, seq.c.claims).join_from(
            claimed, seq, true()
        )
    ).all()
    return [(row[0], row[1], row[2]) for row in rows], (rows[0][3] if rows else None)


def _next_queued(sending: Sending, now: datetime, wanted: int, after: int) -> Any:
    """The ids of the campaign's next ``wanted`` queued messages past ``after`` that no other
    worker holds, if the campaign is sending and not backing off (a loop whose call failed has
    set ``retry_at``, and the other loops' claims of this campaign wait for it too)."""
    still_sending = (
        select(Campaign.id).where(Campaign.id == sending.campaign_id, *_sendable_now(now)).exists()
    )
    return (
        select(Message.id)
        .where(
            Message.campaign_id == sending.campaign_id,
            Message.state == MessageState.QUEUED,
            Message.id > after,
            still_sending,
        )
        .order_by(Message.id)
        .limit(wanted)
        .with_for_update(skip_locked=True, of=Message)
        .scalar_subquery()
    )
