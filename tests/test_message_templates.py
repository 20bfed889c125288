"""Message templates (issue 12 item 7): made from scratch or from a campaign, edited, archived
and unarchived, picked in the composer; roles as for campaigns, walled off by team."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import func, select

from tests.helpers import (
    add_list,
    load,
    new_draft,
    preview,
    sync_senders,
    team_of,
    text_of,
    without_team,
)
from webapp.domain import message_templates
from webapp.extensions import db
from webapp.models import AuditEvent, Campaign, MessageTemplate, Role


@pytest.fixture
def ann(app, make_person, sandbox):
    app.config["SANDBOX_URL"] = sandbox.base_url
    person = make_person("ann@example.com")
    sync_senders(app, team_of(app, person).id)  # MyBrand and TEST, as the worker fetches them
    return person


def templates_of(app, team_id):
    with app.app_context():
        rows = db.session.scalars(
            select(MessageTemplate)
            .where(MessageTemplate.team_id == team_id)
            .order_by(MessageTemplate.id)
        ).all()
        return [(t.name, t.text, t.sender, t.flash, t.archived_at is not None) for t in rows]


def template_id(app, team_id, name):
    with app.app_context():
        return db.session.scalar(
            select(MessageTemplate.id).where(
                MessageTemplate.team_id == team_id, MessageTemplate.name == name
            )
        )


def make(person, **values):
    data = {"name": "Welcome", "text": "Hello {name}, welcome!", "sender": "", **values}
    if not data.get("flash"):
        data.pop("flash", None)
    return person.post("/templates/new", data)


def error_beside(html: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', html, re.S)
    assert match, f"no error beside {field}"
    return unescape(match.group(1))


def offered_in_composer(person, campaign_id) -> list[str]:
    html = person.get(f"/campaigns/{campaign_id}/edit").text
    select_html = re.search(r'data-testid="template-select">(.*?)</select>', html, re.S)
    return (
        [unescape(n) for n in re.findall(r">([^<]+)</option>", select_html.group(1))]
        if (select_html)
        else []
    )


def test_templates_are_created_edited_archived_and_unarchived(app, ann):
    team = team_of(app, ann)
    response = make(ann, sender="MyBrand", flash="y")
    assert response.status_code == 302
    assert without_team(response.headers["Location"]) == "/templates"
    page = ann.get("/templates").text
    assert text_of(page, "template-name") == "Welcome"
    assert text_of(page, "template-text") == "Hello {name}, welcome!"
    assert "from MyBrand" in page and ">flash<" in page
    welcome = template_id(app, team.id, "Welcome")

    # A name is used once among unarchived templates, whatever its case; what was typed stays.
    refused = make(ann, name="  welcome ", text="Another text")
    assert refused.status_code == 400
    assert "There is already a template named “welcome”" in error_beside(refused.text, "name")
    assert "Another text</textarea>" in refused.text
    assert len(templates_of(app, team.id)) == 1

    edit = ann.get(f"/templates/{welcome}/edit")
    assert edit.status_code == 200 and "Hello {name}, welcome!</textarea>" in edit.text
    saved = ann.post(
        f"/templates/{welcome}/edit", {"name": "Welcome", "text": "Hi {name}!", "sender": ""}
    )
    assert saved.status_code == 302
    assert templates_of(app, team.id) == [("Welcome", "Hi {name}!", None, False, False)]

    # Archived: kept, not offered; its name is free again.
    assert ann.post(f"/templates/{welcome}/archive").status_code == 302
    assert make(ann, text="The new welcome").status_code == 302
    page = ann.get("/templates").text
    assert text_of(page, "archived-template").startswith("Welcome")
    # Unarchiving while another unarchived template has the name is refused, in plain words.
    response = ann.post(f"/templates/{welcome}/unarchive", follow_redirects=True)
    assert "There is already a template named “Welcome”" in unescape(response.text)
    assert templates_of(app, team.id)[0][4] is True
    newer = template_id(app, team.id, "Welcome")
    with app.app_context():
        newer = db.session.scalar(
            select(MessageTemplate.id).where(
                MessageTemplate.name == "Welcome", MessageTemplate.archived_at.is_(None)
            )
        )
    assert ann.post(f"/templates/{newer}/archive").status_code == 302
    assert ann.post(f"/templates/{welcome}/unarchive").status_code == 302
    assert [t[4] for t in templates_of(app, team.id)] == [False, True]
    with app.app_context():
        actions = db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action.like("template_%"))
            .order_by(AuditEvent.id)
        ).all()
    assert actions == [
        "template_created",
        "template_edited",
        "template_archived",
        "template_created",
        "template_archived",
        "template_unarchived",
    ]


def test_too_long_or_empty_is_said_beside_the_field_never_cut(app, ann):
    team = team_of(app, ann)
    long_name = "N" * 201
    response = make(ann, name=long_name)
    assert response.status_code == 400
    assert "at most 200 characters; this one has 201" in error_beside(response.text, "name")
    assert f'value="{long_name}"' in response.text  # kept as typed
    long_text = "x" * (message_templates.MAX_TEXT + 1)
    response = make(ann, text=long_text)
    assert response.status_code == 400
    limit = message_templates.MAX_TEXT  # the composer's own limit: one home
    assert (
        f"at most {limit:,} characters (what a campaign can hold); this one has {limit + 1:,}"
        in (error_beside(response.text, "text"))
    )
    response = make(ann, name="", text="")
    assert "Give the template a name." in error_beside(response.text, "name")
    assert templates_of(app, team.id) == []


def test_a_team_keeps_a_bounded_number_of_templates(app, ann, monkeypatch):
    monkeypatch.setattr(message_templates, "MAX_PER_TEAM", 2)
    team = team_of(app, ann)
    assert make(ann, name="One").status_code == 302
    assert make(ann, name="Two").status_code == 302
    one = template_id(app, team.id, "One")
    assert ann.post(f"/templates/{one}/archive").status_code == 302  # archived ones count too
    response = make(ann, name="Three")
    assert response.status_code == 400
    assert "at most 2 templates" in error_beside(response.text, "name")
    assert [t[0] for t in templates_of(app, team.id)] == ["One", "Two"]


def test_picking_a_template_fills_the_draft_and_archived_ones_are_not_offered(app, ann):
    team = team_of(app, ann)
    listed = add_list(app, team.id, "Friends", [("79161111111", {"name": "Anna"})])
    make(ann, name="Flash offer", text="Hi {name}, 10% off today", sender="TEST", flash="y")
    make(ann, name="Plain", text="Just text")
    campaign_id = new_draft(ann)
    preview(ann, campaign_id, list_ids=[listed], text="", sender="MyBrand")
    assert offered_in_composer(ann, campaign_id) == ["Flash offer", "Plain"]

    flash_offer = template_id(app, team.id, "Flash offer")
    response = ann.post(f"/campaigns/{campaign_id}/template", {"template_id": flash_offer})
    assert without_team(response.headers["Location"]) == f"/campaigns/{campaign_id}/edit"
    draft = load(app, campaign_id)
    assert (draft.text, draft.sender, draft.flash) == ("Hi {name}, 10% off today", "TEST", True)
    composer = ann.get(f"/campaigns/{campaign_id}/edit").text
    assert "Hi {name}, 10% off today</textarea>" in composer
    assert text_of(composer, "sample-text") == "Hi Anna, 10% off today"

    # A template without a sender (or flash) keeps the draft's.
    plain = template_id(app, team.id, "Plain")
    ann.post(f"/campaigns/{campaign_id}/template", {"template_id": plain})
    draft = load(app, campaign_id)
    assert (draft.text, draft.sender, draft.flash) == ("Just text", "TEST", True)

    # Archived: no longer offered, and refused if posted anyway.
    ann.post(f"/templates/{flash_offer}/archive")
    assert offered_in_composer(ann, campaign_id) == ["Plain"]
    response = ann.post(
        f"/campaigns/{campaign_id}/template", {"template_id": flash_offer}, follow_redirects=True
    )
    assert "That template is archived or no longer exists" in response.text
    assert load(app, campaign_id).text == "Just text"


def test_save_as_template_starts_from_the_campaign(app, ann):
    team = team_of(app, ann)
    campaign_id = new_draft(ann)
    preview(ann, campaign_id, name="Spring sale", text="Spring is here", sender="MyBrand")
    page = ann.get(f"/campaigns/{campaign_id}").text
    link = re.search(r'href="([^"]+)" data-testid="save-as-template"', page).group(1)
    assert without_team(unescape(link)) == f"/templates/new?from={campaign_id}"
    form = ann.get(unescape(link))
    assert form.status_code == 200
    assert 'value="Spring sale"' in form.text and "Spring is here</textarea>" in form.text
    assert '<option selected value="MyBrand">' in form.text
    saved = ann.post(
        unescape(link), {"name": "Spring sale", "text": "Spring is here", "sender": "MyBrand"}
    )
    assert saved.status_code == 302
    assert templates_of(app, team.id) == [
        ("Spring sale", "Spring is here", "MyBrand", False, False)
    ]


def test_viewers_see_templates_and_change_nothing(app, ann, make_person):
    team = team_of(app, ann)
    make(ann, name="Welcome", text="Hello there")
    welcome = template_id(app, team.id, "Welcome")
    campaign_id = new_draft(ann)
    viewer = make_person("vic@example.com", team=team.id, role=Role.VIEWER.value)
    page = viewer.get("/templates")
    assert page.status_code == 200 and "Hello there" in page.text
    assert 'data-testid="new-template"' not in page.text and "/archive" not in page.text
    assert ">Templates</a>" in viewer.get("/").text  # the nav link
    assert viewer.get("/templates/new").status_code == 403
    assert viewer.post("/templates/new", {"name": "X", "text": "Y"}).status_code == 403
    assert viewer.get(f"/templates/{welcome}/edit").status_code == 403
    for action in ("archive", "unarchive"):
        assert viewer.post(f"/templates/{welcome}/{action}").status_code == 403
    assert viewer.post(f"/campaigns/{campaign_id}/template", {"template_id": welcome}).status_code
    assert "Save as template" not in viewer.get(f"/campaigns/{campaign_id}").text
    assert templates_of(app, team.id) == [("Welcome", "Hello there", None, False, False)]

    sender = make_person("sam@example.com", team=team.id, role=Role.SENDER.value)
    assert make(sender, name="By Sam").status_code == 302


def test_another_teams_template_or_campaign_is_a_404(app, ann, make_person):
    team = team_of(app, ann)
    make(ann, name="Secret", text="Our secret text")
    secret = template_id(app, team.id, "Secret")
    ours = new_draft(ann)
    bob = make_person("bob@example.com")
    bobs_draft = new_draft(bob)
    assert bob.get(f"/templates/{secret}/edit").status_code == 404
    assert bob.post(f"/templates/{secret}/edit", {"name": "Mine", "text": "x"}).status_code == 404
    assert bob.post(f"/templates/{secret}/archive").status_code == 404
    assert bob.get(f"/templates/new?from={ours}").status_code == 404
    # Bob's draft with our template: nothing of it is used.
    response = bob.post(
        f"/campaigns/{bobs_draft}/template", {"template_id": secret}, follow_redirects=True
    )
    assert "Our secret text" not in response.text
    assert load(app, bobs_draft).text == ""
    assert "Secret" not in bob.get("/templates").text
    assert bob.post(f"/campaigns/{ours}/template", {"template_id": secret}).status_code == 404
    with app.app_context():
        assert db.session.get(Campaign, ours).text == ""
    assert templates_of(app, team.id) == [("Secret", "Our secret text", None, False, False)]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("Hi {{name}}", "“{{name}}” at character 4 has double braces: write {name}."),
        ("Привет " * 100, "This text takes 11 parts before its fields are filled in"),
    ],
)
def test_a_text_the_composer_would_refuse_is_refused_beside_the_field(app, ann, text, error):
    response = make(ann, name="Slip", text=text)
    assert response.status_code == 400
    assert error in unescape(response.text)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MessageTemplate)) == 0
