"""One send.json call: a claimed batch sent, and its outcome stored.

- A request that may have reached the gateway (timeout, reset, HTTP error, garbage) leaves its
  messages ``unknown``: never resent automatically; only a request that provably never left
  (refused connection, DNS) or that the gateway refused whole (an ``error`` reply) is requeued.
- Wrong credentials or an empty balance pause the campaign with the reason, instead of
  rejecting thousands of messages one by one; other failed calls back off, then pause.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from webapp import bulk, gateway_texts, iqsms, texts
from webapp.domain import campaigns, gateway_health, gateways, statuses, usage
from webapp.domain.counters import move
from webapp.iqsms.parts import count_parts
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
    """A batch claimed for sending: (id, phone, text) rows of one campaign."""

    sending: Sending
    rows: list[tuple[int, str, str]]


def send_batch(
    session: Session,
    claimed: Claimed,
    client: iqsms.Client,
    clock: Clock,
    report: DispatchReport,
    first_check: timedelta,
) -> bool:
    """One send.json call for a claimed batch, and its outcome stored (accepted messages get
    their first status check ``first_check`` later); False when the campaign must wait
    (paused, or backing off after a failed call)."""
    sending = claimed.sending
    campaign_id = sending.campaign_id
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
    ids = [row[0] for row in claimed.rows]
    try:
        result = client.send(
            messages, status_queue_name=sending.queue_name, show_billing_details=True
        )
    except iqsms.AuthorizationError as exc:
        gateway_health.note(session, sending.team_id, exc, clock())
        requeue(session, campaign_id, ids, clock(), report)
        if sending.sandbox and gateways.reprovision(client):
            session.commit()  # the sandbox had lost the account; it is back, try again
            return True
        pause(session, campaign_id, gateways.explanation(exc, client.base_url), report)
        return False
    except (iqsms.GatewayError, iqsms.NotSentError) as exc:
        # An error reply processed nothing, a request never sent reached nothing: the batch
        # is safe to send again, later.
        gateway_health.note(session, sending.team_id, exc, clock())
        requeue(session, campaign_id, ids, clock(), report)
        why = gateways.explanation(exc, client.base_url)
        back_off(session, campaign_id, clock(), why, report)
        return False
    except iqsms.TransportError as exc:
        gateway_health.note(session, sending.team_id, exc, clock())
        mark_unknown(session, campaign_id, ids, clock(), str(exc)[:64])
        report.unknown += len(ids)
        why = gateways.explanation(exc, client.base_url)
        back_off(session, campaign_id, clock(), why, report)
        return False
    gateway_health.note(session, sending.team_id, None, clock())
    return store_results(session, claimed, result, clock(), report, first_check)


@dataclass
class _Outcome:
    """A call's reply, sorted: rows to write for accepted and rejected messages, the ids of
    those refused for want of balance and of those the reply did not mention."""

    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    no_balance: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    sent: usage.Sent = field(default_factory=usage.Sent)


def store_results(
    session: Session,
    claimed: Claimed,
    result: iqsms.SendResult,
    now: datetime,
    report: DispatchReport,
    first_check: timedelta,
) -> bool:
    """Every message's send-time status, in bulk; an empty balance pauses the campaign
    (and returns False)."""
    sending = claimed.sending
    outcome = _sort_results(claimed, result)
    if outcome.accepted or outcome.rejected:
        _write_results(session, outcome, now, now + first_check)
    _count_results(session, sending, outcome, now)
    if outcome.missing:
        # The gateway answered without these: it may or may not have taken them.
        why = gateway_texts.NO_STATUS_IN_REPLY
        mark_unknown(session, sending.campaign_id, outcome.missing, now, why)
    # A status may have come through the queue before this result was stored.
    statuses.apply_pending(
        session, sending.team_id, [row["smsc"] for row in outcome.accepted if row["smsc"]], now
    )
    report.accepted += len(outcome.accepted)
    report.rejected += len(outcome.rejected)
    report.unknown += len(outcome.missing)
    if outcome.no_balance:
        requeue(session, sending.campaign_id, outcome.no_balance, now, report)
        pause(session, sending.campaign_id, NO_BALANCE, report)
        return False
    session.commit()
    return True


def _sort_results(claimed: Claimed, result: iqsms.SendResult) -> _Outcome:
    by_client_id = result.by_client_id()
    price = claimed.sending.price_per_part
    outcome = _Outcome()
    sent = outcome.sent
    for message_id, _phone, body in claimed.rows:
        status = by_client_id.get(str(message_id))
        if status is None:
            outcome.missing.append(message_id)
        elif status.accepted:
            parts = status.sms_count if status.sms_count is not None else count_parts(body)
            estimated = status.cost is None
            cost = price * parts if estimated else status.cost
            sent.parts += parts
            sent.cost += cost
            if estimated:
                sent.estimated_parts += parts
                sent.estimated_cost += cost
            outcome.accepted.append(
                {
                    "id": message_id,
                    "smsc": status.smsc_id,
                    "parts": parts,
                    "cost": cost,
                    "estimated": estimated,
                }
            )
        elif status.status == iqsms.Status.NOT_ENOUGH_BALANCE:
            outcome.no_balance.append(message_id)
        else:
            outcome.rejected.append({"id": message_id, "status": status.status[:64]})
    return outcome


ACCEPTED_UPDATE = (
    f"UPDATE messages SET state = '{M.ACCEPTED}', gateway_status = 'accepted', smsc_id = :smsc,"
    " parts = :parts, cost = :cost, cost_estimated = :estimated, sent_at = :now,"
    f" updated_at = :now, next_check_at = :check_at WHERE id = :id AND state = '{M.SENDING}'"
)
REJECTED_UPDATE = (
    f"UPDATE messages SET state = '{M.REJECTED}', gateway_status = :status, sent_at = :now,"
    f" final_at = :now, updated_at = :now WHERE id = :id AND state = '{M.SENDING}'"
)


def _write_results(session: Session, outcome: _Outcome, now: datetime, check_at: datetime) -> None:
    """The driver's executemany with raw values: this runs for every batch, and SQLAlchemy's
    per-row parameter processing costs more than the statement itself."""
    raw_now = bulk.db_time(session, now)
    raw_check_at = bulk.db_time(session, check_at)
    sqlite = session.get_bind().dialect.name == "sqlite"
    for row in outcome.accepted:
        row["now"], row["check_at"] = raw_now, raw_check_at
        if sqlite:  # the sqlite3 driver takes no Decimal
            row["cost"] = str(row["cost"])
    for row in outcome.rejected:
        row["now"] = raw_now
    bulk.executemany(session, ACCEPTED_UPDATE, outcome.accepted)
    bulk.executemany(session, REJECTED_UPDATE, outcome.rejected)


def _count_results(session: Session, sending: Sending, outcome: _Outcome, now: datetime) -> None:
    """One statement for the counters, the spending, and the end of any back-off; and the
    team's usage for the period."""
    accepted, rejected, sent = len(outcome.accepted), len(outcome.rejected), outcome.sent
    session.execute(
        update(Campaign.__table__)
        .where(Campaign.id == sending.campaign_id)
        .values(
            sending=Campaign.sending - (accepted + rejected),
            accepted=Campaign.accepted + accepted,
            rejected=Campaign.rejected + rejected,
            parts=Campaign.parts + sent.parts,
            cost=Campaign.cost + sent.cost,
            failed_attempts=0,
            retry_at=None,
        )
    )
    sent.accepted, sent.rejected = accepted, rejected
    usage.record_sent(session, sending.team_id, sending.campaign_id, now, sent)


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


def back_off(
    session: Session, campaign_id: int, now: datetime, reason: texts.Text, report: DispatchReport
) -> None:
    """Wait before the next call (5 s, doubling); after several failures in a row, pause."""
    attempts = session.scalar(
        update(Campaign.__table__)
        .where(Campaign.id == campaign_id)
        .values(failed_attempts=Campaign.failed_attempts + 1)
        .returning(Campaign.failed_attempts)
    )
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
