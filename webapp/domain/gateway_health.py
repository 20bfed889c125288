"""Whether a team's gateway answers: the worker notes each call's outcome on the team row, so
the campaign page can say "the gateway has not answered for 2 minutes" while calls time out or
cannot connect, and the dispatch tick gives such a team one sending loop, not its full share.

Writes are rare: a team is marked once when its gateway goes quiet, once when it answers again,
and its last answer is refreshed at most every ``ANSWER_RESOLUTION``. Each note is the first
write of its transaction (the team row before messages and campaigns, the order claims take
too, so that no two transactions wait on each other in a circle).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, update
from sqlalchemy.orm import Session

from webapp import iqsms
from webapp.iqsms.errors import (
    AddressRefused,
    DeadlineExceeded,
    MalformedReply,
    NotIqsmsReply,
    RedirectRefused,
    ReplyTooLarge,
)
from webapp.models import Team

ANSWER_RESOLUTION = timedelta(seconds=60)


# Failed calls that still had an answer (or never tried): a refused address, a redirect, a
# reply too large, not the API's or with absurd values.
_ANSWERED = (AddressRefused, RedirectRefused, ReplyTooLarge, NotIqsmsReply, MalformedReply)


def not_answering(exc: BaseException | None) -> bool:
    """Whether a failed call means the gateway did not answer: it could not be reached, no
    complete reply came before the deadline, or the connection was lost waiting. An error
    reply, an HTTP error status or a garbled body is an answer."""
    if not isinstance(exc, iqsms.TransportError) or isinstance(exc, _ANSWERED):
        return False
    if isinstance(exc, iqsms.NotSentError | DeadlineExceeded):
        return True
    # A lost connection carries the socket's error; an HTTP status or a bad body has none, or
    # the JSON decoder's.
    return exc.__cause__ is not None and not isinstance(exc.__cause__, ValueError)


def note(
    session: Session | Connection, team_id: int, exc: BaseException | None, now: datetime
) -> None:
    """Note a call's outcome (``exc`` None for a reply): quiet, or answering. The caller
    commits."""
    if not_answering(exc):
        session.execute(
            update(Team.__table__)
            .where(Team.id == team_id, Team.gateway_silent_since.is_(None))
            .values(gateway_silent_since=now)
        )
        return
    session.execute(
        update(Team.__table__)
        .where(
            Team.id == team_id,
            Team.gateway_silent_since.isnot(None)
            | Team.gateway_answered_at.is_(None)
            | (Team.gateway_answered_at < now - ANSWER_RESOLUTION),
        )
        .values(gateway_silent_since=None, gateway_answered_at=now)
    )


class Notes:
    """A sending loop's notes of its team's gateway (webapp/domain/sending.py): a failure is
    noted at once, an answer at most once a ``per`` seconds (the note is a statement: a round
    trip for each batch, which almost never changes the row). Another worker's note of
    silence is thus cleared by this loop's answers within ``per`` seconds."""

    def __init__(self, per: float = 1.0) -> None:
        self.per = per
        self.answered = -math.inf  # time.monotonic() of the last answer noted

    def note(
        self, sql: Session | Connection, team_id: int, exc: BaseException | None, now: datetime
    ) -> None:
        if exc is None:
            if time.monotonic() - self.answered < self.per:
                return
            self.answered = time.monotonic()
        else:
            self.answered = -math.inf
        note(sql, team_id, exc, now)


@dataclass(frozen=True)
class Silence:
    """A gateway that has not answered since ``since``; it last answered at ``last_answer``
    (None: not since this was first noted)."""

    since: datetime
    last_answer: datetime | None
    minutes: int


def silence(team: Team, now: datetime) -> Silence | None:
    """The team's gateway's silence as a page shows it, or None while it answers."""
    since = team.gateway_silent_since
    if since is None:
        return None
    minutes = max(0, int((now - since).total_seconds() // 60))
    return Silence(since, team.gateway_answered_at, minutes)
