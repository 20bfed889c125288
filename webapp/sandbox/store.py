"""The sandbox's state: its own SQLite file, so accounts, messages and queues survive a restart.

One connection behind one lock: SQLite has a single writer anyway, and the lock keeps each
request's reads and writes one consistent step. The file holds the accounts' password hashes and
every message's phone and text, so it is created readable by its owner only.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .passwords import hash_password

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    login TEXT PRIMARY KEY,
    password TEXT NOT NULL,                     -- a salted hash (passwords.py), never the password
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
# PRAGMA user_version of the state: 1 = passwords hashed (0: a file of before, plain passwords).
STATE_VERSION = 1


@dataclass(frozen=True)
class Account:
    login: str
    password_hash: str
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
        make_private(path)
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        # A stand-in's state: it survives the process (SIGKILL included), not a power cut. The
        # fsyncs of NORMAL were a fifth of its time serving send.json.
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(SCHEMA)
        self._migrate()
        last = self.db.execute("SELECT max(smsc_id) FROM messages").fetchone()[0]
        self._next_smsc_id = (last or FIRST_SMSC_ID - 1) + 1

    def _migrate(self) -> None:
        """Bring a state file of an older sandbox up to date: plain passwords become hashes."""
        with self.transaction() as db:
            if db.execute("PRAGMA user_version").fetchone()[0] >= STATE_VERSION:
                return
            plain = db.execute("SELECT login, password FROM accounts").fetchall()
            db.executemany(
                "UPDATE accounts SET password = ? WHERE login = ?",
                [(hash_password(password), login) for login, password in plain],
            )
            db.execute(f"PRAGMA user_version = {STATE_VERSION}")

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
                hash_password(password),
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

    def set_password(self, db: sqlite3.Connection, login: str, password: str) -> None:
        db.execute(
            "UPDATE accounts SET password = ? WHERE login = ?", (hash_password(password), login)
        )

    def is_empty(self) -> bool:
        with self.lock:
            return self.db.execute("SELECT count(*) FROM accounts").fetchone()[0] == 0


def make_private(path: str) -> None:
    """Create the state file readable and writable by its owner only, or make an existing one
    so; SQLite gives its -wal and -shm files the database file's permissions. A folder made for
    it is its owner's only too."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, f"{path}-wal", f"{path}-shm"):
        try:
            mode = os.stat(name).st_mode
        except FileNotFoundError:
            continue
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            with contextlib.suppress(PermissionError):  # another user's file: leave it be
                os.chmod(name, 0o600)
