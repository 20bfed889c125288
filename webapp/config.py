"""Layered configuration: defaults, then instance/config.py, then the environment, then overrides.

Later layers win. Values that depend on where the instance folder is (the default SQLite file,
the sandbox state, the generated secret key) are filled in here rather than at import time.
"""

import json
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from cryptography.fernet import Fernet
from flask import Flask

DEFAULT_SANDBOX_URL = "http://127.0.0.1:5000/sandbox/messages/v2/"
SANDBOX_CONTROL_TOKEN_FILE = "sandbox_control_token"


class Defaults:
    """Settings used when nothing else says otherwise."""

    LANGUAGES: ClassVar[list[str]] = ["en", "ru"]
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    SANDBOX_URL = DEFAULT_SANDBOX_URL
    # Unset, SECRET_KEY and ENCRYPTION_KEY are generated once into the instance folder.
    SECRET_KEY = None
    ENCRYPTION_KEY = None
    # JSON columns keep non-ASCII keys and values as they are: SQLite's json_extract does not
    # match a key stored \u-escaped (contact fields named in Cyrillic, like "Имя").
    # No pool_pre_ping: it costs a round trip per transaction (every status page, every send
    # batch). A connection the server ended (idle_in_transaction_session_timeout below) fails
    # its statement and is thrown away, never given back to the pool; after a database
    # restart the first statement fails once and the pool starts afresh.
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict] = {
        "json_serializer": lambda value: json.dumps(value, ensure_ascii=False)
    }
    # PostgreSQL only (webapp/app.py). The server ends a session whose transaction sits idle
    # this long, and its locks go with it: a process frozen mid-transaction (SIGSTOP, a paused
    # VM) blocks nobody for longer. No transaction of the app stays open across a gateway call
    # or other wait. 0: the server's own setting (by default, never).
    DB_IDLE_IN_TRANSACTION_SECONDS = 10.0
    # PostgreSQL only. A web request waits this long at most for a row another process has
    # locked, then answers 503 ("busy, try again"); the worker waits as long as it takes.
    # 0: the server's own setting (by default, as long as it takes).
    DB_LOCK_TIMEOUT_SECONDS = 5.0
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_DURATION = 30 * 24 * 3600
    # Anyone may sign up and get a team of their own; False leaves invitations and the CLI.
    SIGNUP_ENABLED = True
    INVITATION_TTL_HOURS = 72
    # Sign-in throttling: after this many failures in the window, each further try waits.
    # Counted per address and per email from one address (a stranger elsewhere cannot lock
    # the account's owner out).
    LOGIN_FAILURES_PER_ACCOUNT_IP = 5
    LOGIN_FAILURES_PER_IP = 20
    # Email (invitations, password resets) goes out through this SMTP server; unset, no mail
    # is sent: invitation links are shown to the admin and `flask users reset-link` makes
    # reset links. MAIL_USE_TLS: STARTTLS on MAIL_PORT; MAIL_USE_SSL: TLS from the start.
    MAIL_SERVER = None
    MAIL_PORT = 25
    MAIL_USERNAME = None
    MAIL_PASSWORD = None
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_FROM = None  # the From address; unset: no-reply@MAIL_SERVER
    MAIL_TIMEOUT = 10.0  # seconds for each step of talking to the mail server
    # The dashboard's address as people reach it (https://sms.example.com/): mailed links and
    # `flask users reset-link` start with it. Unset, mailed links follow the request's host.
    PUBLIC_URL = None
    LOGIN_WINDOW_SECONDS = 15 * 60
    # A new team's own sandbox account starts with this balance (RUB) and price per part.
    SANDBOX_STARTING_BALANCE = "1000.00"
    SANDBOX_PRICE_PER_PART = "2.50"
    # The secret that opens the sandbox's control API (accounts, balances, received messages),
    # which the dashboard uses to provision and top up each team's sandbox account. Unset,
    # `flask serve` and `flask worker` generate one once into the instance folder, and every
    # process sharing the folder reads it from there, so they agree with the mounted sandbox.
    SANDBOX_CONTROL_TOKEN = None
    # Seconds between snapshots of each team's balance (one also follows every campaign).
    BALANCE_INTERVAL = 900
    # Dispatch loops per worker: one waits for the gateway while others store or claim. Each
    # team with messages to send holds at most ceil(threads / such teams) of them at once.
    DISPATCH_THREADS = 3
    # send.json calls one team may have in flight in a worker, shared between its loops (each
    # keeps SEND_IN_FLIGHT // its team's loops, at least one): at a 150 ms round trip, 12
    # calls of 200 are 16,000 messages a second at most. A team with a send rate keeps no more
    # than a second's worth of its batches in flight (webapp/domain/sending.py).
    SEND_IN_FLIGHT = 12
    # Threads per worker for each team-by-team job (status queue, status poll, balance, sender
    # names): teams' gateway calls run side by side, one at a time per team, so a gateway that
    # hangs holds up only its own team.
    TEAM_THREADS = 4
    # Pages of one team's status queue applied at once on PostgreSQL, each in a database
    # connection of its own (on SQLite one: its writes take turns). One leaves the database's
    # CPU to the pages people are looking at when it shares their machine; on a database server
    # of its own with cores to spare, two apply a flood of statuses faster (benchmarks/status.py).
    STATUS_APPLIERS = 1
    # Minutes after acceptance before status.json is first asked about a message whose status
    # never came through the queue (the wait doubles after each check), and hours after
    # sending before a message still without a final status is marked expired.
    STATUS_CHECK_AFTER_MINUTES = 10
    STATUS_EXPIRE_AFTER_HOURS = 72
    # Short, explicit calls made while a person waits ("test connection"), in seconds: the
    # whole call's deadline, however slowly the gateway answers.
    GATEWAY_INTERACTIVE_TIMEOUT = 8.0
    # The same deadline for the worker's gateway calls; well under the two minutes after
    # which a claim is taken as stale.
    GATEWAY_DEADLINE = 45.0
    # Seconds after which a message left `sending` is taken for a dead (or frozen) worker's
    # and becomes `unknown`: at least twice GATEWAY_DEADLINE whatever is set here, since a
    # live worker's call ends by its deadline (webapp/jobs/dispatch.py).
    STALE_CLAIM_SECONDS = 120.0
    # Gateway replies larger than this (bytes) are refused.
    GATEWAY_MAX_REPLY_BYTES = 4 * 1024 * 1024
    # Hosts a team's gateway URL may name besides the iQSMS API and the built-in sandbox:
    # comma-separated `host` or `host:port`. These may be anywhere, private networks included;
    # the iQSMS API must resolve to public addresses.
    GATEWAY_ALLOWED_HOSTS = ""
    # Seconds a team waits after one "test connection", "refresh now" or sender sync before
    # the next (one at a time per team, whatever the process).
    GATEWAY_INTERACTIVE_COOLDOWN = 5.0
    # Trust X-Forwarded-* from this many proxies (for HTTPS detection behind a load balancer).
    PROXY_FIX_HOPS = 0
    # Flask-Compress (webapp/static_assets.py): pages, fragments, styles, scripts and JSON go
    # compressed (zstd, brotli or gzip, as the browser accepts). CSV downloads do not: their
    # stream would be wrapped in stream_with_context, holding the request and its database
    # session open until a slow client reads the last byte of a million rows.
    COMPRESS_MIMETYPES: ClassVar[list[str]] = [
        "text/html",
        "text/css",
        "text/javascript",
        "application/javascript",
        "application/json",
        "image/svg+xml",
    ]
    # Request body limits (bytes): every form at most MAX_CONTENT_LENGTH, each multipart text
    # field at most MAX_FORM_MEMORY_SIZE; only the CSV upload takes up to UPLOAD_MAX_BYTES,
    # spooled to disk, never to memory (webapp/body_limits.py).
    MAX_CONTENT_LENGTH = 1024 * 1024
    MAX_FORM_MEMORY_SIZE = 1024 * 1024
    UPLOAD_MAX_BYTES = 256 * 1024 * 1024
    # A team's uploads kept on disk (waiting for their preview or import) at most, in bytes;
    # uploads never started are removed after UPLOAD_EXPIRE_HOURS by the worker.
    UPLOAD_QUOTA_BYTES = 1024 * 1024 * 1024
    UPLOAD_EXPIRE_HOURS = 24
    # Operations (webapp/log_setup.py, webapp/views/health.py). Log lines as text, or as one
    # JSON object a line ("json") for a log collector; at this level and above.
    LOG_FORMAT = "text"
    LOG_LEVEL = "INFO"
    # The bearer token that opens /metrics and the per-team details of /readyz; unset, /metrics
    # is not found (404) and /readyz says only whether the service is ready.
    METRICS_TOKEN = None
    # A worker beats every 10 s; /readyz wants a beat younger than this many seconds.
    WORKER_HEARTBEAT_STALE_SECONDS = 60


