"""Layered configuration: defaults, then instance/config.py, then the environment, then overrides.

Later layers win. Values that depend on where the instance folder is (the default SQLite file,
the sandbox state, the generated secret key) are filled in here rather than at import time.
"""

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from flask import Flask

DEFAULT_SANDBOX_URL = "http://127.0.0.1:5000/sandbox/messages/v2/"


class Defaults:
    """Settings used when nothing else says otherwise."""

    LANGUAGES: ClassVar[list[str]] = ["en", "ru"]
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    SANDBOX_URL = DEFAULT_SANDBOX_URL
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"


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

    app.config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_or_create_secret_key(instance / "secret_key")


def load_or_create_secret_key(path: Path) -> str:
    """Return the key stored at ``path``, creating it (readable by the owner only) if missing.

    Persisting it keeps sessions valid across restarts and identical across processes that share
    the instance folder (web and worker).
    """
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32)
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
