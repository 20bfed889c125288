"""Files at rest readable by the service's user only: the instance folder (0700), the SQLite
database with its -wal and -shm files (0600), and uploads (0600, see
webapp.domain.csv_preview.store_upload). create_app() applies it, so `flask serve`, `flask
worker` and gunicorn (wsgi.py) all do, whatever the umask.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600


def private_folder(path: str | Path) -> None:
    """Create a folder readable by its owner only (the umask could widen ``mkdir``'s mode),
    and narrow one of ours that others could read."""
    folder = Path(path)
    folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    _narrow(folder, PRIVATE_FOLDER)


def private_database(url: str) -> None:
    """Narrow an existing SQLite database file (and its -wal, -shm) to its owner; one made
    later is narrowed on its first connection (:func:`private_sqlite_connection`). Other
    databases keep their data elsewhere."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return
    if parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return
    _narrow_database(Path(parsed.database))


def private_sqlite_connection(dbapi_connection: Any, _connection_record: Any) -> None:
    """On each new SQLite connection (before WAL is switched on, so that SQLite gives its -wal
    and -shm files the database's mode): the database file readable by its owner only."""
    cursor = dbapi_connection.cursor()
    try:
        files = [row[2] for row in cursor.execute("PRAGMA database_list") if row[2]]
    finally:
        cursor.close()
    for name in files:
        _narrow_database(Path(name))


def _narrow_database(database: Path) -> None:
    for path in (database, *(Path(f"{database}{s}") for s in ("-wal", "-shm", "-journal"))):
        _narrow(path, PRIVATE_FILE)


def _narrow(path: Path, mode: int) -> None:
    """Take group and other permissions off a file or folder of ours."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & 0o077:
        path.chmod(stat.S_IMODE(info.st_mode) & mode)
