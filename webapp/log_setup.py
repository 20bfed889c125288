"""Log lines an operator can follow across processes: each carries the request it served (its
id, taken from the reverse proxy's X-Request-ID or made here, and echoed in the response), or
the team and campaign a worker thread was busy with.

Worker code says what it works on with ``with log_context(team=..., campaign=...)``; the
fields live in a context variable, so they follow the code that runs inside the block (in
its thread) and nothing else. ``LOG_FORMAT = "json"`` (``IQSMS_LOG_FORMAT=json``) writes one
JSON object a line for a log collector; the default is text for a person at a terminal.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import traceback
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from flask.logging import default_handler

REQUEST_ID_HEADER = "X-Request-ID"
# What a request id from outside may look like: a log line must not take a newline or a
# quote from a stranger's header, nor a novel's length.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# The fields a line may carry, in the order the text format shows them.
FIELDS = ("request_id", "team", "campaign")

# Libraries whose INFO lines say nothing an operator needs: APScheduler's two lines for each
# run of each tick (a dozen a second in a worker). Their warnings and errors still show.
QUIET_LOGGERS = ("apscheduler",)

_context: ContextVar[Mapping[str, Any]] = ContextVar(
    "iqsms_log_context", default=MappingProxyType({})
)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Every line logged inside the block (in this thread) names these fields too, e.g.
    ``with log_context(team=team_id):``; an inner block adds to an outer one."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def current_fields() -> dict[str, Any]:
    """The fields the next line would carry: the request's id, then the log context's."""
    fields: dict[str, Any] = {}
    if has_request_context() and g.get("request_id"):
        fields["request_id"] = g.request_id
    fields.update((k, v) for k, v in _context.get().items() if v is not None)
    return fields


class ContextFilter(logging.Filter):
    """Copies the current fields onto each record that passes the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.iqsms_fields = current_fields()
        return True


class TextFormatter(logging.Formatter):
    """``2026-12-01 21:40:00,123 INFO webapp.jobs.statuses: message [team=3 campaign=12]``"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "iqsms_fields", None) or {}
        if not fields:
            return line
        named = " ".join(f"{k}={fields[k]}" for k in _ordered(fields))
        first, newline, rest = line.partition("\n")  # after the message, before a traceback
        return f"{first} [{named}]{newline}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, process, the fields, and
    the traceback of an exception as one string."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        fields = getattr(record, "iqsms_fields", None)
        if fields is None:  # a record that did not pass ContextFilter (gunicorn's own)
            fields = current_fields()
        line.update((k, fields[k]) for k in _ordered(fields))
        if record.exc_info:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(line, ensure_ascii=False, default=str)


def _ordered(fields: Mapping[str, Any]) -> list[str]:
    return [k for k in FIELDS if k in fields] + sorted(k for k in fields if k not in FIELDS)


def wants_json(log_format: object = None) -> bool:
    """Whether lines are asked for as JSON: the setting given, else ``IQSMS_LOG_FORMAT``."""
    value = os.environ.get("IQSMS_LOG_FORMAT", "") if log_format is None else log_format
    return str(value).strip().lower() == "json"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (a test runner swaps it per test)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(log_format: object, level: object) -> logging.Handler:
    """Send every logger's lines (the app's, the worker's, werkzeug's) to stderr in the asked
    format, through the root logger; done again, it replaces its own handler, never adds a
    second."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _StderrHandler)), None)
    if handler is None:
        handler = _StderrHandler()
        handler.addFilter(ContextFilter())
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if wants_json(log_format) else TextFormatter())
    root.setLevel(logging.getLevelNamesMapping().get(str(level or "").upper(), logging.INFO))
    for name in QUIET_LOGGERS:
        quiet = logging.getLogger(name)
        if quiet.level == logging.NOTSET:
            quiet.setLevel(logging.WARNING)
    return handler


def init_app(app: Flask) -> None:
    """Configure logging from ``LOG_FORMAT`` and ``LOG_LEVEL``, and give each request an id."""
    configure_logging(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    # Flask's own handler would write the app's lines a second time, in its own format.
    app.logger.removeHandler(default_handler)
    app.before_request(_take_request_id)
    app.after_request(_echo_request_id)


def _take_request_id() -> None:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _echo_request_id(response: Response) -> Response:
    if g.get("request_id"):
        response.headers[REQUEST_ID_HEADER] = g.request_id
    return response
