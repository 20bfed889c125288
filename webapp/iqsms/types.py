"""Typed requests and replies of the iQSMS API.

Parsing is tolerant, as public clients of the API found it must be: ids come as numbers or strings,
balances as strings or numbers, and optional fields may be missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from .statuses import SENDABLE_SENDER_STATUSES, Status, StatusInfo, describe


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message of a send.json call."""

    client_id: str
    phone: str
    text: str
    sender: str | None = None
    wapurl: str | None = None
    flash: bool = False

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"clientId": self.client_id, "phone": self.phone, "text": self.text}
        if self.sender:
            body["sender"] = self.sender
        if self.wapurl:
            body["wapurl"] = self.wapurl
        if self.flash:
            body["flash"] = 1
        return body


@dataclass(frozen=True, slots=True)
class MessageStatus:
    """A per-message status from any endpoint, with billing details when the gateway sent them."""

    status: str
    smsc_id: str | None = None
    client_id: str | None = None
    sms_count: int | None = None
    cost: Decimal | None = None

    @property
    def info(self) -> StatusInfo:
        return describe(self.status)

    @property
    def accepted(self) -> bool:
        return self.status == Status.ACCEPTED

    @property
    def final(self) -> bool:
        return self.info.final

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> MessageStatus:
        return cls(
            status=str(item.get("status", "")).strip(),
            smsc_id=as_id(item.get("smscId")),
            client_id=as_id(item.get("clientId")),
            sms_count=as_int(item.get("smsCount")),
            cost=as_decimal(item.get("msgCost")),
        )


@dataclass(frozen=True, slots=True)
class Balance:
    """One entry of balance.json: an amount of a type (RUB, SMS, ...) and the credit allowed."""

    type: str
    balance: Decimal
    credit: Decimal = Decimal(0)

    @property
    def available(self) -> Decimal:
        """What can still be spent: the balance plus the credit on top of it."""
        return self.balance + self.credit

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Balance:
        return cls(
            type=str(item.get("type", "")),
            balance=as_decimal(item.get("balance")) or Decimal(0),
            credit=as_decimal(item.get("credit")) or Decimal(0),
        )


@dataclass(frozen=True, slots=True)
class Sender:
    """A sender name of the account and its approval state."""

    name: str
    status: str
    info: str = ""

    @property
    def usable(self) -> bool:
        """Only active names and the account's default can send."""
        return self.status in SENDABLE_SENDER_STATUSES

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Sender:
        return cls(
            name=str(item.get("name", "")),
            status=str(item.get("status", "")).strip().lower(),
            info=str(item.get("info") or ""),
        )


@dataclass(frozen=True, slots=True)
class SendResult:
    """The reply to one send.json call."""

    messages: list[MessageStatus]
    balance: list[Balance] = field(default_factory=list)

    def by_client_id(self) -> dict[str, MessageStatus]:
        return {m.client_id: m for m in self.messages if m.client_id is not None}


def as_id(value: Any) -> str | None:
    """An id as a string, whether the gateway sent a number or a string."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def as_int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def as_decimal(value: Any) -> Decimal | None:
    """An amount as Decimal, whether it came as a string, an integer or a float."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return Decimal(value) if isinstance(value, str | int) else Decimal(str(value))
    except InvalidOperation:
        pass
    try:
        return Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        return None
