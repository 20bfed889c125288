"""The iQSMS status vocabulary: every status string the API uses, and what each one means.

Statuses arrive as plain strings. A gateway may one day send a string this module does not know,
so callers keep the raw string and ask :func:`describe` what it means instead of trusting an enum.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


def N_(text: str) -> str:  # pybabel's keyword: the name matters
    """Mark ``text`` for the dashboard's catalogue: it stays English here (the binding knows no
    languages); the dashboard translates it where it is shown (webapp/gateway_texts.py)."""
    return text


class Status(StrEnum):
    """Every per-message status the API reports."""

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
    """What a status string means: whether it can still change, and in words."""

    status: str
    final: bool
    meaning: str
    known: bool = True


_INFO: dict[str, StatusInfo] = {
    info.status: info
    for info in (
        # send.json
        StatusInfo(Status.ACCEPTED, False, N_("taken by the service")),
        StatusInfo(Status.INVALID_PHONE, True, N_("the number is malformed")),
        StatusInfo(Status.TEXT_EMPTY, True, N_("the text is empty")),
        StatusInfo(Status.SENDER_INVALID, True, N_("sender name unknown or not approved")),
        StatusInfo(Status.WAPURL_INVALID, True, N_("bad WAP-push link")),
        StatusInfo(Status.SCHEDULE_INVALID, True, N_("bad schedule time")),
        StatusInfo(Status.QUEUE_NAME_INVALID, True, N_("bad status queue name")),
        StatusInfo(Status.NOT_ENOUGH_BALANCE, True, N_("no money or SMS left")),
        # status.json and statusQueue.json
        StatusInfo(Status.QUEUED, False, N_("waiting in the provider's queue")),
        StatusInfo(Status.SMSC_SUBMIT, False, N_("handed to the operator")),
        StatusInfo(Status.DELIVERED, True, N_("delivered to the phone")),
        StatusInfo(Status.DELIVERY_ERROR, True, N_("the phone was unreachable until it expired")),
        StatusInfo(Status.SMSC_REJECT, True, N_("refused by the operator")),
        StatusInfo(Status.INCORRECT_ID, True, N_("no such message id")),
    )
}


def describe(status: str) -> StatusInfo:
    """Tell what a status string means; an unknown string is reported as not final, not known."""
    info = _INFO.get(status.strip().lower()) if isinstance(status, str) else None
    if info is not None:
        return info
    return StatusInfo(str(status), False, N_("unknown status"), known=False)


class SenderStatus(StrEnum):
    """States of a sender name (signature) in senders.json."""

    ACTIVE = "active"
    DEFAULT = "default"
    NEW = "new"
    PENDING = "pending"
    BLOCKED = "blocked"


# Only approved names and the account's default can send: the provider's rule, in one place.
SENDABLE_SENDER_STATUSES = frozenset({SenderStatus.ACTIVE, SenderStatus.DEFAULT})


# Description strings of error replies that callers may want to recognise.
ERROR_AUTHORIZATION = "error authorization"
ERROR_QUEUE_EMPTY = "queue is empty"
ERROR_ABSENT_QUEUE_NAME = "absent status queue name"
ERROR_INVALID_QUEUE_NAME = "invalid status queue name"

# What those descriptions mean, in words (a description not here is shown as it came).
ERROR_MEANINGS = {
    ERROR_AUTHORIZATION: N_("wrong login or password"),
    ERROR_QUEUE_EMPTY: N_("no statuses are waiting in the queue"),
    ERROR_ABSENT_QUEUE_NAME: N_("no status queue name was given"),
    ERROR_INVALID_QUEUE_NAME: N_("bad status queue name"),
}
