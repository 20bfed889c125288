"""Gateway calls a person waits for: "Test connection", the balance's "Refresh now" and the
sender names' sync.

Each has a total deadline (``GATEWAY_INTERACTIVE_TIMEOUT``), holds no database connection
while it waits for the gateway (a slow gateway must not take the pool, and with it every team's
pages, down), and runs one at a time per team, with a short cooldown after
(``GATEWAY_INTERACTIVE_COOLDOWN``): a column of the team's row, taken by one atomic UPDATE, so
this holds across web processes. A turn that a dead process never gave back ends by itself when
its deadline has passed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask_babel import gettext as _
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, scoped_session

from webapp import iqsms
from webapp.domain import balance, gateways
from webapp.models import Team, utcnow

T = TypeVar("T")
# A turn outlives its call's deadline by this much, for the time around the call.
TURN_SLACK = timedelta(seconds=10)


@dataclass(frozen=True)
class Refused:
    """Another call of the team runs, or ran too recently: the message says which."""

    message: str


def release_connection(session: Session | scoped_session) -> None:
    """End the session's transaction and give its connection back to the pool, keeping the
    objects it loaded (the team, the signed-in person) readable without the database."""
    real = session() if isinstance(session, scoped_session) else session
    expire = real.expire_on_commit
    real.expire_on_commit = False
    try:
        real.commit()
    finally:
        real.expire_on_commit = expire


def take_turn(session: Session, team_id: int, now: datetime, seconds: float) -> Refused | None:
    """Take the team's turn for a call of at most ``seconds`` (committed), or say why not.
    Holds no connection afterwards."""
    release_connection(session)  # a fresh transaction: SQLite cannot upgrade an old read
    taken = session.execute(
        update(Team.__table__)
        .where(
            Team.id == team_id,
            or_(Team.gateway_call_until.is_(None), Team.gateway_call_until <= now),
        )
        .values(
            gateway_call_running=True,
            gateway_call_until=now + timedelta(seconds=seconds) + TURN_SLACK,
        )
    ).rowcount
    running, until = (
        (None, None)
        if taken
        else session.execute(
            select(Team.gateway_call_running, Team.gateway_call_until).where(Team.id == team_id)
        ).one()
    )
    release_connection(session)
    if taken:
        return None
    if running:
        return Refused(_("A check is already running for this team. Wait for it to finish."))
    wait = max(1, math.ceil((until - now).total_seconds())) if until else 1
    return Refused(_("Try again in %(seconds)d s.", seconds=wait))


def end_turn(session: Session, team_id: int, now: datetime, cooldown: float) -> None:
    """Give the turn back; the next may start after the cooldown. The caller commits."""
    session.execute(
        update(Team.__table__)
        .where(Team.id == team_id)
        .values(gateway_call_running=False, gateway_call_until=now + timedelta(seconds=cooldown))
    )


def in_turn(
    session: Session, config: gateways.Config, team_id: int, call: Callable[[], T]
) -> T | Refused:
    """``call()`` in the team's turn, with no database connection held meanwhile; the turn
    is given back in a new transaction, which the caller commits."""
    refused = take_turn(session, team_id, utcnow(), gateways.interactive_timeout(config))
    if refused is not None:
        return refused
    try:
        return call()
    finally:
        end_turn(session, team_id, utcnow(), float(config["GATEWAY_INTERACTIVE_COOLDOWN"]))


@dataclass(frozen=True)
class Credentials:
    """The account "Test connection" tries as the form holds it (its password typed, or the
    saved one when the URL and login are those it was saved with)."""

    url: str
    login: str
    password: str


def test_connection(
    session: Session, config: gateways.Config, team: Team, credentials: Credentials | None
) -> gateways.ConnectionCheck:
    """Call balance.json for the team's saved gateway (``credentials`` None) or for the
    account a person typed, in the team's turn; the caller commits (a sandbox account made
    again on the way stays made)."""

    def check() -> gateways.ConnectionCheck:
        client: Any
        if credentials is None:
            client = gateways.client_for(config, team, interactive=True)
        else:
            c = credentials
            client = iqsms.Client(
                c.login, c.password, c.url, **gateways.interactive_options(config)
            )
        with client:
            return gateways.check_connection(client)

    outcome = in_turn(session, config, team.id, check)
    if isinstance(outcome, Refused):
        return gateways.ConnectionCheck(False, outcome.message)
    return outcome


def refresh_balance(
    session: Session, config: gateways.Config, team: Team, interval: timedelta
) -> balance.Outcome:
    """Read the team's balance now, in its turn, and store it (commits)."""

    def check() -> gateways.ConnectionCheck:
        with gateways.client_for(config, team, interactive=True) as client:
            return gateways.check_connection(client)

    outcome = in_turn(session, config, team.id, check)
    if isinstance(outcome, Refused):
        session.commit()
        return balance.Outcome(False, outcome.message)
    now = utcnow()
    team.balance_checked_at = now  # a campaign finished before now needs no second reading
    return balance.record_reading(session, team, outcome, now, interval)
