"""The iQSMS protocol (JSON API v2), answered from the sandbox's state as the real service answers.

Delivery is simulated without a background thread: when a message is accepted, its whole future
(when it reaches the SMSC, when and how it ends) is drawn from the seed and stored, and the queue
entries for those moments are written with the time they become visible. Status lookups and queue
reads then only compare times with the clock, so the simulation survives restarts unchanged.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, ClassVar

from webapp.iqsms.parts import analyse
from webapp.iqsms.statuses import (
    ERROR_ABSENT_QUEUE_NAME,
    ERROR_AUTHORIZATION,
    ERROR_INVALID_QUEUE_NAME,
    SenderStatus,
    Status,
)

from .fates import current_status, draws
from .passwords import check_password
from .settings import Settings
from .store import Account, Store

MAX_SEND, MAX_STATUS, MAX_QUEUE = 200, 200, 1000
QUEUE_NAME = re.compile(r"[0-9a-zA-Z]{3,16}")
PHONE = re.compile(r"\+?\d{10,15}")
WAPURL = re.compile(r"(https?://)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:\d+)?(/\S*)?")
SCHEDULE_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S%z")

ERROR_TOO_MANY = "too many messages"
ERROR_NO_MESSAGES = "messages absent"

Reply = dict[str, Any]

parts_of = lru_cache(maxsize=4096)(lambda text: analyse(text).parts)


def error(description: str) -> Reply:
    return {"status": "error", "description": description}


@dataclass
class _Batch:
    """The state one send.json call shares across its messages; balances fall as it accepts."""

    account: Account
    now: float
    start: float
    status: str | None
    queue: str | None
    senders: dict[str, str]
    default_sender: str | None
    details: bool
    rub: int
    sms: int

    def can_pay(self, parts: int, cost: int) -> bool:
        if self.account.billing == "SMS":
            return self.sms + self.account.sms_credit >= parts
        return self.rub + self.account.rub_credit_kopecks >= cost

    def charge(self, parts: int, cost: int) -> None:
        if self.account.billing == "SMS":
            self.sms -= parts
        else:
            self.rub -= cost


class Gateway:
    """One sandbox gateway: the state store, the simulation settings and a clock."""

    def __init__(
        self, store: Store, settings: Settings, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        # Calls acted on, by (login, endpoint), since this gateway started: the record that
        # shows whether several workers did once what is to be done once (GET /_sandbox/calls).
        self._calls: Counter[tuple[str, str]] = Counter()
        self._calls_lock = threading.Lock()

    def call_counts(self) -> dict[tuple[str, str], int]:
        with self._calls_lock:
            return dict(self._calls)

    def handle(self, endpoint: str, body: dict[str, Any]) -> Reply:
        """Answer one API call; ``endpoint`` is the file name, e.g. ``send.json``."""
        handler = self.handlers.get(endpoint)
        if handler is None:
            return error("unknown method")
        with self.store.transaction() as db:
            account = self.store.account(db, str(body.get("login", "")))
            password = str(body.get("password", ""))
            if account is None or not check_password(account.password_hash, password):
                return error(ERROR_AUTHORIZATION)
            with self._calls_lock:
                self._calls[account.login, endpoint] += 1
            return handler(self, db, account, body)

    # -- send.json ---------------------------------------------------------------------------

    def send(self, db: sqlite3.Connection, account: Account, body: dict[str, Any]) -> Reply:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return error(ERROR_NO_MESSAGES)
        if len(messages) > MAX_SEND:
            return error(ERROR_TOO_MANY)
        batch = self._batch(db, account, body)
        rows, queued, replies = [], [], []
        for smsc_id, raw in zip(self.store.take_smsc_ids(len(messages)), messages, strict=True):
            row, entries, reply = self._send_one(
                batch, smsc_id, raw if isinstance(raw, dict) else {}
            )
            rows.append(row)
            queued.extend(entries)
            replies.append(reply)
        db.executemany(f"INSERT INTO messages VALUES ({','.join('?' * 16)})", rows)
        if queued:
            db.executemany(
                "INSERT INTO queue (login, name, smsc_id, status, visible_at) VALUES (?,?,?,?,?)",
                queued,
            )
        db.execute(
            "UPDATE accounts SET rub_kopecks = ?, sms_balance = ? WHERE login = ?",
            (batch.rub, batch.sms, account.login),
        )
        balance = []
        if batch.details:
            balance = self._balances(self.store.account(db, account.login))
        return {"status": "ok", "balance": balance, "messages": replies}

    def _batch(self, db: sqlite3.Connection, account: Account, body: dict[str, Any]) -> _Batch:
        """What one send.json call shares: its time, schedule, queue, senders and balances."""
        now = self.clock()
        status, start = None, now
        if body.get("scheduleTime") not in (None, ""):
            scheduled = parse_schedule_time(body["scheduleTime"])
            if scheduled is None:
                status = Status.SCHEDULE_INVALID
            else:
                start = max(now, scheduled)
        queue = body.get("statusQueueName") or None
        if queue is not None and not QUEUE_NAME.fullmatch(str(queue)):
            status = status or Status.QUEUE_NAME_INVALID
        senders = self._senders(db, account.login, now)
        return _Batch(
            account=account,
            now=now,
            start=start,
            status=status,
            queue=queue,
            senders=senders,
            default_sender=next((n for n, s in senders.items() if s == SenderStatus.DEFAULT), None),
            details=bool(body.get("showBillingDetails")) and self.settings.billing_details,
            rub=account.rub_kopecks,
            sms=account.sms_balance,
        )

    def _send_one(
        self, batch: _Batch, smsc_id: int, m: dict[str, Any]
    ) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], dict[str, Any]]:
        """One message of a call: its stored row, its queue entries and its reply."""
        account = batch.account
        phone = str(m.get("phone") or "").strip()
        text = str(m.get("text") or "")
        sender = str(m.get("sender") or "").strip() or batch.default_sender
        wapurl = str(m.get("wapurl") or "").strip() or None
        parts = parts_of(text)
        cost = parts * account.price_kopecks
        status = batch.status or self._reject_reason(phone, text, sender, wapurl, batch.senders)
        if status is None:
            status = Status.ACCEPTED if batch.can_pay(parts, cost) else Status.NOT_ENOUGH_BALANCE
        submit_at = final_at = final_status = None
        queued: list[tuple[Any, ...]] = []
        if status == Status.ACCEPTED:
            batch.charge(parts, cost)
            submit_at, final_at, final_status = self._fate(smsc_id, batch.start)
            if batch.queue:
                if self.settings.intermediate_statuses and final_status != Status.SMSC_REJECT:
                    queued.append(
                        (account.login, batch.queue, smsc_id, Status.SMSC_SUBMIT, submit_at)
                    )
                queued.append((account.login, batch.queue, smsc_id, final_status, final_at))
        else:
            parts = cost = 0
        client_id = m.get("clientId")
        flash = 1 if str(m.get("flash", "")) in ("1", "True", "true") else 0
        row = (
            smsc_id, account.login, None if client_id is None else str(client_id), phone, text,
            sender, wapurl, flash, batch.queue, status, parts, cost, batch.now, submit_at,
            final_at, final_status,
        )  # fmt: skip
        reply: dict[str, Any] = {"status": str(status), "smscId": smsc_id}
        if client_id is not None:
            reply["clientId"] = client_id
        if batch.details and status == Status.ACCEPTED:
            reply["smsCount"] = parts
            reply["msgCost"] = kopecks_to_rub(cost)
        return row, queued, reply

    def _reject_reason(
        self,
        phone: str,
        text: str,
        sender: str | None,
        wapurl: str | None,
        senders: dict[str, str],
    ) -> Status | None:
        if not PHONE.fullmatch(phone):
            return Status.INVALID_PHONE
        if not text.strip():
            return Status.TEXT_EMPTY
        if sender is not None and senders.get(sender) not in (
            SenderStatus.ACTIVE,
            SenderStatus.DEFAULT,
        ):
            return Status.SENDER_INVALID
        if wapurl is not None and not WAPURL.fullmatch(wapurl):
            return Status.WAPURL_INVALID
        return None

    def _fate(self, smsc_id: int, start: float) -> tuple[float, float, Status]:
        """When the message reaches the SMSC, when it ends and how: reproducible from the seed."""
        s = self.settings
        r1, r2, r3 = draws(s.seed, smsc_id)
        submit_at = start + s.submit_delay * (1 + s.jitter * (2 * r1 - 1))
        if r3 < s.delivered_ratio:
            final_status = Status.DELIVERED
        elif r3 < s.delivered_ratio + s.delivery_error_ratio:
            final_status = Status.DELIVERY_ERROR
        else:
            final_status = Status.SMSC_REJECT
        if final_status == Status.SMSC_REJECT:
            return submit_at, submit_at, final_status  # the operator refuses at submission
        final_at = submit_at + s.deliver_delay * (1 + s.jitter * (2 * r2 - 1))
        return submit_at, final_at, final_status

    # -- status.json -------------------------------------------------------------------------

    def status(self, db: sqlite3.Connection, account: Account, body: dict[str, Any]) -> Reply:
        items = body.get("messages")
        if not isinstance(items, list) or not items:
            return error(ERROR_NO_MESSAGES)
        if len(items) > MAX_STATUS:
            return error(ERROR_TOO_MANY)
        now = self.clock()
        wanted = [item if isinstance(item, dict) else {} for item in items]
        ids = [_int_or_none(item.get("smscId")) for item in wanted]
        known = {}
        valid_ids = [i for i in ids if i is not None]
        if valid_ids:
            marks = ",".join("?" * len(valid_ids))
            known = {
                row[0]: row[1:]
                for row in db.execute(
                    "SELECT smsc_id, send_status, submit_at, final_at, final_status FROM messages"
                    f" WHERE login = ? AND smsc_id IN ({marks})",
                    (account.login, *valid_ids),
                )
            }
        replies = []
        for item, smsc_id in zip(wanted, ids, strict=True):
            row = known.get(smsc_id)
            status = Status.INCORRECT_ID if row is None else current_status(now, *row)
            reply = {"status": str(status), "smscId": item.get("smscId")}
            if item.get("clientId") is not None:
                reply["clientId"] = item["clientId"]
            replies.append(reply)
        return {"status": "ok", "messages": replies}

    # -- statusQueue.json --------------------------------------------------------------------

    def status_queue(self, db: sqlite3.Connection, account: Account, body: dict[str, Any]) -> Reply:
        name = body.get("statusQueueName")
        if not name:
            return error(ERROR_ABSENT_QUEUE_NAME)
        if not QUEUE_NAME.fullmatch(str(name)):
            return error(ERROR_INVALID_QUEUE_NAME)
        limit = _int_or_none(body.get("statusQueueLimit"))
        limit = min(max(limit or 1, 1), MAX_QUEUE)
        rows = db.execute(
            "SELECT id, smsc_id, status FROM queue WHERE login = ? AND name = ?"
            " AND visible_at <= ? ORDER BY visible_at, id LIMIT ?",
            (account.login, name, self.clock(), limit),
        ).fetchall()
        if rows:
            # Popping removes what it returns, as on the live service: a lost reply loses them.
            db.execute(f"DELETE FROM queue WHERE id IN ({','.join(str(r[0]) for r in rows)})")
        return {
            "status": "ok",
            "messages": [{"status": status, "smscId": str(smsc_id)} for _, smsc_id, status in rows],
        }

    # -- balance.json, senders.json, version.json --------------------------------------------

    def balance(self, db: sqlite3.Connection, account: Account, body: dict[str, Any]) -> Reply:
        return {"status": "ok", "balance": self._balances(account)}

    def senders(self, db: sqlite3.Connection, account: Account, body: dict[str, Any]) -> Reply:
        now = self.clock()
        self._approve_due(db, account.login, now)
        rows = db.execute(
            "SELECT name, status, info FROM senders WHERE login = ? ORDER BY rowid",
            (account.login,),
        )
        return {
            "status": "ok",
            "senders": [{"status": s, "info": info, "name": name} for name, s, info in rows],
        }

    def version(self, db: sqlite3.Connection, account: Account, body: dict[str, Any]) -> Reply:
        return {"status": "ok", "version": 2}

    handlers: ClassVar[dict[str, Callable[..., Reply]]] = {
        "send.json": send,
        "status.json": status,
        "statusQueue.json": status_queue,
        "balance.json": balance,
        "senders.json": senders,
        "version.json": version,
    }

    # -- helpers -----------------------------------------------------------------------------

    def _balances(self, account: Account) -> list[dict[str, Any]]:
        # The live service mixes types (a string RUB balance, numeric SMS); clients must cope.
        return [
            {
                "credit": account.rub_credit_kopecks / 100,
                "balance": kopecks_to_rub(account.rub_kopecks),
                "type": "RUB",
            },
            {"credit": account.sms_credit, "balance": account.sms_balance, "type": "SMS"},
        ]

    def _approve_due(self, db: sqlite3.Connection, login: str, now: float) -> None:
        db.execute(
            "UPDATE senders SET status = 'active', approve_at = NULL"
            " WHERE login = ? AND status IN ('new', 'pending') AND approve_at <= ?",
            (login, now),
        )

    def _senders(self, db: sqlite3.Connection, login: str, now: float) -> dict[str, str]:
        self._approve_due(db, login, now)
        return dict(db.execute("SELECT name, status FROM senders WHERE login = ?", (login,)))


def parse_schedule_time(value: Any) -> float | None:
    """``2008-07-12T14:30:01Z`` or ``2009-01-01T12:30:01+00:00`` as a UNIX time, else None."""
    for fmt in SCHEDULE_FORMATS:
        try:
            when = datetime.strptime(str(value), fmt)
        except ValueError:
            continue
        return when.replace(tzinfo=when.tzinfo or UTC).timestamp()
    return None


def kopecks_to_rub(kopecks: int) -> str:
    return str((Decimal(kopecks) / 100).quantize(Decimal("0.01")))


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
