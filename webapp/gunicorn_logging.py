"""Gunicorn's access log without the tokens of invitation and reset links.

Used as ``gunicorn --logger-class webapp.gunicorn_logging.TokenRedactingLogger ...`` (README,
Production). Every atom of the access log format (request line, path, referer, headers) is
redacted, since a page opened from a link sends it as the Referer of its stylesheets too.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from webapp.security import redact_tokens


class TokenRedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        return {k: redact_tokens(v) if isinstance(v, str) else v for k, v in atoms.items()}
