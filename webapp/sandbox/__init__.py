"""The sandbox gateway: an iQSMS-compatible simulator with its own state and app factory.

It imports only the iQSMS binding's vocabulary and text rules from the rest of webapp, so it can be
run, and reasoned about, on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask

from .accounts import seed
from .faults import FaultPicker
from .gateway import Gateway
from .settings import Faults, Settings
from .store import Store

__all__ = ["Faults", "Gateway", "Settings", "create_sandbox_app"]


MAX_BODY = 4 * 1024 * 1024


def create_sandbox_app(
    state_path: str,
    settings: Settings | None = None,
    clock: Callable[[], float] = time.time,
) -> Flask:
    """Build the sandbox WSGI app on the state file at ``state_path`` (created when missing).

    Its control API (/_sandbox/) answers only requests carrying ``settings.control_token``; without
    one set it is off (404).
    """
    from .views import api, control

    settings = settings or Settings()
    store = Store(state_path)
    seed(store, clock(), settings.approval_delay)
    app = Flask(__name__)
    # The largest call the API takes (200 messages of long texts) is well under this; a larger
    # body is refused with 413 before it is read, also when mounted inside the dashboard.
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.extensions["iqsms_sandbox"] = Gateway(store, settings, clock)
    app.extensions["iqsms_sandbox_faults"] = FaultPicker(settings.faults, settings.seed)
    app.register_blueprint(api)
    app.register_blueprint(control)
    return app
