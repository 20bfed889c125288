"""Request body limits per endpoint: every form takes at most ``MAX_CONTENT_LENGTH`` (small),
and only views marked :func:`large_body` take more, up to the setting they name (the CSV upload,
whose file werkzeug spools to a temporary file on disk, never to memory).

The limit is set before any other ``before_request`` runs (CSRF reads the form), so a body over
it is refused with 413 before a byte more than the limit is read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, request
from flask_login import current_user

MARK = "large_body_setting"
View = TypeVar("View", bound=Callable[..., Any])


def large_body(setting: str) -> Callable[[View], View]:
    """Let a view take bodies up to ``config[setting]`` bytes. Put it under the route and
    access decorators (they copy the mark with ``functools.wraps``)."""

    def mark(view: View) -> View:
        setattr(view, MARK, setting)
        return view

    return mark


def limit_of_request() -> int | None:
    """The body limit of the request being served, in bytes."""
    return request.max_content_length


def _apply_limit() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    setting = getattr(view, MARK, None)
    # Only a person signed in may send a large body: a stranger's would be spooled to disk
    # (CSRF reads the form before the view refuses it) however many they sent.
    if setting is not None and current_user.is_authenticated:
        request.max_content_length = current_app.config[setting]


def init_app(app: Flask) -> None:
    """Register the limit first among the app's ``before_request`` functions."""
    app.before_request_funcs.setdefault(None, []).insert(0, _apply_limit)