def normalize_database_url(url: str) -> str:
    """Point plain PostgreSQL URLs at the psycopg 3 driver.

    Hosting providers hand out ``postgres://`` (which SQLAlchemy no longer accepts) or
    ``postgresql://`` (which SQLAlchemy maps to psycopg2, not installed here).
    """
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def load_config(app: Flask, overrides: Mapping[str, Any] | None = None) -> None:
    """Fill ``app.config`` from every layer, in order."""
    instance = Path(app.instance_path)
    app.config.from_object(Defaults)
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'iqsms.sqlite3'}"
    app.config["SANDBOX_STATE_PATH"] = str(instance / "sandbox.sqlite3")

    app.config.from_pyfile("config.py", silent=True)

    if database_url := os.environ.get("DATABASE_URL"):
        app.config["SQLALCHEMY_DATABASE_URI"] = database_url
    if secret_key := os.environ.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secret_key
    app.config.from_prefixed_env("IQSMS")

    if overrides:
        app.config.update(overrides)
    _read_switches(app.config)

    app.config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = load_or_create_secret_key(instance / "secret_key")
    if not app.config["ENCRYPTION_KEY"]:
        # A key of its own, not derived from SECRET_KEY: rotating one must not break the other.
        app.config["ENCRYPTION_KEY"] = load_or_create_secret_key(
            instance / "encryption_key", new_key=lambda: Fernet.generate_key().decode()
        )
    app.config["SANDBOX_CONTROL_TOKEN"] = _sandbox_control_token(app.config, instance)


