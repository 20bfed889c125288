"""A team's send rate, shared by every worker and loop: a token bucket on the team's row, and
how many calls in flight a loop keeps for it (webapp/domain/sending.py)."""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from webapp.iqsms import MAX_SEND
from webapp.models import Team


def calls_in_flight(bound: int, send_rate: int, batch_size: int = MAX_SEND) -> int:
    """How many calls of a campaign one loop keeps in flight: ``bound``, but for a team with
    a send rate no more than a second's worth of its batches (a team at 500/s: 3, at 50/s: 1);
    its token bucket would only leave more claims waiting, and the gateway is not flooded."""
    if send_rate <= 0:
        return max(1, bound)
    return max(1, min(bound, math.ceil(send_rate / max(1, batch_size))))


def take_allowance(session: Session, team_id: int, rate: int, wanted: int, now: datetime) -> int:
    """How many messages the team may send now under its send rate: a token bucket of one
    second's worth, kept on the team row so every worker and loop shares it.

    The row is locked before the bucket is read, by an UPDATE that touches it: on SQLite
    (which ignores SELECT ... FOR UPDATE) that begins the write transaction, so the read that
    follows sees every loop's last take; on PostgreSQL an UPDATE of non-key columns takes FOR
    NO KEY UPDATE. Not FOR UPDATE: that would also block the foreign-key checks of rows that
    name the team (usage periods written by another loop's results while it holds its
    campaign's row): a deadlock with this loop's claim waiting for that campaign row."""
    allowance, last = session.execute(
        update(Team.__table__)
        .where(Team.id == team_id)
        .values(send_allowance=Team.send_allowance)
        .returning(Team.send_allowance, Team.send_allowance_at)
    ).one()
    capacity = float(max(rate, 1))
    if last is None:
        allowance = capacity
    else:
        allowance = min(capacity, allowance + (now - last).total_seconds() * rate)
    granted = max(0, min(wanted, int(allowance)))
    session.execute(
        update(Team.__table__)
        .where(Team.id == team_id)
        .values(send_allowance=allowance - granted, send_allowance_at=now)
    )
    return granted
