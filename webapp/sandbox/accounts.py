"""Sandbox accounts: the ones every new sandbox starts with, and creating more."""

from __future__ import annotations

import sqlite3
from decimal import Decimal, InvalidOperation
from typing import Any

from webapp.iqsms.statuses import SenderStatus

from .gateway import kopecks_to_rub
from .passwords import hash_password
from .store import Account, Store

# (name, status, info); "new" and "pending" names are approved after the approval delay.
DEFAULT_SENDERS: list[tuple[str, str, str]] = [
    ("TEST", SenderStatus.DEFAULT, ""),
    ("MyBrand", SenderStatus.ACTIVE, ""),
    ("NewBrand", SenderStatus.NEW, ""),
    ("Promo2026", SenderStatus.PENDING, "awaiting the operators' approval"),
    ("MegaFon", SenderStatus.BLOCKED, "the name of a mobile operator cannot be used"),
]

# Documented in the README: every fresh sandbox has these.
SEED_ACCOUNTS: list[dict[str, Any]] = [
    {"login": "demo", "password": "demo", "balance": "1000.00", "price": "2.50"},
    {"login": "demo2", "password": "demo2", "balance": "500.00", "price": "1.95"},
    {"login": "smsonly", "password": "smsonly", "billing": "SMS", "sms_balance": 5000},
    {"login": "credit", "password": "credit", "balance": "0.00", "credit": "100.00"},
    {"login": "broke", "password": "broke", "balance": "0.00"},
]


def create_account(
    store: Store, db: sqlite3.Connection, spec: dict[str, Any], now: float, approval_delay: float
) -> None:
    """Create an account from a JSON-like spec; money is in roubles as strings or numbers."""
    login, password = str(spec["login"]), str(spec["password"])
    if not login or not password:
        raise ValueError("login and password are required")
    billing = str(spec.get("billing", "RUB")).upper()
    if billing not in ("RUB", "SMS"):
        raise ValueError("billing must be RUB or SMS")
    senders = spec.get("senders")
    sender_rows = [
        (
            str(s["name"]),
            str(s.get("status", SenderStatus.ACTIVE)),
            str(s.get("info", "")),
            now + approval_delay
            if s.get("status") in (SenderStatus.NEW, SenderStatus.PENDING)
            else None,
        )
        for s in (
            senders
            if senders is not None
            else [{"name": n, "status": st, "info": i} for n, st, i in DEFAULT_SENDERS]
        )
    ]
    store.create_account(
        db,
        login,
        password,
        billing=billing,
        rub_kopecks=rub_to_kopecks(spec.get("balance", "0")),
        rub_credit_kopecks=rub_to_kopecks(spec.get("credit", "0")),
        sms_balance=int(spec.get("sms_balance", 0)),
        sms_credit=int(spec.get("sms_credit", 0)),
        price_kopecks=rub_to_kopecks(spec.get("price", "2.50")),
        senders=sender_rows,
    )


def update_account(db: sqlite3.Connection, login: str, changes: dict[str, Any]) -> None:
    """Change an account's password, balances or price (roubles as strings or numbers)."""
    columns = {
        "password": ("password", lambda v: hash_password(str(v))),
        "billing": ("billing", lambda v: str(v).upper()),
        "balance": ("rub_kopecks", rub_to_kopecks),
        "credit": ("rub_credit_kopecks", rub_to_kopecks),
        "sms_balance": ("sms_balance", int),
        "sms_credit": ("sms_credit", int),
        "price": ("price_kopecks", rub_to_kopecks),
    }
    unknown = set(changes) - set(columns)
    if unknown:
        raise ValueError(f"unknown account fields: {', '.join(sorted(unknown))}")
    for key, value in changes.items():
        column, convert = columns[key]
        db.execute(f"UPDATE accounts SET {column} = ? WHERE login = ?", (convert(value), login))


def top_up(db: sqlite3.Connection, login: str, amount: Any) -> int:
    """Add ``amount`` roubles (positive) to an account's RUB balance in one step, so sending at
    the same moment loses nothing; the new balance in kopecks."""
    kopecks = rub_to_kopecks(amount)
    if kopecks <= 0:
        raise ValueError("amount must be positive")
    db.execute(
        "UPDATE accounts SET rub_kopecks = rub_kopecks + ? WHERE login = ?", (kopecks, login)
    )
    return db.execute("SELECT rub_kopecks FROM accounts WHERE login = ?", (login,)).fetchone()[0]


def describe(account: Account) -> dict[str, Any]:
    """An account as the control API shows it: balances and price, never the password."""
    return {
        "login": account.login,
        "billing": account.billing,
        "balance": kopecks_to_rub(account.rub_kopecks),
        "credit": kopecks_to_rub(account.rub_credit_kopecks),
        "sms_balance": account.sms_balance,
        "sms_credit": account.sms_credit,
        "price": kopecks_to_rub(account.price_kopecks),
    }


def overview(db: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every account's login, billing and balances, by login."""
    return [
        {"login": login, "billing": billing, "balance": rub / 100, "sms_balance": sms}
        for login, billing, rub, sms in db.execute(
            "SELECT login, billing, rub_kopecks, sms_balance FROM accounts ORDER BY login"
        )
    ]


RECEIVED_COLUMNS = ("smscId", "clientId", "phone", "text", "sender", "wapurl", "flash", "queue")
RECEIVED_COLUMNS += ("status", "parts", "cost", "receivedAt", "finalAt", "finalStatus")


def received_messages(
    db: sqlite3.Connection, login: str, newest: int | None = None, before: int | None = None
) -> list[dict[str, Any]]:
    """The messages an account was sent: all, oldest first; or the ``newest`` ones (before the
    id ``before``), newest first. ``finalAt`` is when the final status becomes visible (in
    the queue and to status.json), for accepted messages."""
    query = (
        "SELECT smsc_id, client_id, phone, text, sender, wapurl, flash, queue_name,"
        " send_status, parts, cost_kopecks, received_at, final_at, final_status"
        " FROM messages WHERE login = ?"
    )
    if newest is None:
        rows = db.execute(query + " ORDER BY smsc_id", (login,))
    else:
        rows = db.execute(
            query + " AND smsc_id < ? ORDER BY smsc_id DESC LIMIT ?",
            (login, before if before is not None else 2**63 - 1, newest),
        )
    return [dict(zip(RECEIVED_COLUMNS, row, strict=True)) for row in rows]


def seed(store: Store, now: float, approval_delay: float) -> None:
    """Give an empty sandbox its documented accounts."""
    if not store.is_empty():
        return
    with store.transaction() as db:
        for spec in SEED_ACCOUNTS:
            create_account(store, db, spec, now, approval_delay)


def rub_to_kopecks(value: Any) -> int:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None
    if not amount.is_finite():
        raise ValueError("amounts must be finite numbers")
    return int((amount * 100).to_integral_value())
