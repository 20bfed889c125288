"""Sender names: synced from the gateway's senders.json on demand and by the hourly tick; only
active and default ones can send; pending and blocked ones are shown with why."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from tests.fleet import wait_until
from tests.helpers import new_draft, preview, sandbox_login, team_of
from webapp.app import create_app
from webapp.domain import campaigns, gateways, senders
from webapp.extensions import db
from webapp.jobs import senders as senders_tick
from webapp.jobs.scheduler import default_ticks
from webapp.jobs.team_pool import pools_of
from webapp.models import AuditEvent, Campaign, GatewayMode, Role, SenderName, Team, utcnow


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
    assert tick.interval == 5 and senders_tick.EVERY.total_seconds() == 3600  # hourly
    app.config["SANDBOX_URL"] = sandbox.base_url
    teams = [team_of(app, make_person(f"{n}@example.com")) for n in ("ann", "bob", "cid")]
    now = utcnow()
    with app.app_context():
        broken = db.session.get(Team, teams[1].id)
        broken.gateway_password_encrypted = gateways.encrypt_secret(app.config, "wrong")
        db.session.commit()
        client_for = gateways.client_factory(app.config)
        failures = senders_tick.sync_due_teams(db.session, lambda: now, client_for)
    assert list(failures) == [teams[1].id]
    assert "TEST" in stored(app, teams[0].id) and "TEST" in stored(app, teams[2].id)
    assert stored(app, teams[1].id) == {}
    assert next_sync(app, teams) == [
        now + senders_tick.EVERY,
        now + senders_tick.FIRST_RETRY,  # the failure is asked again soon
        now + senders_tick.EVERY,
    ]
    with app.app_context():
        db.session.execute(delete(SenderName).where(SenderName.team_id == teams[0].id))
        db.session.commit()
        senders_tick.run(app, wait=60)  # the tick as the scheduler calls it, with the clock
        assert senders.usable_names(db.session, teams[0].id) == []  # not due for an hour
        senders_tick.run(app, wait=60, clock=lambda: now + senders_tick.EVERY)
        assert senders.usable_names(db.session, teams[0].id) == ["MyBrand", "TEST"]


def next_sync(app, teams):
    with app.app_context():
        ids = [t.id for t in teams]
        rows = dict(
            db.session.execute(select(Team.id, Team.senders_next_at).where(Team.id.in_(ids))).all()
        )
        return [rows[i] for i in ids]


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
    """No page calls the gateway; the worker's tick fetches a new team's names at once, and
    asks again, less and less often, while its gateway has none to give; hourly once it has."""
    team = team_of(app, ann)
    assert next_sync(app, [team]) == [None]  # a new team is due at once
    sandbox.control("POST", "/accounts", json={"login": "bare", "password": "pw", "senders": []})
    with app.app_context():
        row = db.session.get(Team, team.id)  # moved to a gateway account without names
        own = (row.gateway_mode, row.gateway_url, row.gateway_login, row.gateway_password_encrypted)
        row.gateway_mode, row.gateway_url = GatewayMode.IQSMS, sandbox.base_url
        row.gateway_login = "bare"
        row.gateway_password_encrypted = gateways.encrypt_secret(app.config, "pw")
        db.session.commit()

    start = utcnow()
    asked = []
    for seconds in (0, 1, 10, 29, 30, 69, 70, 150):  # due at 0, 10, 30, 70, 150 s
        now = start + timedelta(seconds=seconds)
        senders_tick.run(app, wait=60, clock=lambda now=now: now)
        asked.append(senders_calls(sandbox).get("bare", 0))
    assert asked == [1, 1, 2, 2, 3, 3, 4, 5]
    assert next_sync(app, [team]) == [start + timedelta(seconds=150 + 160)]

    with app.app_context():  # the names come (the team went back to its sandbox account)
        row = db.session.get(Team, team.id)
        row.gateway_mode, row.gateway_url, row.gateway_login = own[:3]
        row.gateway_password_encrypted = own[3]
        db.session.commit()
    later = start + timedelta(seconds=310)
    senders_tick.run(app, wait=60, clock=lambda: later)
    assert "MyBrand" in stored(app, team.id)
    assert next_sync(app, [team]) == [later + senders_tick.EVERY]  # hourly from now on


def senders_calls(sandbox) -> dict[str, int]:
    """senders.json calls the sandbox answered, by login (its own record, over HTTP)."""
    rows = sandbox.control("GET", "/calls").json()["calls"]
    return {row["login"]: row["count"] for row in rows if row["endpoint"] == "senders.json"}


# What a `flask worker` process brings of its own: settings read the same, and its own engine,
# sessions and thread pools (so nothing of one worker's memory is shared with another's).
WORKER_SETTINGS = (
    "TESTING",
    "SECRET_KEY",
    "ENCRYPTION_KEY",
    "SQLALCHEMY_DATABASE_URI",
    "SANDBOX_URL",
    "SANDBOX_CONTROL_TOKEN",
)


def idle(worker_app) -> bool:
    return not any(pool.running() for pool in pools_of(worker_app))


def test_three_workers_call_senders_json_once_per_team_per_interval(app, make_person, sandbox):
    """Three workers run the tick at the same moment, again and again: each team's names are
    asked for once per interval, as the sandbox's own record of senders.json calls shows; a
    worker that starts later (a restart) syncs nobody who is not due."""
    app.config["SANDBOX_URL"] = sandbox.base_url
    teams = [team_of(app, make_person(f"p{n}@example.com")) for n in range(4)]
    logins = [sandbox_login(app, t) for t in teams]
    settings = {key: app.config[key] for key in WORKER_SETTINGS}
    workers = [create_app(settings) for _ in range(3)]

    def tick_together(at):
        barrier = threading.Barrier(len(workers))
        errors: list[BaseException] = []

        def worker(worker_app):
            try:
                barrier.wait(timeout=60)
                senders_tick.run(worker_app, wait=60, clock=lambda: at)
                wait_until(lambda: idle(worker_app), "the worker's syncs to end", 120)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        calls = senders_calls(sandbox)
        return [calls.get(login, 0) for login in logins]

    start = utcnow()
    try:
        assert tick_together(start) == [1, 1, 1, 1]  # the workers start: one call per team
        assert tick_together(start + timedelta(seconds=5)) == [1, 1, 1, 1]
        assert tick_together(start + timedelta(minutes=59)) == [1, 1, 1, 1]
        assert tick_together(start + senders_tick.EVERY) == [2, 2, 2, 2]  # the hourly sync
        workers.append(create_app(settings))  # a fourth starts (or one restarts)
        assert tick_together(start + senders_tick.EVERY + timedelta(minutes=1)) == [2, 2, 2, 2]
        assert tick_together(start + 2 * senders_tick.EVERY) == [3, 3, 3, 3]
        assert all("MyBrand" in stored(app, t.id) for t in teams)
    finally:
        for worker_app in workers:
            for pool in pools_of(worker_app):
                pool.wait_idle(60)
            with worker_app.app_context():
                db.session.remove()
                db.engine.dispose()
