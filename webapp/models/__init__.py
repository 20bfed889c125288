"""All models, imported here so that Alembic and ``db.create_all`` see every table."""

from webapp.models.team import Team
from webapp.models.types import UTCDateTime, utcnow
from webapp.models.user import User

__all__ = ["Team", "UTCDateTime", "User", "utcnow"]
