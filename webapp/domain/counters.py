"""A campaign's per-state message counters, moved in the same transaction as the messages.

The campaign page reads these instead of counting millions of rows; every code path that
changes message states in bulk shifts the counters by the same amounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from webapp.models import COUNTED_STATES, Campaign


def shift(session: Session, campaign_id: int, changes: Mapping[str, int]) -> None:
    """Add ``changes`` ({state: delta}) to the campaign's counters in one UPDATE.

    Expressions like ``queued = queued - 200`` are applied by the database, so concurrent
    workers never lose each other's changes.
    """
    if values := shifted(changes):
        # Core, not ORM: no search of the session for objects to synchronise.
        session.execute(update(Campaign.__table__).where(Campaign.id == campaign_id).values(values))


def shifted(changes: Mapping[str, Any]) -> dict[Any, Any]:
    """The SET clause of :func:`shift`'s UPDATE, for an UPDATE of the campaign's row that
    changes more than its counters (one statement, not two)."""
    values = {}
    for state, delta in changes.items():
        if state not in COUNTED_STATES:
            raise ValueError(f"not a counted state: {state}")
        if not isinstance(delta, int) or delta:  # an int, or a SQL expression of a count
            column = getattr(Campaign, state)
            values[column] = column + delta
    return values


def move(session: Session, campaign_id: int, from_state: str, to_state: str, count: int) -> None:
    """``count`` messages went from one state to another."""
    if count and from_state != to_state:
        shift(session, campaign_id, {from_state: -count, to_state: count})
