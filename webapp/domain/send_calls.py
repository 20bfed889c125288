"""One send.json call: a claimed batch sent, and its outcome stored.

- A request that may have reached the gateway (timeout, reset, HTTP error, garbage) leaves its
  messages ``unknown``: never resent automatically; only a request that provably never left
  (refused connection, DNS) or that the gateway refused whole (an ``error`` reply) is requeued.
- Wrong credentials or an empty balance pause the campaign with the reason, instead of
  rejecting thousands of messages one by one; other failed calls back off, then pause.
- Failures count in send order: calls in flight when a failure is noted are the same attempt
  (:func:`back_off`), so the back-off's 5 + 10 + 20 + 40 s really are the tolerance.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, update
from sqlalchemy.orm import Session

from webapp import gateway_texts, iqsms, texts
from webapp.domain import campaigns, gateway_health, gateways, send_results, statuses
from webapp.domain.counters import move
from webapp.models import Campaign, Message, MessageState

MAX_FAILED_ATTEMPTS = 5  # consecutive failed calls before a campaign is paused
NO_BALANCE = texts.N_(
    "The gateway says the balance is too low for the remaining messages. "
    "Top up the account, then resume the campaign."
)

Clock = Callable[[], datetime]
M = MessageState

log = logging.getLogger(__name__)


@dataclass
class DispatchReport:
    """What one tick did, for logs and tests."""

    claimed: int = 0
    accepted: int = 0
    rejected: int = 0
    unknown: int = 0
    requeued: int = 0
    started: list[int] = field(default_factory=list)
    finished: list[int] = field(default_factory=list)
    paused: list[int] = field(default_factory=list)
    more: bool = False  # the loop's budget ended it with messages still to send


@dataclass(frozen=True)
class Sending:
    """What a send.json call needs of a sending campaign and its team, read once per tick
    (a campaign's text, sender and options no longer change once it is committed)."""

    campaign_id: int
    team_id: int
    sender: str | None
    wapurl: str | None
    flash: bool
    price_per_part: Decimal
    queue_name: str
    sandbox: bool
    send_rate: int


@dataclass
class Claimed:
    """A batch claimed for sending: (id, phone, text) rows of one campaign, and its place in
    the campaign's send order (``Campaign.claims`` after its claim)."""

    sending: Sending
    rows: list[tuple[int, str, str]]
    seq: int = 0


Reply = Callable[[], iqsms.SendResult]


def post(claimed: Claimed, client: iqsms.Client) -> iqsms.SendResult:
    """The send.json call for a claimed batch, nothing stored: it may run in another thread
    (a sending loop keeps several in flight, webapp/domain/sending.py)."""
    sending = claimed.sending
    messages = [
        iqsms.OutgoingMessage(
            client_id=str(message_id),
            phone=phone,
            text=text,
            sender=sending.sender,
            wapurl=sending.wapurl,
            flash=sending.flash,
        )
        for message_id, phone, text in claimed.rows
    ]
    return client.send(messages, status_queue_name=sending.queue_name, show_billing_details=True)


def send_batch(
    session: Session,
    claimed: Claimed,
    client: iqsms.Client,
    clock: Clock,
    report: DispatchReport,
    first_check: timedelta,
    reply: Reply | None = None,
    *,
    direct: Connection | None = None,
    notes: gateway_health.Notes | None = None,
) -> bool:
    """One send.json call for a claimed batch, and its outcome stored (accepted messages get
    their first status check ``first_check`` later); False when the campaign must wait
    (paused, or backing off after a failed call). ``reply``: the call's outcome when it was
    made elsewhere (a future's ``result``); by default the call is made here. ``direct``: the
    loop's connection in autocommit mode (PostgreSQL), for a reply that accepted everything
    (:func:`store_results`); ``notes``: the loop's notes of the gateway's answers."""
    sending = claimed.sending
    campaign_id = sending.campaign_id
    ids = [row[0] for row in claimed.rows]
    note = (notes or gateway_health.Notes(per=0)).note
    try:
        result = reply() if reply is not None else post(claimed, client)
    except iqsms.AuthorizationError as exc:
        made_again = sending.sandbox and gateways.reprovision(client)  # before rows are locked
        note(session, sending.team_id, exc, clock())
        requeue(session, campaign_id, ids, clock(), report)
        if made_again:
            session.commit()  # the sandbox had lost the account; it is back, try again
            return True
        pause(session, campaign_id, gateways.explanation(exc, client.base_url), report)
        return False
    except (iqsms.GatewayError, iqsms.NotSentError) as exc:
        # An error reply processed nothing, a request never sent reached nothing: the batch
        # is safe to send again, later.
        note(session, sending.team_id, exc, clock())
        requeue(session, campaign_id, ids, clock(), report)
        why = gateways.explanation(exc, client.base_url)
        back_off(session, claimed, clock(), why, report)
        return False
    except iqsms.TransportError as exc:
        note(session, sending.team_id, exc, clock())
        mark_unknown(session, campaign_id, ids, clock(), str(exc)[:64])
        report.unknown += len(ids)
        why = gateways.explanation(exc, client.base_url)
        back_off(session, claimed, clock(), why, report)
        return False
    outcome = send_results.sort_results(claimed, result)
    if direct is None or not outcome.accepted or not outcome.all_accepted:
        direct = None
    note(direct if direct is not None else session, sending.team_id, None, clock())
    return store_results(session, claimed, outcome, clock(), report, first_check, direct)


def store_results(
    session: Session,
    claimed: Claimed,
    result: iqsms.SendResult | send_results.Outcome,
    now: datetime,
    report: DispatchReport,
    first_check: timedelta,
    direct: Connection | None = None,
) -> bool:
    """Every message's send-time status, in bulk; an empty balance pauses the campaign
    (and returns False).

    Only messages still ``sending`` take their result: a reply that lands after the stale-claim
    tick settled its claim ``unknown`` (a frozen worker) changes no message, so it moves no
    counter and no usage figure either. With ``direct`` (a reply that accepted everything, on
    PostgreSQL) it is one statement in autocommit (send_results.store_accepted_at_once)."""
    sending = claimed.sending
    outcome = result
    if not isinstance(outcome, send_results.Outcome):
        outcome = send_results.sort_results(claimed, outcome)
    if direct is not None:
        accepted, pending = send_results.store_accepted_at_once(
            direct, claimed, outcome.accepted, now, now + first_check
        )
        report.accepted += len(accepted)
        if pending:  # statuses that came first: applied now that their messages are stored
            smsc_ids = [row[1] for row in accepted if row[1]]
            statuses.apply_pending(session, sending.team_id, smsc_ids, now)
            session.commit()
        return True
    accepted, rejected = send_results.write_results(session, outcome, now, now + first_check)
    # Usage first, then statuses that came through the queue before this result was stored
    # (its messages, already held, then usage and the campaign's row), then the campaign's
    # row, last before the commit: the status drain's order (messages, usage, campaign).
    counted = send_results.count_results(session, claimed, accepted, rejected, now)
    statuses.apply_pending(session, sending.team_id, [row[1] for row in accepted if row[1]], now)
    end_failure_run(session, claimed, counted)  # its counters, and any run of failures ended
    if outcome.missing:
        # The gateway answered without these: it may or may not have taken them.
        why = gateway_texts.NO_STATUS_IN_REPLY
        mark_unknown(session, sending.campaign_id, outcome.missing, now, why)
    report.accepted += len(accepted)
    report.rejected += rejected
    report.unknown += len(outcome.missing)
    if outcome.no_balance:
        requeue(session, sending.campaign_id, outcome.no_balance, now, report)
        pause(session, sending.campaign_id, NO_BALANCE, report)
        return False
    session.commit()
    return True


def requeue(
    session: Session, campaign_id: int, ids: list[int], now: datetime, report: DispatchReport
) -> None:
    """Back to ``queued``: only for requests that provably did not send these messages."""
    _settle_claimed(session, campaign_id, ids, M.QUEUED, now, claimed_at=None)
    report.requeued += len(ids)


def mark_unknown(
    session: Session, campaign_id: int, ids: list[int], now: datetime, why: texts.Text | str
) -> None:
    """The request may have reached the gateway: never resend these automatically (``why``,
    one of gateway_texts' notes or the transport's raw words, is their status); commits."""
    status = texts.stored(why, 64)
    _settle_claimed(session, campaign_id, ids, M.UNKNOWN, now, gateway_status=status)
    session.commit()


def _settle_claimed(
    session: Session, campaign_id: int, ids: list[int], state: str, now: datetime, **values: Any
) -> None:
    """Claimed messages that are still ``sending`` move to ``state``, the counters with them."""
    result = session.execute(
        update(Message.__table__)
        .where(Message.id.in_(ids), Message.state == M.SENDING)
        .values(state=state, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    move(session, campaign_id, M.SENDING, state, result.rowcount)


def pause(session: Session, campaign_id: int, reason: texts.Text, report: DispatchReport) -> None:
    """Stop claiming this campaign's messages until a person resumes it; commits."""
    if campaigns.pause_by_worker(session, campaign_id, reason):
        report.paused.append(campaign_id)


def end_failure_run(session: Session, claimed: Claimed, counted: Mapping[Any, Any]) -> None:
    """A call that succeeded ends the run of failures, and any back-off, if it was claimed
    after the last counted failure; in one UPDATE with ``counted``, the results' counters (a
    SET clause), if any (send_results.campaign_update). Part of the results' transaction (no
    commit)."""
    campaign_id, seq = claimed.sending.campaign_id, claimed.seq
    session.execute(send_results.campaign_update(campaign_id, seq, counted))


def back_off(
    session: Session, claimed: Claimed, now: datetime, reason: texts.Text, report: DispatchReport
) -> None:
    """Wait before the next call (5 s, doubling); after several failures in a row, pause.

    In send order: the failure counts only if its batch was claimed after the last counted
    failure was noted; the calls claimed before then were in flight with it, the same attempt
    (several loops failing at once count once). Commits."""
    campaign_id = claimed.sending.campaign_id
    attempts = session.scalar(
        update(Campaign.__table__)
        .where(Campaign.id == campaign_id, Campaign.failure_seq < claimed.seq)
        .values(
            failed_attempts=Campaign.failed_attempts + 1,
            # Every batch claimed so far (this one included) was in flight with this failure.
            failure_seq=Campaign.claims,
            failure_claim_seq=claimed.seq,
        )
        .returning(Campaign.failed_attempts)
    )
    if attempts is None:  # in flight with a failure already counted: its back-off stands
        log.warning("campaign %s: %s (in flight with a counted failure)", campaign_id, reason)
        session.commit()
        return
    if attempts >= MAX_FAILED_ATTEMPTS:
        session.execute(
            update(Campaign.__table__)
            .where(Campaign.id == campaign_id)
            .values(failed_attempts=0, retry_at=None)
        )
        in_a_row = texts.ngettext(
            "%(reason)s (failed %(num)s time in a row)",
            "%(reason)s (failed %(num)s times in a row)",
            attempts,
            reason=reason,
        )
        pause(session, campaign_id, in_a_row, report)
        return
    session.execute(
        update(Campaign.__table__)
        .where(Campaign.id == campaign_id)
        .values(retry_at=now + timedelta(seconds=5 * 2 ** (attempts - 1)))
    )
    log.warning("campaign %s: %s; retrying later", campaign_id, reason)
    session.commit()
