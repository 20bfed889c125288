"""Who may do what: the current team of a request, role checks, and team-scoped lookups.

Every team-owned row is read through :func:`team_scoped`, so an id from another team is a 404,
never a 403 that would confirm it exists.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, abort, flash, g, has_request_context, redirect, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.routing import Rule

from webapp.extensions import db
from webapp.models import Membership, Role, Team

M = TypeVar("M")


class Permission(StrEnum):
    VIEW = "view"  # see the team's campaigns, contacts, reports
    SEND = "send"  # compose and send campaigns, manage contacts
    MANAGE = "manage"  # members, gateway settings, sender names, the audit log
    OWN = "own"  # billing settings, deleting the team


NEEDS: dict[Permission, Role] = {
    Permission.VIEW: Role.VIEWER,
    Permission.SEND: Role.SENDER,
    Permission.MANAGE: Role.ADMIN,
    Permission.OWN: Role.OWNER,
}


def load_current_team() -> None:
    """Find the signed-in person's current team (before each request): the one the URL names
    (``/teams/<id>/...``: a team the person is not in is a 404), else the one chosen this
    session, else the one they used last, else their first. A URL's team becomes the
    session's too, so that the pages without a team in their URL follow it."""
    g.membership = g.team = None
    if not current_user.is_authenticated:
        return
    memberships = {m.team_id: m for m in current_user.memberships}
    named = g.pop("url_team_id", None)
    if named is not None and named not in memberships:
        abort(404)
    wanted = named or session.get("team_id") or current_user.last_team_id
    membership = memberships.get(wanted) or next(iter(_by_name(memberships.values())), None)
    if membership is not None:
        g.membership, g.team = membership, membership.team
        if session.get("team_id") != membership.team_id:
            # Written only when it changes: a session written by every request (its cookie
            # sent back with every answer) loses what a request alongside it wrote, such as
            # a flash message, when an htmx request's answer comes back after it.
            session["team_id"] = membership.team_id


def switch_team(team_id: int) -> Team:
    """Make another of the person's teams current; 404 if they are not in it."""
    membership = db.session.scalar(
        select(Membership).where(
            Membership.team_id == team_id, Membership.user_id == current_user.id
        )
    )
    if membership is None:
        abort(404)
    session["team_id"] = team_id
    current_user.last_team_id = team_id
    db.session.commit()
    return membership.team


def can(permission: Permission) -> bool:
    """Whether the current person may do this in the current team (for views and templates)."""
    membership = g.get("membership")
    return membership is not None and membership.role_enum.at_least(NEEDS[permission])


# -- links that name their team ------------------------------------------------------------------
# Every page of a team has a second URL that names the team, ``/teams/<id>`` before its path,
# and every link the app makes to such a page names the current team (``url_for`` fills it in).
# A tab keeps working in its team while another tab switches, and a link shared with a colleague
# opens the right team for any member of it. The URLs without a team stay, for the pages outside
# a team and for old bookmarks: they show the session's current team.

TEAM_PREFIX = "/teams/<int:team_id>"
TEAM_URL_ARG = "team_id"


def team_page(view: Callable) -> Callable:
    """Mark a view as a page of the current team (``team_required`` marks its views)."""
    view.team_page = True  # type: ignore[attr-defined]
    return view


def init_team_urls(app: Flask) -> None:
    """Give every team page its URL under ``/teams/<id>`` (once the blueprints are
    registered), read the team from it, and name the current team in the links made to it."""
    endpoints = {
        endpoint
        for endpoint, view in app.view_functions.items()
        if getattr(view, "team_page", False)
    }
    for rule in list(app.url_map.iter_rules()):
        if rule.endpoint in endpoints:
            app.url_map.add(
                Rule(
                    TEAM_PREFIX + rule.rule,
                    endpoint=rule.endpoint,
                    methods=rule.methods,
                    defaults=rule.defaults,
                )
            )
    app.config["TEAM_ENDPOINTS"] = frozenset(endpoints)

    @app.url_value_preprocessor
    def take_team(_endpoint: str | None, values: dict[str, Any] | None) -> None:
        if values and TEAM_URL_ARG in values:
            g.url_team_id = values.pop(TEAM_URL_ARG)

    @app.url_defaults
    def name_team(endpoint: str, values: dict[str, Any]) -> None:
        if TEAM_URL_ARG in values or endpoint not in endpoints:
            return
        team = g.get("team") if has_request_context() else None
        if team is not None:
            values[TEAM_URL_ARG] = team.id


def team_required(permission: Permission = Permission.VIEW) -> Callable:
    """Decorate a view that works in the current team: sign-in needed, a team needed (else
    offer to create one), and the role for ``permission`` (else 403)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if g.get("team") is None:
                flash(_("You are not in a team yet. Create one, or ask for an invitation."))
                return redirect(url_for("teams.new"))
            if not can(permission):
                abort(403)
            return view(*args, **kwargs)

        return team_page(wrapped)

    return decorator


def current_team() -> Team:
    return g.team


def team_scoped(model: type[M], object_id: int) -> M:
    """The current team's row of ``model`` with this id, or 404."""
    row = db.session.scalar(
        select(model).where(model.id == object_id, model.team_id == g.team.id)  # type: ignore[attr-defined]
    )
    if row is None:
        abort(404)
    return row


def _by_name(memberships: Any) -> list[Membership]:
    return sorted(memberships, key=lambda m: (m.team.name.lower(), m.team_id))
