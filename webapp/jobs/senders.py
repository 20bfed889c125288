"""The hourly sender-name tick: every team's names synced from the gateway's senders.json."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp import iqsms
from webapp.domain import gateways, senders
from webapp.extensions import db
from webapp.models import Team

log = logging.getLogger(__name__)


def sync_all(session: Session, client_for: Callable[[Team], iqsms.Client]) -> dict[int, str]:
    """Sync every team's sender names, committing team by team.

    A team whose gateway fails (wrong password, gateway down) is logged and skipped: it does
    not stop the others. Returns the failures, {team id: reason}.
    """
    failures: dict[int, str] = {}
    for team_id in session.scalars(select(Team.id).order_by(Team.id)).all():
        team = session.get(Team, team_id)
        if team is None:  # deleted meanwhile
            continue
        try:
            with client_for(team) as client:
                senders.sync(session, team, client)
            session.commit()
        except Exception as exc:
            session.rollback()
            failures[team_id] = str(exc) or type(exc).__name__
            log.warning("sender names of team %s not synced: %s", team_id, failures[team_id])
    return failures


def run(app: Flask) -> None:
    sync_all(db.session, gateways.client_factory(app.config))
