"""Gunicorn's access log without the tokens of invitation and reset links, and in JSON when
``IQSMS_LOG_FORMAT=json`` asks for it (like the app's own lines: webapp/log_setup.py).

Used as ``gunicorn --logger-class webapp.gunicorn_logging.TokenRedactingLogger ...`` (README,
Production). Every atom of the access log format (request line, path, referer, headers) is
redacted, since a page opened from a link sends it as the Referer of its stylesheets too. A
JSON access line carries the request id the app answered with (X-Request-ID), so it can be
joined with the app's lines about the same request.
"""

from __future__ import annotations

import json
import traceback
from datetime import UTC, datetime
from typing import Any

from gunicorn.glogging import Logger

from webapp.log_setup import JsonFormatter, wants_json
from webapp.security import redact_tokens


class TokenRedactingLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if wants_json():
            for handler in self.error_log.handlers:
                handler.setFormatter(JsonFormatter())

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        return {k: redact_tokens(v) if isinstance(v, str) else v for k, v in atoms.items()}

    def access(self, resp: Any, req: Any, environ: dict, request_time: Any) -> None:
        if not wants_json():
            super().access(resp, req, environ, request_time)
            return
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        line = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "INFO",
            "logger": "gunicorn.access",
            "remote_addr": atoms["h"],
            "method": atoms["m"],
            "path": atoms["U"],
            "query": atoms["q"],
            "status": atoms["s"],
            "bytes": atoms["B"],
            "duration_ms": atoms["M"],
            "request_id": atoms.get("{x-request-id}o"),
            "referer": atoms["f"],
            "user_agent": atoms["a"],
        }
        try:
            self.access_log.info(json.dumps(line, ensure_ascii=False, default=str))
        except Exception:
            self.error(traceback.format_exc())
