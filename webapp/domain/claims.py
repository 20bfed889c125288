"""Claims: a batch of a campaign's queued messages marked ``sending`` and committed before
its send.json call (webapp/domain/sending.py), with its place in the campaign's send order.

On PostgreSQL the claim skips rows other workers have locked, so workers share a campaign,
and it is one statement. The team's send rate is taken first (:mod:`send_rate`): locks are
taken team, messages, campaign, the order of every transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, Integer, bindparam, func, select, true, update
from sqlalchemy.orm import Session

from webapp import bulk, iqsms
from webapp.domain import send_rate
from webapp.domain.counters import shifted
from webapp.domain.send_calls import Claimed, Sending
from webapp.models import Campaign, CampaignState, Message, MessageState, Team, UTCDateTime

BATCH = iqsms.MAX_SEND


def sendable_now(now: Any) -> tuple:
    """What makes a campaign's messages sendable now: sending, some queued, not backing off."""
    return (
        Campaign.state == CampaignState.SENDING,
        Campaign.queued > 0,
        (Campaign.retry_at.is_(None)) | (Campaign.retry_at <= now),
    )


def claim_batch(
    session: Session,
    sending: Sending,
    now: datetime,
    batch_size: int = BATCH,
    after: int = 0,
    direct: Connection | None = None,
) -> Claimed | None:
    """Mark up to ``batch_size`` queued messages ``sending`` and commit; None if none may go
    now (nothing queued, the campaign no longer sending, or the team's send rate used up).

    ``after``: the last id this loop claimed. On PostgreSQL the index on (campaign, state,
    id) keeps an entry under ``queued`` for every claimed row until vacuum: a claim starting
    from the campaign's first id would step over all of them, every time. Rows requeued
    below it wait for the loop's next slice (a requeue comes with a back-off anyway).

    ``direct``: a connection in autocommit mode (PostgreSQL, a sending loop's): a claim with
    no send rate to take first is its one statement there, committed as it runs."""
    if direct is not None and sending.send_rate <= 0:
        rows, seq = _claim_in_one_statement(direct, sending, now, batch_size, after)
        return Claimed(sending, sorted(rows), seq) if rows and seq is not None else None
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
        _mark_sending(sending, now, wanted, after).execution_options(synchronize_session=False)
    ).all()
    if not rows:
        return [], None
    counted = shifted({MessageState.QUEUED: -len(rows), MessageState.SENDING: len(rows)})
    seq = session.scalar(
        update(Campaign.__table__)
        .where(Campaign.id == sending.campaign_id, *sendable_now(now))
        .values({Campaign.claims: Campaign.claims + 1, **counted})
        .returning(Campaign.claims)
    )
    return [tuple(row) for row in rows], seq


def _claim_in_one_statement(
    sql: Session | Connection, sending: Sending, now: datetime, wanted: int, after: int
) -> tuple[list[tuple[int, str, str]], int | None]:
    """:func:`_claim` as one statement (PostgreSQL's data-modifying WITH), so that it can run
    alone, in autocommit (a loop's ``direct`` connection: one round trip for the claim, its
    commit included). The next queued rows are locked first; the campaign's row is written
    from their count, so it is locked after them (the order every transaction takes), and
    only if the campaign is still sendable; the rows are marked ``sending`` only if it was.
    Nothing changes, and no row comes back, if none was found or the campaign may not send."""
    connection = sql if isinstance(sql, Connection) else sql.connection()
    parameters = {"campaign_id": sending.campaign_id, "now": now, "wanted": wanted}
    rows = bulk.run_built(connection, _claim_statement, **parameters, after=after).all()
    return [(row[0], row[1], row[2]) for row in rows], (rows[0][3] if rows else None)


def _claim_statement() -> Any:
    now = bindparam("now", type_=UTCDateTime)
    campaign_id = bindparam("campaign_id", type_=Integer)
    ids = _next_queued(
        campaign_id, now, bindparam("wanted", type_=Integer), bindparam("after", type_=BigInteger)
    ).cte("ids")
    count = select(func.count()).select_from(ids).scalar_subquery()
    seq = (
        update(Campaign.__table__)
        .where(Campaign.id == campaign_id, *sendable_now(now), count > 0)
        .values(
            {
                Campaign.claims: Campaign.claims + 1,
                Campaign.updated_at: now,  # a WITH's UPDATE gets no onupdate value
                **shifted({MessageState.QUEUED: -count, MessageState.SENDING: count}),
            }
        )
        .returning(Campaign.claims)
        .cte("seq")
    )
    claimed = (
        update(Message.__table__)
        .where(Message.id.in_(select(ids.c.id)), select(seq.c.claims).exists())
        .values(state=MessageState.SENDING, claimed_at=now, updated_at=now)
        .returning(Message.id, Message.phone, Message.text)
        .cte("claimed")
    )
    return select(claimed.c.id, claimed.c.phone, claimed.c.text, seq.c.claims).join_from(
        claimed, seq, true()
    )


def _mark_sending(sending: Sending, now: datetime, wanted: int, after: int) -> Any:
    """The UPDATE that claims the next queued messages, returning (id, phone, text)."""
    return (
        update(Message.__table__)
        .where(
            Message.id.in_(_next_queued(sending.campaign_id, now, wanted, after).scalar_subquery())
        )
        .values(state=MessageState.SENDING, claimed_at=now, updated_at=now)
        .returning(Message.id, Message.phone, Message.text)
    )


def _next_queued(campaign_id: Any, now: Any, wanted: Any, after: Any) -> Any:
    """The ids of the campaign's next ``wanted`` queued messages past ``after`` that no other
    worker holds, if the campaign is sending and not backing off (a loop whose call failed has
    set ``retry_at``, and the other loops' claims of this campaign wait for it too)."""
    still_sending = (
        select(Campaign.id).where(Campaign.id == campaign_id, *sendable_now(now)).exists()
    )
    return (
        select(Message.id)
        .where(
            Message.campaign_id == campaign_id,
            Message.state == MessageState.QUEUED,
            Message.id > after,
            still_sending,
        )
        .order_by(Message.id)
        .limit(wanted)
        .with_for_update(skip_locked=True, of=Message)
    )
