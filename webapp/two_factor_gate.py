"""The two-factor gate: which signed-in requests may pass before the second step.

A person with two-factor sign-in on is signed in by the password step (``flask_login``) but
held here until this browser session has passed the code step: every page except the code
page, signing out and static files sends them there (htmx requests get an ``HX-Redirect``). A
member of a team that requires it, without it on, is sent to enrol before they see the team;
they may still sign out, make or switch to another team, or open their account.

The passed state is kept in the session, bound to the id Flask-Login keeps (user id and
session token), and is dropped at every sign-in that did not start from a passed session, at
sign-out, and when a remember-me cookie restores a session.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, redirect, request, session, url_for
from flask_login import current_user, user_loaded_from_cookie, user_logged_in, user_logged_out

from webapp.domain import two_factor
from webapp.extensions import db
from webapp.htmx import is_htmx

SESSION_KEY = "two_factor_passed"

# Open before the code step: the code page itself, signing out, and static files.
OPEN_BEFORE_CODE = frozenset({"static", "main.healthz", "auth.logout", "two_factor.verify"})
# Open to a member whose team requires two-factor sign-in before they turn it on: enrolling,
# their own account, another team (switching, making one, joining one).
OPEN_BEFORE_ENROLMENT = OPEN_BEFORE_CODE | {
    "auth.account",
    "auth.set_phone",
    "notifications.settings",
    "invitations.accept",
    "teams.new",
    "teams.switch",
    "two_factor.settings",
    "two_factor.setup",
    "two_factor.enrol",
    "two_factor.download_recovery_codes",
}


def passed() -> bool:
    """Whether this session has passed the code step for the signed-in person."""
    return current_user.is_authenticated and session.get(SESSION_KEY) == current_user.get_id()


def mark_passed() -> None:
    session[SESSION_KEY] = current_user.get_id()


def gate() -> Any:
    """Before each request (after the current team is found): hold a person at the code step,
    or at enrolment for a team that requires it."""
    g.two_factor_pending = False
    g.two_factor_passed_by = str(current_user.id) if passed() else None
    if not current_user.is_authenticated or request.endpoint == "static":
        return None
    if not passed() and two_factor.is_enabled(db.session, current_user):
        g.two_factor_pending = True
        _hide_team()
        if request.endpoint in OPEN_BEFORE_CODE:
            return None
        return _send_to(url_for("two_factor.verify", next=_next_path()))
    team = g.get("team")
    required = team is not None and team.two_factor_required
    if required and not two_factor.is_enabled(db.session, current_user):
        _hide_team()
        if request.endpoint in OPEN_BEFORE_ENROLMENT:
            return None
        return _send_to(url_for("two_factor.settings"))
    return None


def _hide_team() -> None:
    # Pages open to a held person show nothing of the team: no name, menu or balance banner.
    g.held_team = g.get("team")
    g.team = g.membership = None


def _next_path() -> str | None:
    if request.method != "GET" or is_htmx():
        return None
    return request.full_path.rstrip("?")


def _send_to(location: str) -> Response:
    if is_htmx():
        # htmx follows HX-Redirect with a full page load; a 302 would be swapped into place.
        response = Response("", status=200)
        response.headers["HX-Redirect"] = location
        return response
    return redirect(location)


def _on_sign_in(_app: Any, **_extra: Any) -> None:
    # A sign-in asks for the code again unless it came from a session that had passed the
    # step as the same person (changing one's password signs in again under a new id).
    # The new id is read from the session: the user given may be the current_user proxy,
    # which cannot be read while Flask-Login swaps it.
    signed_in_as = session.get("_user_id") or ""
    if g.get("two_factor_passed_by") == signed_in_as.partition(":")[0]:
        session[SESSION_KEY] = signed_in_as
    else:
        session.pop(SESSION_KEY, None)


def _forget(_app: Any, **_extra: Any) -> None:
    session.pop(SESSION_KEY, None)


def init_app(app: Flask) -> None:
    """Register the gate after ``access.load_current_team``, which it reads."""
    app.before_request(gate)
    user_logged_in.connect(_on_sign_in)
    user_logged_out.connect(_forget)
    user_loaded_from_cookie.connect(_forget)
