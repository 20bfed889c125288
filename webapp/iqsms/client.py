"""A client for the iQSMS JSON API v2.

It never retries ``send.json`` (a retry can send twice) nor ``statusQueue.json`` (a retry after a
lost reply cannot bring those statuses back, and hides the loss); idempotent reads retry with
backoff.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from .errors import (
    AddressRefused,
    AuthorizationError,
    GatewayError,
    NotIqsmsReply,
    RedirectRefused,
    ReplyTooLarge,
    RequestInvalid,
    TransportError,
)
from .policy import GatewayPolicy
from .statuses import ERROR_AUTHORIZATION, ERROR_QUEUE_EMPTY
from .transport import Transport
from .types import Balance, MessageStatus, OutgoingMessage, Sender, SendResult

DEFAULT_BASE_URL = "https://api.iqsms.ru/messages/v2/"
MAX_SEND = 200
MAX_STATUS = 200
MAX_QUEUE = 1000
# Well under the worker's two-minute stale-claim limit: a call ends before its claim is settled.
DEFAULT_DEADLINE = 45.0
DEFAULT_MAX_REPLY_BYTES = 4 * 1024 * 1024  # 1,000 statuses are about 150 KB
QUEUE_NAME = re.compile(r"^[0-9a-zA-Z]{3,16}$")

T = TypeVar("T")


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Split any iterable into lists of at most ``size`` items, without loading it whole."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def valid_queue_name(name: str) -> bool:
    """Status queue names are 3 to 16 ASCII letters and digits."""
    return bool(QUEUE_NAME.fullmatch(name or ""))


def format_schedule_time(when: datetime) -> str:
    """The API's UTC form, ``2008-07-12T14:30:01Z``; naive times are refused, not guessed."""
    if when.tzinfo is None:
        raise RequestInvalid("scheduleTime must be timezone-aware")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Client:
    """One iQSMS account. Thread-safe for concurrent calls; reuses pooled connections."""

    def __init__(
        self,
        login: str,
        password: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float | tuple[float, float] = (3.05, 30.0),
        deadline: float = DEFAULT_DEADLINE,
        read_retries: int = 2,
        backoff: float = 0.5,
        pool_size: int = 10,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        policy: GatewayPolicy | None = None,
    ) -> None:
        """``timeout`` bounds each connect and each read; ``deadline`` (seconds) bounds the
        whole call, retries of idempotent reads included, however slowly the gateway drips.
        Replies over ``max_reply_bytes`` are refused; ``policy`` (None: any address) says
        where the client may connect."""
        self.login = login
        self.password = password
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout
        self.deadline = deadline
        self.read_retries = read_retries
        self.backoff = backoff
        self.transport = Transport(
            pool_size=pool_size, max_reply_bytes=max_reply_bytes, policy=policy
        )

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- endpoints ---------------------------------------------------------------------------

    def send(
        self,
        messages: Sequence[OutgoingMessage],
        *,
        schedule_time: datetime | str | None = None,
        status_queue_name: str | None = None,
        show_billing_details: bool = False,
    ) -> SendResult:
        """One send.json call of 1 to 200 messages. Never retried: see :class:`TransportError`."""
        if not 1 <= len(messages) <= MAX_SEND:
            raise RequestInvalid(f"send.json takes 1 to {MAX_SEND} messages, got {len(messages)}")
        client_ids = [m.client_id for m in messages]
        if any(not cid for cid in client_ids):
            raise RequestInvalid("every message needs a clientId")
        if len(set(client_ids)) != len(client_ids):
            raise RequestInvalid("clientId must be unique within a call")
        body: dict[str, Any] = {"messages": [m.to_json() for m in messages]}
        if schedule_time is not None:
            body["scheduleTime"] = (
                format_schedule_time(schedule_time)
                if isinstance(schedule_time, datetime)
                else schedule_time
            )
        if status_queue_name is not None:
            _check_queue_name(status_queue_name)
            body["statusQueueName"] = status_queue_name
        if show_billing_details:
            body["showBillingDetails"] = True
        reply = self._call("send.json", body, retry=False)
        return SendResult(
            messages=[MessageStatus.from_json(m) for m in _items(reply, "messages")],
            # The messages were sent whatever the balance says: a malformed one is dropped.
            balance=Balance.all_valid(_items(reply, "balance")),
        )

    def send_many(
        self, messages: Iterable[OutgoingMessage], **options: Any
    ) -> Iterator[SendResult]:
        """Send any number of messages in calls of 200, yielding each call's result in turn.

        A failed call raises; the results already yielded stand.
        """
        for batch in batches(messages, MAX_SEND):
            yield self.send(batch, **options)

    def status(self, messages: Sequence[str | tuple[str, str | None]]) -> list[MessageStatus]:
        """status.json for 1 to 200 messages, each an smscId or an (smscId, clientId) pair."""
        if not 1 <= len(messages) <= MAX_STATUS:
            raise RequestInvalid(f"status.json takes 1 to {MAX_STATUS} ids, got {len(messages)}")
        items = []
        for m in messages:
            smsc_id, client_id = (m, None) if isinstance(m, str | int) else m
            item = {"smscId": str(smsc_id)}
            if client_id:
                item["clientId"] = str(client_id)
            items.append(item)
        reply = self._call("status.json", {"messages": items}, retry=True)
        return [MessageStatus.from_json(m) for m in _items(reply, "messages")]

    def status_many(
        self, messages: Iterable[str | tuple[str, str | None]]
    ) -> Iterator[list[MessageStatus]]:
        """status.json for any number of messages, in calls of 200."""
        for batch in batches(messages, MAX_STATUS):
            yield self.status(batch)

    def status_queue(self, name: str, limit: int = MAX_QUEUE) -> list[MessageStatus]:
        """Pop up to ``limit`` (1..1000) statuses from a named queue. Never retried: a read
        removes what it returns, so a lost reply must be recovered with :meth:`status`."""
        _check_queue_name(name)
        if not 1 <= limit <= MAX_QUEUE:
            raise RequestInvalid(f"statusQueueLimit must be 1 to {MAX_QUEUE}, got {limit}")
        try:
            reply = self._call(
                "statusQueue.json",
                {"statusQueueName": name, "statusQueueLimit": limit},
                retry=False,
            )
        except GatewayError as exc:
            if exc.description.strip().lower() == ERROR_QUEUE_EMPTY:
                return []
            raise
        return [MessageStatus.from_json(m) for m in _items(reply, "messages")]

    def drain_status_queue(
        self, name: str, page: int = MAX_QUEUE, max_pages: int | None = None
    ) -> Iterator[list[MessageStatus]]:
        """Pop pages until the queue gives fewer than ``page`` statuses (or ``max_pages``)."""
        pages = 0
        while max_pages is None or pages < max_pages:
            statuses = self.status_queue(name, page)
            pages += 1
            if statuses:
                yield statuses
            if len(statuses) < page:
                return

    def balance(self) -> list[Balance]:
        """Every balance of the account (RUB, SMS, ...) with its credit."""
        reply = self._call("balance.json", {}, retry=True)
        if not isinstance(reply.get("balance"), list):
            raise NotIqsmsReply("balance.json: the reply has no balance")
        return [Balance.from_json(b) for b in _items(reply, "balance")]

    def senders(self) -> list[Sender]:
        """The account's sender names and their approval states."""
        reply = self._call("senders.json", {}, retry=True)
        return [Sender.from_json(s) for s in _items(reply, "senders")]

    def version(self) -> int:
        """The API version the gateway speaks."""
        reply = self._call("version.json", {}, retry=True)
        try:
            return int(reply.get("version"))
        except (TypeError, ValueError) as exc:
            raise NotIqsmsReply("version.json: the reply gives no version") from exc

    # -- transport ---------------------------------------------------------------------------

    def _call(self, endpoint: str, body: dict[str, Any], *, retry: bool) -> dict[str, Any]:
        payload = json.dumps(
            {"login": self.login, "password": self.password, **body}, ensure_ascii=False
        ).encode()
        deadline = time.monotonic() + self.deadline
        attempts = 1 + (self.read_retries if retry else 0)
        for attempt in range(attempts):
            try:
                return self._post(endpoint, payload, deadline)
            except (AddressRefused, RedirectRefused, ReplyTooLarge, NotIqsmsReply):
                raise  # the same again would get the same answer
            except TransportError:
                pause = self.backoff * 2**attempt
                # A retry must fit in the same deadline, with time for an answer.
                if attempt == attempts - 1 or time.monotonic() + pause + 0.5 >= deadline:
                    raise
                time.sleep(pause)
        raise AssertionError("unreachable")

    def _post(self, endpoint: str, payload: bytes, deadline: float) -> dict[str, Any]:
        content = self.transport.post(
            self.base_url + endpoint,
            payload,
            deadline=deadline,
            timeout=self.timeout,
            name=endpoint,
        )
        try:
            reply = json.loads(content)
        except (ValueError, RecursionError) as exc:  # nested past the parser's depth too
            raise NotIqsmsReply(f"{endpoint}: the reply is not JSON") from exc
        if not isinstance(reply, dict):
            raise NotIqsmsReply(f"{endpoint}: the reply is not a JSON object")
        status = str(reply.get("status", "ok")).strip().lower()
        if status == "error":
            description = str(reply.get("description") or "")[:200]
            if description.strip().lower() == ERROR_AUTHORIZATION:
                raise AuthorizationError(description, reply)
            raise GatewayError(description, reply)
        return reply


def _check_queue_name(name: str) -> None:
    if not valid_queue_name(name):
        raise RequestInvalid(f"status queue name must be 3-16 letters and digits, got {name!r}")


def _items(reply: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """A list field of a reply; missing or malformed means empty, never a crash."""
    value = reply.get(key)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]
