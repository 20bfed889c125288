"""Sender names: synced from the gateway's senders.json on demand and by the hourly tick; only
active and default ones can send; pending and blocked ones are shown with why."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import delete, func, select

from tests.helpers import new_draft, preview, team_of
from webapp.domain import campaigns, gateways, senders
from webapp.extensions import db
from webapp.jobs import senders as senders_tick
from webapp.jobs.scheduler import default_ticks
from webapp.models import AuditEvent, Campaign, Role, SenderName, Team


@pytest.fixture
def ann(app, make_person, sandbox):
    app.config["SANDBOX_URL"] = sandbox.base_url
    return make_person("ann@example.com")


def stored(app, team_id):
    with app.app_context():
        rows = db.session.scalars(select(SenderName).where(SenderName.team_id == team_id))
        return {r.name: (r.status, r.info, senders.can_send(r)) for r in rows}


def test_refresh_stores_names_with_state_and_note(app, ann, sandbox):
    team = team_of(app, ann)
    page = ann.get("/senders").text
    assert "No sender names yet." in page and "Refresh from gateway" in page

    response = ann.post("/senders/refresh", follow_redirects=True)
    assert response.status_code == 200
    assert "Sender names refreshed: 5 listed, 5 new" in response.text
    assert stored(app, team.id) == {
        "TEST": ("default", "", True),
        "MyBrand": ("active", "", True),
        "NewBrand": ("new", "", False),
        "Promo2026": ("pending", "awaiting the operators' approval", False),
        "MegaFon": ("blocked", "the name of a mobile operator cannot be used", False),
    }
    page = response.text
    assert "the name of a mobile operator cannot be used" in page
    assert "not yet: awaiting approval" in page and "no: refused" in page
    with app.app_context():
        assert db.session.scalar(
            select(AuditEvent.id).where(AuditEvent.action == "senders_refreshed")
        )


def test_approval_after_the_delay_and_names_removed_by_the_gateway(
    app, ann, sandbox, sandbox_clock
):
    team = team_of(app, ann)
    ann.post("/senders/refresh")
    assert stored(app, team.id)["Promo2026"][0] == "pending"
    sandbox_clock.advance(sandbox.gateway.settings.approval_delay + 1)
    response = ann.post("/senders/refresh", follow_redirects=True)
    assert "2 changed" in response.text
    after = stored(app, team.id)
    assert after["Promo2026"][0::2] == ("active", True)
    assert after["NewBrand"][0] == "active"
    assert after["MegaFon"][0] == "blocked"

    # A name the gateway no longer lists goes.
    with app.app_context():
        db.session.add(SenderName(team_id=team.id, name="Gone", status="active"))
        db.session.commit()
    response = ann.post("/senders/refresh", follow_redirects=True)
    assert "1 removed" in response.text
    assert "Gone" not in stored(app, team.id)


def test_refresh_shows_gateway_errors_in_plain_words(app, ann, unused_port):
    app.config["SANDBOX_URL"] = f"http://127.0.0.1:{unused_port}/messages/v2/"
    response = ann.post("/senders/refresh", follow_redirects=True)
    assert response.status_code == 200
    assert f"Could not connect to http://127.0.0.1:{unused_port}/messages/v2/" in response.text


def test_wrong_password_is_explained(app, ann, sandbox):
    team = team_of(app, ann)
    with app.app_context():
        stored_team = db.session.get(Team, team.id)
        stored_team.gateway_password_encrypted = gateways.encrypt_secret(app.config, "wrong")
        db.session.commit()
    response = ann.post("/senders/refresh", follow_redirects=True)
    assert "The gateway refused the login or password" in response.text


@pytest.mark.parametrize("role", [Role.VIEWER, Role.SENDER])
def test_only_admins_refresh(app, ann, make_person, role):
    team = team_of(app, ann)
    person = make_person(f"{role}@example.com", team=team.id, role=role.value)
    page = person.get("/senders")
    assert page.status_code == 200 and "Refresh from gateway" not in page.text
    assert person.post("/senders/refresh").status_code == 403
    assert stored(app, team.id) == {}


def test_hourly_tick_syncs_every_team_and_one_failure_does_not_stop_the_others(
    app, make_person, sandbox
):
    (tick,) = [t for t in default_ticks() if t.name == "senders"]
    assert tick.interval == 5 and senders_tick.EVERY == 3600  # every team hourly
    app.config["SANDBOX_URL"] = sandbox.base_url
    teams = [team_of(app, make_person(f"{n}@example.com")) for n in ("ann", "bob", "cid")]
    with app.app_context():
        broken = db.session.get(Team, teams[1].id)
        broken.gateway_password_encrypted = gateways.encrypt_secret(app.config, "wrong")
        db.session.commit()
        failures = senders_tick.sync_all(db.session, gateways.client_factory(app.config))
    assert list(failures) == [teams[1].id]
    assert "TEST" in stored(app, teams[0].id) and "TEST" in stored(app, teams[2].id)
    assert stored(app, teams[1].id) == {}
    with app.app_context():
        senders_tick.run(app, wait=60)  # the tick as the scheduler calls it
        assert senders.usable_names(db.session, teams[0].id) == ["MyBrand", "TEST"]


@pytest.mark.parametrize(
    ("status", "can", "shown"),
    [
        ("active", True, "yes"),
        ("default", True, "yes"),
        ("new", False, "not yet: awaiting approval"),
        ("pending", False, "not yet: awaiting approval"),
        ("blocked", False, "no: refused"),
        ("deleted", False, "no"),  # a state the gateway may add one day
    ],
)
def test_one_rule_says_which_names_can_send_everywhere(app, ann, status, can, shown):
    """The senders page, the composer's choices and check, the commit and the SQL queries all
    read senders.can_send."""
    team = team_of(app, ann)
    with app.app_context():
        db.session.add(SenderName(team_id=team.id, name="Brand", status=status))
        db.session.commit()
        assert senders.usable_names(db.session, team.id) == (["Brand"] if can else [])
        query = select(func.count()).where(SenderName.team_id == team.id, senders.sendable())
        assert db.session.scalar(query) == int(can)
    page = ann.get("/senders").text
    row = re.search(r'data-testid="sender-Brand">(.*?)</tr>', page, re.S)
    assert row and re.search(rf"<td>{re.escape(shown)}</td>", row.group(1))

    campaign_id = new_draft(ann)
    composer = ann.get(f"/campaigns/{campaign_id}/edit").text
    options = re.findall(r'<option[^>]*value="([^"]*)"', composer)
    assert options == (["", "Brand"] if can else [])
    html = preview(ann, campaign_id, sender="Brand", pasted_numbers="79161111111")
    assert ("The sender name Brand cannot send" in html) != can
    with app.app_context():
        draft = db.session.get(Campaign, campaign_id)
        if can:
            assert campaigns.commit(db.session, draft) == 1
        else:
            with pytest.raises(campaigns.CampaignError, match="cannot send"):
                campaigns.commit(db.session, draft)


def test_a_team_without_names_gets_them_from_the_worker_soon_and_backs_off(app, ann, sandbox):
    """No page calls the gateway; the worker's tick fetches a new team's names within seconds,
    and asks again, less and less often, while a gateway has none to give."""
    team = team_of(app, ann)
    schedule = senders_tick.Schedule()
    senders_tick.run(app, wait=60, schedule=schedule)  # the first run is the full sync
    assert "MyBrand" in stored(app, team.id)

    with app.app_context():
        db.session.execute(delete(SenderName))  # as if the team had just changed gateway
        db.session.commit()
        now = schedule.full_at - senders_tick.EVERY + 1
        assert schedule.due(db.session, now) == [team.id]
        assert schedule.due(db.session, now + 1) == []  # asked again after 10 s, then 20 s ...
        assert schedule.due(db.session, now + senders_tick.FIRST_RETRY) == [team.id]
        later = now + senders_tick.FIRST_RETRY + 2 * senders_tick.FIRST_RETRY
        assert schedule.due(db.session, later - 1) == []
        assert schedule.due(db.session, later) == [team.id]
        assert schedule.due(db.session, schedule.full_at) == [team.id]  # the hourly sync: all
