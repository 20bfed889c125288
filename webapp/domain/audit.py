"""Recording what happened in a team, for its owners and admins to read.

Domain code records events on the session it works in; the web layer stamps each new event with
the address of the request that caused it (``webapp.app``), so nothing here reads the request.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from webapp.models import AuditEvent, User


def record(
    session: Session, team_id: int, action: str, user: User | None = None, **details: Any
) -> AuditEvent:
    """Add an audit event to ``session``; the caller's commit makes it stick."""
    event = AuditEvent(
        team_id=team_id,
        user_id=user.id if user is not None else None,
        action=action,
        details=details,
        ip="",
    )
    session.add(event)
    return event
