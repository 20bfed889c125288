"""Housekeeping: forget old sign-in attempts, which only matter inside the throttling window."""

from __future__ import annotations

from flask import Flask

from webapp.domain import accounts
from webapp.extensions import db
from webapp.models import utcnow


def run(app: Flask) -> None:
    accounts.prune_login_attempts(db.session, utcnow())
