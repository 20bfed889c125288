"""The page walk (tests/page_walk.py) that the tests of every page use: each path it gives
answers a page (or, asked as htmx does, a fragment) to the lived-in team's owner, each public
one answers a signed-out visitor, every GET route is walked or left out for a stated reason,
and a route whose argument it cannot fill fails with what to add."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.helpers import HX, sign_in
from tests.page_walk import (
    DOWNLOAD,
    NOT_PAGES,
    PUBLIC,
    is_fragment,
    is_walked,
    lived_in_team,
    page_paths,
    public_paths,
)
from webapp.models import CampaignState


def test_every_path_answers_the_owner_a_page_or_a_fragment(app: Flask) -> None:
    team = lived_in_team(app)
    client = app.test_client()
    assert sign_in(client, team.email, team.password).status_code == 302
    paths = page_paths(app, team)
    assert len(paths) == len(set(paths))
    for path in paths:
        fragment = is_fragment(app, path)
        response = client.get(path, headers=HX if fragment else {})
        # 286: a polled fragment that asks htmx to stop polling (nothing will change).
        expected = (200, 286) if fragment else (200,)
        assert response.status_code in expected, f"GET {path}: {response.status_code}"
        assert response.mimetype == "text/html" and response.text.strip(), path
        assert ("<html" in response.text) is not fragment, path
    # Both forms of a team page, and the campaign page in every state.
    assert "/campaigns" in paths and f"/teams/{team.team_id}/campaigns" in paths
    for state in CampaignState:
        if state != CampaignState.CANCELLED:
            assert f"/campaigns/{team.campaigns[state]}" in paths, state
    assert f"/campaigns/{team.draft_id}/edit" in paths
    assert f"/contacts/imports/{team.pending_import_id}/preview" in paths
    assert "/account/two-factor/enrol" in paths  # its enrolment is begun


def test_the_team_is_lived_in(app: Flask) -> None:
    team = lived_in_team(app)
    client = app.test_client()
    sign_in(client, team.email, team.password)
    finished = client.get(f"/campaigns/{team.campaigns[CampaignState.FINISHED]}").text
    assert "delivery error" in finished and "invalid mobile phone" in finished
    imported = client.get(f"/contacts/imports/{team.import_id}").text
    assert "не номер" in imported  # the invalid row
    assert "Анна" in client.get(f"/contacts/lists/{team.list_id}").text
    assert "ivan@example.com" in client.get("/team").text
    assert client.get("/notifications").text.count('class="notification') >= 2


def test_public_paths_answer_a_signed_out_visitor(app: Flask) -> None:
    client = app.test_client()
    paths = public_paths(app)
    assert {"/login", "/signup", "/password/forgot"} <= set(paths)
    for path in paths:
        response = client.get(path)
        dead = path.endswith("/used-up-link")
        assert response.status_code == (404 if dead else 200), f"GET {path}"
        assert response.mimetype == "text/html" and "<html" in response.text, path
    assert sum(p.startswith("/invite/") for p in paths) == 2
    assert sum(p.startswith("/password/reset/") for p in paths) == 2


def test_every_get_route_is_walked_or_left_out_for_a_reason(app: Flask) -> None:
    for rule in app.url_map.iter_rules():
        if "GET" in (rule.methods or ()) and not is_walked(rule):
            assert (
                rule.endpoint in PUBLIC or rule.endpoint in NOT_PAGES or DOWNLOAD.search(rule.rule)
            ), rule


def test_an_argument_the_walk_cannot_fill_says_what_to_add(app: Flask) -> None:
    team = lived_in_team(app)
    app.add_url_rule("/gadgets/<int:gadget_id>", "gadget", lambda gadget_id: "")
    with pytest.raises(pytest.fail.Exception, match="add 'gadget_id' to ARGUMENTS"):
        page_paths(app, team)
