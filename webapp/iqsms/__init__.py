"""A binding for the iQSMS JSON API v2. It imports neither Flask nor the database."""

from .client import (
    DEFAULT_BASE_URL,
    MAX_QUEUE,
    MAX_SEND,
    MAX_STATUS,
    Client,
    batches,
    format_schedule_time,
    valid_queue_name,
)
from .errors import (
    AddressRefused,
    AuthorizationError,
    DeadlineExceeded,
    GatewayError,
    IqsmsError,
    MalformedReply,
    NotIqsmsReply,
    NotSentError,
    OutcomeUnknownError,
    RedirectRefused,
    ReplyTooLarge,
    RequestInvalid,
    TransportError,
)
from .parts import TextInfo, analyse, count_parts
from .policy import GatewayPolicy
from .statuses import SenderStatus, Status, StatusInfo, describe
from .types import Balance, MessageStatus, OutgoingMessage, Sender, SendResult

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_QUEUE",
    "MAX_SEND",
    "MAX_STATUS",
    "AddressRefused",
    "AuthorizationError",
    "Balance",
    "Client",
    "DeadlineExceeded",
    "GatewayError",
    "GatewayPolicy",
    "IqsmsError",
    "MalformedReply",
    "MessageStatus",
    "NotIqsmsReply",
    "NotSentError",
    "OutcomeUnknownError",
    "OutgoingMessage",
    "RedirectRefused",
    "ReplyTooLarge",
    "RequestInvalid",
    "SendResult",
    "Sender",
    "SenderStatus",
    "Status",
    "StatusInfo",
    "TextInfo",
    "TransportError",
    "analyse",
    "batches",
    "count_parts",
    "describe",
    "format_schedule_time",
    "valid_queue_name",
]
