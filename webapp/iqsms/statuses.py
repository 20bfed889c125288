"""The iQSMS status vocabulary: every status string the API uses, and what each one means.

Statuses arrive as plain strings. A gateway may one day send a string this module does not know,
so callers keep the raw string and ask :func:`describe` what it means instead of trusting an enum.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Phase(StrEnum):
    """Where in a message's life a status is reported."""

    SEND = "send"  # in the reply to send.json
    DELIVERY = "delivery"  # from status.json and statusQueue.json
    UNKNOWN = "unknown"


class Status(StrEnum):
    """Every per-message status of iqsms-api.md."""

    # send.json: acceptance or rejection of each message
    ACCEPTED = "accepted"
    INVALID_PHONE = "invalid mobile phone"
    TEXT_EMPTY = "text is empty"
    SENDER_INVALID = "sender address invalid"
    WAPURL_INVALID = "wapurl invalid"
    SCHEDULE_INVALID = "invalid schedule time format"
    QUEUE_NAME_INVALID = "invalid status queue name"
    NOT_ENOUGH_BALANCE = "not enough balance"
    # status.json / statusQueue.json: delivery progress
    QUEUED = "queued"
    SMSC_SUBMIT = "smsc submit"
    DELIVERED = "delivered"
    DELIVERY_ERROR = "delivery error"
    SMSC_REJECT = "smsc reject"
    INCORRECT_ID = "incorrect id"


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """What a status string means: whether it can still change and whether it is good news."""

    status: str
    phase: Phase
    final: bool
    success: bool
    meaning: str
    known: bool = True


_INFO: dict[str, StatusInfo] = {
    info.status: info
    for info in (
        StatusInfo(Status.ACCEPTED, Phase.SEND, False, True, "taken by the service"),
        StatusInfo(Status.INVALID_PHONE, Phase.SEND, True, False, "the number is malformed"),
        StatusInfo(Status.TEXT_EMPTY, Phase.SEND, True, False, "the text is empty"),
        StatusInfo(
            Status.SENDER_INVALID, Phase.SEND, True, False, "sender name unknown or not approved"
        ),
        StatusInfo(Status.WAPURL_INVALID, Phase.SEND, True, False, "bad WAP-push link"),
        StatusInfo(Status.SCHEDULE_INVALID, Phase.SEND, True, False, "bad schedule time"),
        StatusInfo(Status.QUEUE_NAME_INVALID, Phase.SEND, True, False, "bad status queue name"),
        StatusInfo(Status.NOT_ENOUGH_BALANCE, Phase.SEND, True, False, "no money or SMS left"),
        StatusInfo(Status.QUEUED, Phase.DELIVERY, False, False, "waiting in the provider's queue"),
        StatusInfo(Status.SMSC_SUBMIT, Phase.DELIVERY, False, False, "handed to the operator"),
        StatusInfo(Status.DELIVERED, Phase.DELIVERY, True, True, "delivered to the phone"),
        StatusInfo(Status.DELIVERY_ERROR, Phase.DELIVERY, True, False, "not delivered in time"),
        StatusInfo(Status.SMSC_REJECT, Phase.DELIVERY, True, False, "refused by the operator"),
        StatusInfo(Status.INCORRECT_ID, Phase.DELIVERY, True, False, "no such message id"),
    )
}

SEND_STATUSES: frozenset[str] = frozenset(s for s, i in _INFO.items() if i.phase is Phase.SEND)
DELIVERY_STATUSES: frozenset[str] = frozenset(
    s for s, i in _INFO.items() if i.phase is Phase.DELIVERY
)
SEND_REJECTIONS: frozenset[str] = SEND_STATUSES - {Status.ACCEPTED}


def describe(status: str) -> StatusInfo:
    """Tell what a status string means; an unknown string is reported as not final, not known."""
    info = _INFO.get(status.strip().lower()) if isinstance(status, str) else None
    if info is not None:
        return info
    return StatusInfo(str(status), Phase.UNKNOWN, False, False, "unknown status", known=False)


def is_final(status: str) -> bool:
    """True when nothing will change this message's status any more."""
    return describe(status).final


def is_success(status: str) -> bool:
    """True for good news: accepted at send time, delivered at delivery time."""
    return describe(status).success


class SenderStatus(StrEnum):
    """States of a sender name (signature) in senders.json."""

    ACTIVE = "active"
    DEFAULT = "default"
    NEW = "new"
    PENDING = "pending"
    BLOCKED = "blocked"

    @property
    def usable(self) -> bool:
        """Only approved names (and the account's default) can send."""
        return self in (SenderStatus.ACTIVE, SenderStatus.DEFAULT)


# Description strings of error replies that callers may want to recognise.
ERROR_AUTHORIZATION = "error authorization"
ERROR_QUEUE_EMPTY = "queue is empty"
ERROR_ABSENT_QUEUE_NAME = "absent status queue name"
ERROR_INVALID_QUEUE_NAME = "invalid status queue name"
