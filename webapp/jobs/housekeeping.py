"""Housekeeping: forget old sign-in attempts, which only matter inside the throttling window."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import delete
from sqlalchemy.orm import Session

from webapp.extensions import db
from webapp.models import LoginAttempt, utcnow

KEEP_LOGIN_ATTEMPTS = timedelta(days=7)


def prune_login_attempts(session: Session, now: datetime) -> int:
    """Delete sign-in attempts older than a week; returns how many went."""
    result = session.execute(
        delete(LoginAttempt).where(LoginAttempt.created_at < now - KEEP_LOGIN_ATTEMPTS)
    )
    session.commit()
    return result.rowcount


def run(app: Flask) -> None:
    prune_login_attempts(db.session, utcnow())
