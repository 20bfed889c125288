"""A campaign's per-state message counters, moved in the same transaction as the messages.

The campaign page reads these instead of counting millions of rows; every code path that
changes message states in bulk shifts the counters by the same amounts.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import update
from sqlalchemy.orm import Session

from webapp.models import COUNTED_STATES, Campaign


def shift(session: Session, campaign_id: int, changes: Mapping[str, int]) -> None:
    """Add ``changes`` ({state: delta}) to the campaign's counters in one UPDATE.

    Expressions like ``queued = queued - 200`` are applied by the database, so concurrent
    workers never lose each other's changes.
    """
    values = {}
    for state, delta in changes.items():
        if state not in COUNTED_STATES:
            raise ValueError(f"not a counted state: {state}")
        if delta:
            column = getattr(Campaign, state)
            values[column] = column + delta
    if values:
        # Core, not ORM: no search of the session for objects to synchronise.
        session.execute(update(Campaign.__table__).where(Campaign.id == campaign_id).values(values))


def move(session: Session, campaign_id: int, from_state: str, to_state: str, count: int) -> None:
    """``count`` messages went from one state to another."""
    if count and from_state != to_state:
        shift(session, campaign_id, {from_state: -count, to_state: count})
