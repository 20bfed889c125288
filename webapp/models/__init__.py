"""All models, imported here so that Alembic and ``db.create_all`` see every table."""

from webapp.models.audit import AuditEvent, LoginAttempt
from webapp.models.team import GatewayMode, Invitation, Membership, Role, Team
from webapp.models.types import UTCDateTime, utcnow
from webapp.models.user import User, new_session_token

__all__ = [
    "AuditEvent",
    "GatewayMode",
    "Invitation",
    "LoginAttempt",
    "Membership",
    "Role",
    "Team",
    "UTCDateTime",
    "User",
    "new_session_token",
    "utcnow",
]
