"""Static files versioned by their content, and the cache headers that make a repeat visit
fetch none of them.

Every ``url_for('static', filename=...)`` gains ``?v=<hash of the file>``: the hashes are read
once when the app starts (in debug, again when a file changes), never per request. A request
that names the file's current version is answered as cacheable for a year and immutable, so a
browser does not even ask again; a new deploy changes the hash, and so the URL. Any other
static request (no version, an old one) must be revalidated.

Responses are compressed by Flask-Compress (``COMPRESS_*`` in webapp/config.py says which).
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from werkzeug.security import safe_join

VERSION_ARG = "v"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
DIGEST_CHARS = 12  # 48 bits of SHA-256: enough to tell a project's versions of a file apart


def fingerprint(path: Path) -> str:
    """The version of a file: the start of the SHA-256 of its bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()[:DIGEST_CHARS]


class StaticVersions:
    """The version of every file under a static folder, read when it is made. With ``watch``
    (debug), a file whose modification time changed is read again, so an edited stylesheet
    gets a new URL without a restart."""

    def __init__(self, folder: str | Path, *, watch: bool = False) -> None:
        self.folder = Path(folder)
        self.watch = watch
        self._lock = threading.Lock()
        self._known: dict[str, tuple[int, str]] = {}  # name -> (mtime_ns, version)
        if self.folder.is_dir():
            for path in sorted(self.folder.rglob("*")):
                if path.is_file():
                    self._read(path.relative_to(self.folder).as_posix(), path)

    def _read(self, name: str, path: Path) -> str:
        entry = (path.stat().st_mtime_ns, fingerprint(path))
        with self._lock:
            self._known[name] = entry
        return entry[1]

    def for_link(self, name: str) -> str | None:
        """The version to put in a link to ``name`` (a path under the folder, as templates
        give it); None for a file that is not there. A file added since the start is read
        once, on its first link."""
        entry = self._known.get(name)
        if entry is not None and not self.watch:
            return entry[1]
        joined = safe_join(str(self.folder), name)
        path = Path(joined) if joined else None
        if path is None or not path.is_file():
            return None
        if entry is not None and entry[0] == path.stat().st_mtime_ns:
            return entry[1]
        return self._read(name, path)

    def current(self, name: str) -> str | None:
        """The version of ``name`` known now, for a request (which never makes us read a
        file: the name is the visitor's)."""
        entry = self._known.get(name)
        return entry[1] if entry is not None else None


def add_version(versions: StaticVersions, endpoint: str, values: dict[str, Any]) -> None:
    """A ``url_defaults`` function: links to a static file name its version."""
    if endpoint == "static" and "filename" in values and VERSION_ARG not in values:
        version = versions.for_link(values["filename"])
        if version is not None:
            values[VERSION_ARG] = version


def cache_headers(versions: StaticVersions, response: Response) -> Response:
    """An ``after_request`` function: a static file asked for by its current version is kept
    for a year without asking again; any other answer of the static route is revalidated."""
    if request.endpoint != "static":
        return response
    if response.is_streamed and hasattr(response.response, "close"):
        # Flask-Compress (after us) swaps a file's body for its compressing generator, which
        # does not close the file: the response closes it when it ends.
        response.call_on_close(response.response.close)
    name = (request.view_args or {}).get("filename", "")
    asked = request.args.get(VERSION_ARG)
    if asked is not None and asked == versions.current(name) and response.status_code < 400:
        response.headers["Cache-Control"] = IMMUTABLE
        response.headers.pop("Expires", None)
    else:
        response.headers["Cache-Control"] = REVALIDATE
    return response


def init_app(app: Flask) -> None:
    """Read the static folder's versions and install the link and header functions."""
    if app.static_folder is None:
        return
    versions = StaticVersions(app.static_folder, watch=app.debug)
    app.extensions["static_versions"] = versions
    app.url_defaults(lambda endpoint, values: add_version(versions, endpoint, values))
    app.after_request(lambda response: cache_headers(versions, response))
