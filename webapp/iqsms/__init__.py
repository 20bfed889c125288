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
    AuthorizationError,
    GatewayError,
    IqsmsError,
    NotSentError,
    OutcomeUnknownError,
    RequestInvalid,
    TransportError,
)
from .parts import TextInfo, analyse, count_parts
from .statuses import SenderStatus, Status, StatusInfo, describe
from .types import Balance, MessageStatus, OutgoingMessage, Sender, SendResult

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_QUEUE",
    "MAX_SEND",
    "MAX_STATUS",
    "AuthorizationError",
    "Balance",
    "Client",
    "GatewayError",
    "IqsmsError",
    "MessageStatus",
    "NotSentError",
    "OutcomeUnknownError",
    "OutgoingMessage",
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
