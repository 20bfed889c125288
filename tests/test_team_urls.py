"""Links that work across teams: every page of a team has a URL that names it
(``/teams/<id>/...``), every link the app makes names the team it was made in, so that switching
team in one tab does not break another, and a link shared with a colleague opens the right team
for any member of it; anyone else gets a 404 (the isolation walk in test_isolation.py checks every
such URL with another team's ids)."""

from __future__ import annotations

import re

from flask import Flask
from werkzeug.exceptions import HTTPException

from tests.helpers import Person, make_campaign, team_of
from webapp.extensions import db
from webapp.models import Campaign, Membership, Role


def join(app: Flask, person: Person, team_id: int, role: Role = Role.SENDER) -> None:
    with app.app_context():
        db.session.add(Membership(team_id=team_id, user_id=person.user_id, role=role))
        db.session.commit()


def switch(person: Person, team_id: int) -> None:
    response = person.post("/teams/switch", {"team_id": str(team_id)})
    assert response.status_code == 302, response.text
    assert response.location == f"/teams/{team_id}/"


def current_team_shown(html: str) -> str:
    match = re.search(r'data-testid="current-team">([^<]+)<', html)
    assert match, "no current team in the header"
    return match.group(1)


def is_team_page(app: Flask, path: str) -> bool:
    """Whether ``path`` is a page of a team (its view needs a current team)."""
    adapter = app.url_map.bind("localhost")
    for method in ("GET", "POST"):
        try:
            endpoint, _args = adapter.match(path, method=method)
        except HTTPException:
            continue
        return endpoint in app.config["TEAM_ENDPOINTS"]
    raise AssertionError(f"a link to no page: {path}")


def test_every_link_names_the_team_it_was_made_in(app: Flask, make_person) -> None:
    olga = make_person("olga@alpha.example")
    alpha = team_of(app, olga)
    campaign_id = make_campaign(app, alpha, 3)
    page = olga.get(f"/teams/{alpha.id}/campaigns/{campaign_id}").text
    links = set(re.findall(r'(?:href|hx-get|hx-post|action)="(/[^"?#]*)', page))
    team_pages = {link for link in links if is_team_page(app, link)}
    assert f"/teams/{alpha.id}/campaigns" in team_pages
    assert f"/teams/{alpha.id}/campaigns/{campaign_id}" in team_pages  # its own poll
    unnamed = sorted(link for link in team_pages if not link.startswith(f"/teams/{alpha.id}/"))
    assert not unnamed, f"links that do not name the team: {unnamed}"
    # Redirects name it too.
    response = olga.post(f"/teams/{alpha.id}/campaigns/new")
    assert re.fullmatch(rf"/teams/{alpha.id}/campaigns/\d+/edit", response.location)


def test_switching_team_in_one_tab_leaves_the_other_tab_in_its_team(
    app: Flask, make_person
) -> None:
    olga = make_person("olga@alpha.example")
    alpha = team_of(app, olga)
    beta_owner = make_person("bob@beta.example")
    beta = team_of(app, beta_owner)
    join(app, olga, beta.id)
    alpha_campaign = make_campaign(app, alpha, 2)
    draft = olga.post("/campaigns/new").location  # tab A: a draft of team Alpha
    assert draft.startswith(f"/teams/{alpha.id}/campaigns/")

    switch(olga, beta.id)  # tab B switches to team Beta

    # Tab A goes on in Alpha: its pages, polls and forms name Alpha.
    page = olga.get(f"/teams/{alpha.id}/campaigns/{alpha_campaign}")
    assert page.status_code == 200 and current_team_shown(page.text) == alpha.name
    saved = olga.post(
        draft.removesuffix("/edit") + "/preview",
        {"name": "Written in tab A", "text": "Hello", "when": "now"},
        headers={"HX-Request": "true"},
    )
    assert saved.status_code == 200
    with app.app_context():
        campaign_id = int(draft.split("/")[-2])
        campaign = db.session.get(Campaign, campaign_id)
        assert (campaign.team_id, campaign.name) == (alpha.id, "Written in tab A")
    # The URL's team became the session's (the last one used), and a page without a team in
    # its URL follows it; Beta's own pages still open by their URLs.
    assert current_team_shown(olga.get("/").text) == alpha.name
    page = olga.get(f"/teams/{beta.id}/campaigns")
    assert page.status_code == 200 and current_team_shown(page.text) == beta.name
    assert f'href="/teams/{beta.id}/campaigns"' in page.text
    # Without the team in the URL, Alpha's campaign is not found from within Beta.
    assert olga.get(f"/campaigns/{alpha_campaign}").status_code == 404


def test_a_shared_link_opens_the_right_team_for_a_member_and_404_for_anyone_else(
    app: Flask, make_person
) -> None:
    olga = make_person("olga@alpha.example")
    alpha = team_of(app, olga)
    campaign_id = make_campaign(app, alpha, 2)
    link = f"/teams/{alpha.id}/campaigns/{campaign_id}"

    # A colleague in Alpha, working in a team of their own right now.
    tom = make_person("tom@gamma.example")
    join(app, tom, alpha.id, Role.VIEWER)
    assert current_team_shown(tom.get("/").text) != alpha.name
    page = tom.get(link)
    assert page.status_code == 200 and current_team_shown(page.text) == alpha.name
    assert f'hx-get="/teams/{alpha.id}/campaigns/{campaign_id}' in page.text  # its own poll

    # Not a member: the same 404 as for an id of another team, whatever the page.
    eve = make_person("eve@evil.example")
    for path in (link, f"/teams/{alpha.id}/", f"/teams/{alpha.id}/team", "/teams/999999/"):
        response = eve.get(path)
        assert response.status_code == 404, path
        assert alpha.name not in response.text
    assert eve.post(f"/teams/{alpha.id}/campaigns/new").status_code == 404
    with app.app_context():
        assert db.session.query(Campaign).filter_by(team_id=alpha.id).count() == 1

    # Signed out: sign in first, then the link opens.
    visitor = app.test_client()
    response = visitor.get(link)
    assert response.status_code == 302 and response.location.startswith("/login?next=")
    assert link in response.location.replace("%2F", "/")


def test_a_page_of_the_current_team_leaves_the_session_cookie_alone(app: Flask, make_person):
    """A session rewritten by every request (its cookie in every answer) loses what a request
    alongside it wrote: a flash message set by a form's post is overwritten by the cookie of
    an htmx request answered after it. Only a change of team writes it."""
    olga = make_person("olga@alpha.example")
    alpha = team_of(app, olga)
    olga.get("/")  # the first page stores what it needs (the CSRF token)
    for path in ("/", f"/teams/{alpha.id}/campaigns", "/campaigns"):
        response = olga.get(path)
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers, path
    beta_owner = make_person("bob@beta.example")
    join(app, olga, team_of(app, beta_owner).id)
    response = olga.get(f"/teams/{team_of(app, beta_owner).id}/campaigns")
    assert "session=" in response.headers.get("Set-Cookie", "")  # the team changed
