"""All models, imported here so that Alembic and ``db.create_all`` see every table."""

from webapp.models.audit import AuditEvent, LoginAttempt
from webapp.models.balance import BalanceSnapshot, UsagePeriod
from webapp.models.campaign import (
    COUNTED_STATES,
    DELIVERY_OUTCOMES,
    FAILURE_STATES,
    LIVE_STATES,
    LIVE_STATES_SQL,
    MOVING_STATES,
    RESENDABLE_STATES,
    SETTLED_STATES,
    UNDELIVERED_STATES,
    Campaign,
    CampaignState,
    Lease,
    Message,
    MessageState,
    PendingStatus,
    message_state_label,
)
from webapp.models.contact import Contact, ContactImport, ContactList, ImportState, StopListEntry
from webapp.models.message_template import MessageTemplate
from webapp.models.notification import (
    Delivery,
    MailState,
    Notification,
    NotificationKind,
    NotificationSetting,
)
from webapp.models.operations import GatewayCallTotal
from webapp.models.sender import SenderName
from webapp.models.team import GatewayMode, Invitation, Membership, Role, Team
from webapp.models.two_factor import RecoveryCode, TwoFactor
from webapp.models.types import UTCDateTime, utcnow
from webapp.models.user import User, new_session_token

__all__ = [
    "COUNTED_STATES",
    "DELIVERY_OUTCOMES",
    "FAILURE_STATES",
    "LIVE_STATES",
    "LIVE_STATES_SQL",
    "MOVING_STATES",
    "RESENDABLE_STATES",
    "SETTLED_STATES",
    "UNDELIVERED_STATES",
    "AuditEvent",
    "BalanceSnapshot",
    "Campaign",
    "CampaignState",
    "Contact",
    "ContactImport",
    "ContactList",
    "Delivery",
    "GatewayCallTotal",
    "GatewayMode",
    "ImportState",
    "Invitation",
    "Lease",
    "LoginAttempt",
    "MailState",
    "Membership",
    "Message",
    "MessageState",
    "MessageTemplate",
    "Notification",
    "NotificationKind",
    "NotificationSetting",
    "PendingStatus",
    "RecoveryCode",
    "Role",
    "SenderName",
    "StopListEntry",
    "Team",
    "TwoFactor",
    "UTCDateTime",
    "UsagePeriod",
    "User",
    "message_state_label",
    "new_session_token",
    "utcnow",
]
