"""Security headers, cookies that are Secure over HTTPS, safe redirects, sign-in sessions
started and ended with a fresh session cookie, and link tokens kept out of access logs."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, has_request_context, request, session, url_for
from flask_login import current_user, login_user, logout_user

# One-time links whose token is in the path: access logs show "[redacted]" in its place.
TOKEN_PATHS = re.compile(r"(/invite/|/password/reset/)[^\s/?#\"']+")
# Responses of these areas are never cached (forms with tokens, links with tokens).
NO_STORE_AREAS = frozenset({"auth", "invitations", "password_reset"})

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",  # no inline script, no eval
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def set_security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    # Invitation links carry their token in the path: never leak it to another site.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.endpoint != "static" and (
        current_user.is_authenticated or request.blueprint in NO_STORE_AREAS
    ):
        # A signed-in page must not be kept by the browser or a proxy: after sign-out, "back"
        # or the next person at a shared computer would see it.
        response.headers["Cache-Control"] = "no-store"
    if TOKEN_PATHS.search(request.path):
        # Not even to this site: the next request's Referer would carry the token.
        response.headers["Referrer-Policy"] = "no-referrer"
    return response


def begin_session(user: Any, *, remember: bool = False) -> None:
    """Sign ``user`` in (their password is checked) with a new sign-in session kept on the
    server. Nothing of the signed-out session carries over: a new session cookie, and with
    it a new CSRF token."""
    from webapp.domain import accounts
    from webapp.extensions import db

    accounts.start_session(
        db.session,
        user,
        ip=request.remote_addr or "",
        user_agent=request.headers.get("User-Agent", ""),
        remember=remember,
    )
    session.clear()
    g.pop("csrf_token", None)  # Flask-WTF caches the request's token here
    login_user(user, remember=remember)


def end_session() -> None:
    """Sign out: the sign-in session is deleted on the server, so copies of the session or
    remember-me cookie stop working too."""
    from webapp.domain import accounts
    from webapp.extensions import db

    if current_user.is_authenticated:
        accounts.end_session(db.session, current_user.sign_in_secret)
    session.clear()
    g.pop("csrf_token", None)
    logout_user()  # after clear(): it marks the remember-me cookie for deletion


def public_link(endpoint: str, **values: Any) -> str:
    """The full address of a page, for a link that leaves the site (mail, the CLI): built on
    PUBLIC_URL when set, so a forged Host header cannot point a mailed link elsewhere; else
    on the request's own address, or on http://127.0.0.1:5000/ outside a request."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    base = app.config.get("PUBLIC_URL")
    if not base:
        if has_request_context():
            return url_for(endpoint, _external=True, **values)
        base = "http://127.0.0.1:5000/"
    path = app.url_map.bind("localhost").build(endpoint, values)
    return str(base).rstrip("/") + path


def redact_tokens(text: str) -> str:
    """``text`` (an access log line) with the tokens of invitation and reset links hidden."""
    return TOKEN_PATHS.sub(r"\1[redacted]", text)


class RedactTokensFilter(logging.Filter):
    """On werkzeug's logger (``flask serve``, ``flask run``): request lines lose link tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_tokens(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def _install_log_filter() -> None:
    werkzeug_logger = logging.getLogger("werkzeug")
    if not any(isinstance(f, RedactTokensFilter) for f in werkzeug_logger.filters):
        werkzeug_logger.addFilter(RedactTokensFilter())


def warn_about_unused_forwarding() -> None:
    """Before each request: once per process, say in the log that requests arrive through a
    proxy whose X-Forwarded-For is not trusted, so every client shares the proxy's address
    (and its sign-in throttling)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.extensions.get("iqsms_forwarding_warned") or int(app.config["PROXY_FIX_HOPS"]):
        return
    if "X-Forwarded-For" in request.headers:
        app.extensions["iqsms_forwarding_warned"] = True
        app.logger.warning(
            "Requests carry X-Forwarded-For but IQSMS_PROXY_FIX_HOPS is 0: every client "
            "appears as the proxy's address %s, and sign-in throttling by address applies "
            "to all of them together. Set IQSMS_PROXY_FIX_HOPS to the number of proxies.",
            request.remote_addr,
        )


class SecureCookiesOverHttps:
    """WSGI middleware: served over HTTPS, every cookie (session, remember-me) gets the Secure
    flag. It works on the final headers, because Flask writes the session cookie, and
    Flask-Login the remember-me cookie, after the app's own after_request hooks have run."""

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        if environ.get("wsgi.url_scheme") != "https":
            return self.wsgi_app(environ, start_response)

        def secure_start_response(status: str, headers: list, exc_info: Any = None) -> Any:
            headers = [
                (name, value + "; Secure")
                if name.lower() == "set-cookie" and "; secure" not in value.lower()
                else (name, value)
                for name, value in headers
            ]
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, secure_start_response)


def safe_next_url(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(ch) < 32 for ch in target):
        return None
    return target


def init_app(app: Flask) -> None:
    app.after_request(set_security_headers)
    app.before_request(warn_about_unused_forwarding)
    _install_log_filter()
    app.wsgi_app = SecureCookiesOverHttps(app.wsgi_app)
    hops = int(app.config["PROXY_FIX_HOPS"])
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