def _read_switches(config: dict[str, Any]) -> None:
    """On/off settings given as words (``IQSMS_SIGNUP_ENABLED=False`` is not JSON, so it
    arrives as the text "False", which Python would take as true) become booleans."""
    for name, default in vars(Defaults).items():
        if isinstance(default, bool) and isinstance(config.get(name), str):
            config[name] = config[name].strip().lower() not in ("false", "no", "off", "0", "")


def _sandbox_control_token(config: Mapping[str, Any], instance: Path) -> str | None:
    token = config["SANDBOX_CONTROL_TOKEN"]
    if token is None or token == "":
        try:  # generated by `flask serve` or `flask worker` (ensure_sandbox_control_token)
            return (instance / SANDBOX_CONTROL_TOKEN_FILE).read_text().strip() or None
        except FileNotFoundError:
            return None
    if not isinstance(token, str):
        # From the environment a token of digits arrives as a number (read as JSON): the
        # text as typed is the token ("1.50" is not 1.5).
        return os.environ.get("IQSMS_SANDBOX_CONTROL_TOKEN", str(token))
    return token


def ensure_sandbox_control_token(app: Flask) -> str:
    """The app's SANDBOX_CONTROL_TOKEN, generated once into the instance folder (readable by
    the owner only) when none is configured: `flask serve` gives it to the sandbox it mounts."""
    if not app.config["SANDBOX_CONTROL_TOKEN"]:
        app.config["SANDBOX_CONTROL_TOKEN"] = load_or_create_secret_key(
            Path(app.instance_path) / SANDBOX_CONTROL_TOKEN_FILE
        )
    return app.config["SANDBOX_CONTROL_TOKEN"]


def load_or_create_secret_key(
    path: Path, new_key: Callable[[], str] = lambda: secrets.token_hex(32)
) -> str:
    """Return the key stored at ``path``, creating it (readable by the owner only) if missing.

    Persisting it keeps sessions valid across restarts and identical across processes that share
    the instance folder (web and worker).
    """
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = new_key()
    # Write a private temporary file, then link it into place: the link fails if another process
    # (a worker starting beside the web) got there first, and then its key is the one to use.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        key = path.read_text().strip()
    finally:
        tmp.unlink()
    return key
