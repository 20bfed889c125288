"""Typed requests and replies of the iQSMS API.

Parsing is tolerant, as public clients of the API found it must be: ids come as numbers or strings,
balances as strings or numbers, and optional fields may be missing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import MalformedReply
from .statuses import SENDABLE_SENDER_STATUSES, Status, StatusInfo, describe

log = logging.getLogger(__name__)

# Bounds no real reply comes near: beyond them a figure is the gateway's mistake (or malice),
# and storing it would overflow a column or a report. A message has a few dozen parts at most;
# one message never costs 100,000; no account holds 10^12.
MAX_PARTS = 1000
MAX_MESSAGE_COST = Decimal(100_000)
MAX_BALANCE = Decimal(10) ** 12


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
        """Absurd billing figures (a part count over MAX_PARTS, a cost that is not a sane
        amount) are logged and read as unknown: the message's status stands, and its cost is
        estimated from its text instead."""
        client_id = as_id(item.get("clientId"))
        sms_count = as_int(item.get("smsCount"))
        if sms_count is not None and not 1 <= sms_count <= MAX_PARTS:
            log.warning("message %s: ignoring absurd smsCount %.40s", client_id, sms_count)
            sms_count = None
        cost = as_amount(item.get("msgCost"))
        if cost is not None and not 0 <= cost < MAX_MESSAGE_COST:
            log.warning("message %s: ignoring absurd msgCost %.40s", client_id, cost)
            cost = None
        return cls(
            status=str(item.get("status", "")).strip()[:64],
            smsc_id=as_id(item.get("smscId")),
            client_id=client_id,
            sms_count=sms_count,
            cost=cost,
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
        """Raises :class:`MalformedReply` for an amount that is not a number, NaN, infinite
        or absurdly large: showing such a balance, or a stale one as if current, would mislead."""
        amounts = []
        for key in ("balance", "credit"):
            raw = item.get(key)
            amount = as_amount(raw)
            if (amount is None and raw not in (None, "")) or (
                amount is not None and abs(amount) >= MAX_BALANCE
            ):
                raise MalformedReply(f"the gateway's reply is malformed: {key} {str(raw)[:40]!r}")
            amounts.append(amount or Decimal(0))
        return cls(type=str(item.get("type", ""))[:16], balance=amounts[0], credit=amounts[1])

    @classmethod
    def all_valid(cls, items: list[dict[str, Any]]) -> list[Balance]:
        """The well-formed entries of ``items``; malformed ones are logged and left out."""
        valid = []
        for item in items:
            try:
                valid.append(cls.from_json(item))
            except MalformedReply as exc:
                log.warning("ignoring a balance entry: %s", exc)
        return valid


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
    """An integer, or None; a float that is not finite is None too (int() would overflow)."""
    if isinstance(value, str) and len(value) > 40:
        return None  # int() of a huge digit string is slow and no count is that long
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None


def as_amount(value: Any) -> Decimal | None:
    """:func:`as_decimal`, but only finite amounts: NaN and infinities are None."""
    amount = as_decimal(value)
    return amount if amount is not None and amount.is_finite() else None


def as_decimal(value: Any) -> Decimal | None:
    """An amount as Decimal, whether it came as a string, an integer or a float."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, str) and len(value) > 60:
        return None
    try:
        return Decimal(value) if isinstance(value, str | int) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        pass
    try:
        return Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        return None
