"""Every page of the app, walked from ``app.url_map``: for tests that look at all of them (the
untranslated-text test, the browser's width and accessibility test, tests/e2e/).

- ``lived_in_team(app) -> WalkTeam`` (tests/lived_in_team.py): an owner who can sign in and a
  team with a row of every kind a URL can name, its names in Russian.
- ``page_paths(app, team) -> list[str]``: every GET route that answers a page or an htmx
  fragment (HTML) to the signed-in owner, its URL arguments filled from ``team``; a team
  page both as ``/teams/<id>/...`` and without the team, no path twice. Routes are found
  from ``app.url_map``, so a new page is walked without anyone remembering it. Left out:
  downloads (a path ending in a file name: ``messages.csv``), the routes of ``NOT_PAGES``
  (they answer no page of their own) and the signed-out ones of ``PUBLIC``. A URL argument
  the walk cannot fill fails the test and says what to add to ``ARGUMENTS``.
- ``public_paths(app) -> list[str]``: the pages of ``PUBLIC``, for a signed-out visitor; a
  link with a token is walked live (made here: a team's invitation, a password reset) and
  used up (``invalid.html``, answered with 404).
- ``is_fragment(app, path)``: whether a path answers a fragment of a page (``FRAGMENTS``);
  ask those with ``HX-Request: true`` (``tests.helpers.HX``), as htmx does.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.routing import Rule

from tests.lived_in_team import WalkTeam, lived_in_team
from webapp.domain import password_resets, teams
from webapp.extensions import db
from webapp.models import Role, User

__all__ = ["WalkTeam", "is_fragment", "lived_in_team", "page_paths", "public_paths"]

# Signed-out pages (public_paths walks them; page_paths leaves them out).
PUBLIC = frozenset(
    {
        "auth.login",
        "auth.signup",
        "invitations.accept",
        "password_reset.forgot",
        "password_reset.reset",
    }
)
# GET routes that answer no page of their own, and why.
NOT_PAGES = {
    "static": "files",
    "main.healthz": "a health check in plain text",
    "health.readyz": "a readiness check in JSON",
    "health.prometheus_metrics": "metrics for Prometheus, behind the operator's token",
    "notifications.follow": "a redirect to what the notification is about",
    "two_factor.verify": "the sign-in's second step: a signed-in person is sent on",
}
# GET routes that answer a piece of a page (htmx asks for them), not a page.
FRAGMENTS = frozenset({"campaigns.funds_now", "test_sends.panel"})
DOWNLOAD = re.compile(r"\.\w+$")  # a path that ends in a file name

# URL argument -> the WalkTeam attribute holding a row of that kind (a tuple: walked with each).
ARGUMENTS: dict[str, str] = {
    "team_id": "team_id",
    "campaign_id": "draft_id",  # the composer's routes work on drafts
    "list_id": "list_id",
    "contact_id": "contact_id",
    "import_id": "import_id",
    "entry_id": "stop_entry_id",
    "template_id": "template_id",
    "notification_id": "notification_id",
    "membership_id": "member_id",
    "invitation_id": "invitation_id",
}
# Routes walked with other rows than their argument's usual ones.
ROUTE_ARGUMENTS: dict[tuple[str, str], str] = {
    ("campaigns.show", "campaign_id"): "campaign_ids",  # a campaign's page in every state
    ("contacts.preview", "import_id"): "pending_import_id",  # a file waiting to be read
}


# -- the walk ------------------------------------------------------------------------------------


def page_paths(app: Flask, team: WalkTeam) -> list[str]:
    """Every page and fragment a signed-in owner opens, with ``team``'s rows (module doc)."""
    paths = [
        path
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or ()) and is_walked(rule)
        for path in _paths(rule, team)
    ]
    return sorted(dict.fromkeys(paths))


def is_walked(rule: Rule) -> bool:
    """Whether ``page_paths`` walks a GET route."""
    return not (rule.endpoint in PUBLIC or rule.endpoint in NOT_PAGES or DOWNLOAD.search(rule.rule))


def is_fragment(app: Flask, path: str) -> bool:
    """Whether ``path`` (one of page_paths) answers a fragment of a page, not a page."""
    endpoint, _ = app.url_map.bind("localhost").match(path, method="GET")
    return endpoint in FRAGMENTS


def _paths(rule: Rule, team: WalkTeam) -> Iterator[str]:
    names = sorted(url_arguments(rule))
    choices = []
    for name in names:
        attribute = ROUTE_ARGUMENTS.get((rule.endpoint, name)) or ARGUMENTS.get(name)
        if attribute is None:
            pytest.fail(
                f"GET {rule.rule} ({rule.endpoint}) takes <{name}>, which the page walk cannot "
                f"fill: add {name!r} to ARGUMENTS in tests/page_walk.py, mapped to a WalkTeam "
                "attribute holding a row of that kind (made in tests/lived_in_team.py), or "
                "add the route to NOT_PAGES with the reason it answers no page of its own."
            )
        value = getattr(team, attribute)
        choices.append(value if isinstance(value, tuple) else (value,))
    for values in itertools.product(*choices):
        yield build(rule, dict(zip(names, values, strict=True)))


def url_arguments(rule: Rule) -> set[str]:
    """The arguments a request fills in: those of the path, not the rule's fixed defaults."""
    return set(rule.arguments) - set(rule.defaults or ())


def build(rule: Rule, values: dict[str, object]) -> str:
    built = rule.build(values, append_unknown=False)
    assert built is not None, f"cannot build {rule.rule} from {values}"
    return built[1]


def public_paths(app: Flask) -> list[str]:
    """The signed-out pages; makes a live invitation and a live password-reset link for the
    pages of those links (and walks each with a used-up token too)."""
    tokens = _live_links(app)
    paths = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint not in PUBLIC or "GET" not in (rule.methods or ()):
            continue
        names = url_arguments(rule)
        if names - {"token"} or (names and rule.endpoint not in tokens):
            pytest.fail(
                f"GET {rule.rule} ({rule.endpoint}) takes {sorted(names)}, which the page "
                "walk cannot fill: make a live link for it in _live_links in "
                "tests/page_walk.py."
            )
        for token in (tokens[rule.endpoint], "used-up-link") if names else (None,):
            paths.append(build(rule, {"token": token} if names else {}))
    return sorted(dict.fromkeys(paths))


_visitors = itertools.count(1)


def _live_links(app: Flask) -> dict[str, str]:
    """A team's open invitation and a person's password-reset link: their tokens by route."""
    with app.app_context():
        number = next(_visitors)
        owner = User(email=f"vera{number}@example.com", password_hash="!never-signs-in")
        db.session.add(owner)
        db.session.flush()
        team = teams.create_team(db.session, app.config, f"Приглашение {number}", owner)
        _, invitation = teams.invite(
            db.session, team, Role.SENDER, owner, "для новичка", ttl_hours=72
        )
        reset = password_resets.create_reset(db.session, owner)
        db.session.commit()
    return {"invitations.accept": invitation, "password_reset.reset": reset}
