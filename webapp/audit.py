"""Recording what happened in a team, for its owners and admins to read."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request

from webapp.extensions import db
from webapp.models import AuditEvent, User


def client_ip() -> str:
    """The address of the person making the current request ('' outside a request)."""
    return (request.remote_addr or "") if has_request_context() else ""


def record(team_id: int, action: str, user: User | None = None, **details: Any) -> AuditEvent:
    """Add an audit event to the session; the caller's commit makes it stick."""
    event = AuditEvent(
        team_id=team_id,
        user_id=user.id if user is not None else None,
        action=action,
        details=details,
        ip=client_ip(),
    )
    db.session.add(event)
    return event
