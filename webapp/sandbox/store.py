"""The sandbox's state: its own SQLite file, so accounts, messages and queues survive a restart.

One connection behind one lock: SQLite has a single writer anyway, and the lock keeps each
request's reads and writes one consistent step.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    login TEXT PRIMARY KEY,
    password TEXT NOT NULL,
    billing TEXT NOT NULL DEFAULT 'RUB',        -- which balance sending spends: RUB or SMS
    rub_kopecks INTEGER NOT NULL DEFAULT 0,
    rub_credit_kopecks INTEGER NOT NULL DEFAULT 0,
    sms_balance INTEGER NOT NULL DEFAULT 0,
    sms_credit INTEGER NOT NULL DEFAULT 0,
    price_kopecks INTEGER NOT NULL DEFAULT 250  -- price of one part
);
CREATE TABLE IF NOT EXISTS senders (
    login TEXT NOT NULL REFERENCES accounts(login) ON DELETE CASCADE,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    info TEXT NOT NULL DEFAULT '',
    approve_at REAL,                            -- when a pending name becomes active
    PRIMARY KEY (login, name)
);
CREATE TABLE IF NOT EXISTS messages (
    smsc_id INTEGER PRIMARY KEY,
    login TEXT NOT NULL,
    client_id TEXT,
    phone TEXT,
    text TEXT,
    sender TEXT,
    wapurl TEXT,
    flash INTEGER NOT NULL DEFAULT 0,
    queue_name TEXT,
    send_status TEXT NOT NULL,
    parts INTEGER NOT NULL DEFAULT 0,
    cost_kopecks INTEGER NOT NULL DEFAULT 0,
    received_at REAL NOT NULL,
    submit_at REAL,
    final_at REAL,
    final_status TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_login ON messages (login, smsc_id);
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY,
    login TEXT NOT NULL,
    name TEXT NOT NULL,
    smsc_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    visible_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_pop ON queue (login, name, visible_at, id);
"""

FIRST_SMSC_ID = 2592600000  # ids look like the live service's, and never start at 1


@dataclass(frozen=True)
class Account:
    login: str
    password: str
    billing: str
    rub_kopecks: int
    rub_credit_kopecks: int
    sms_balance: int
    sms_credit: int
    price_kopecks: int


class Store:
    """The sandbox database. Use :meth:`transaction` for every read or write."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(SCHEMA)
        last = self.db.execute("SELECT max(smsc_id) FROM messages").fetchone()[0]
        self._next_smsc_id = (last or FIRST_SMSC_ID - 1) + 1

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def take_smsc_ids(self, count: int) -> range:
        """Reserve ``count`` new message ids (call inside a transaction)."""
        first = self._next_smsc_id
        self._next_smsc_id += count
        return range(first, first + count)

    def close(self) -> None:
        with self.lock:
            self.db.close()

    # -- accounts ----------------------------------------------------------------------------

    def account(self, db: sqlite3.Connection, login: str) -> Account | None:
        row = db.execute(
            "SELECT login, password, billing, rub_kopecks, rub_credit_kopecks, sms_balance,"
            " sms_credit, price_kopecks FROM accounts WHERE login = ?",
            (login,),
        ).fetchone()
        return Account(*row) if row else None

    def create_account(
        self,
        db: sqlite3.Connection,
        login: str,
        password: str,
        *,
        billing: str = "RUB",
        rub_kopecks: int = 0,
        rub_credit_kopecks: int = 0,
        sms_balance: int = 0,
        sms_credit: int = 0,
        price_kopecks: int = 250,
        senders: list[tuple[str, str, str, float | None]] = (),
    ) -> None:
        db.execute(
            "INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                login,
                password,
                billing,
                rub_kopecks,
                rub_credit_kopecks,
                sms_balance,
                sms_credit,
                price_kopecks,
            ),
        )
        db.executemany(
            "INSERT INTO senders (login, name, status, info, approve_at) VALUES (?, ?, ?, ?, ?)",
            [(login, *sender) for sender in senders],
        )

    def is_empty(self) -> bool:
        with self.lock:
            return self.db.execute("SELECT count(*) FROM accounts").fetchone()[0] == 0
