"""Campaigns after the composer: the confirmation, commit (messages created in bulk with their
rendered texts and counters), and edit, cancel, pause and resume, each safe to click twice."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from tests.helpers import add_list, load, new_draft, preview, stop, team_of, text_of
from webapp.domain import campaigns, counters
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Campaign,
    CampaignState,
    Message,
    Role,
    Team,
)


@pytest.fixture
def ann(app, make_person, sandbox):
    app.config["SANDBOX_URL"] = sandbox.base_url
    return make_person("ann@example.com")


def messages(app, campaign_id):
    with app.app_context():
        rows = db.session.execute(
            select(Message.phone, Message.text, Message.state, Message.team_id, Message.parts)
            .where(Message.campaign_id == campaign_id)
            .order_by(Message.phone)
        ).all()
        return [tuple(r) for r in rows]


def audit_actions(app, team_id):
    with app.app_context():
        return db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.team_id == team_id).order_by(AuditEvent.id)
        ).all()


def confirm_and_send(person, campaign_id):
    page = person.get(f"/campaigns/{campaign_id}/confirm")
    assert page.status_code == 200, page.text
    version = re.search(r'name="version" type="hidden" value="([^"]*)"', page.text).group(1)
    count = re.search(r'name="recipients" type="hidden" value="([^"]*)"', page.text).group(1)
    return page, person.post(
        f"/campaigns/{campaign_id}/send", {"version": version, "recipients": count}
    )


def composed(app, ann, **values):
    team = team_of(app, ann)
    first = add_list(
        app,
        team.id,
        "First",
        [
            ("79161111111", {"name": "Anna"}),
            ("79162222222", {"name": "Boris"}),
            ("79163333333", {"name": "Stop"}),
        ],
    )
    second = add_list(
        app,
        team.id,
        "Second",
        [("79162222222", {"name": "Other"}), ("79164444444", {"name": "Вера"})],
    )
    stop(app, team.id, "79163333333")
    campaign_id = new_draft(ann)
    preview(ann, campaign_id, list_ids=[first, second], **values)
    return team, campaign_id


def test_confirmation_states_exactly_what_will_happen_and_send_creates_the_messages(app, ann):
    team, campaign_id = composed(
        app, ann, text="Hi {name}!", flash="y", wapurl="wap.example.ru", sender="TEST"
    )
    page, sent = confirm_and_send(ann, campaign_id)
    statement = text_of(page.text, "statement")
    assert statement == "3 messages will be sent to 3 recipients from the sender name TEST."
    assert text_of(page.text, "confirm-parts") == "1 (depends on the fields filled in)"
    assert text_of(page.text, "confirm-cost").startswith("RUB 7.50 (3 × 1 × RUB 2.50;")
    assert text_of(page.text, "confirm-when").startswith("now")
    assert text_of(page.text, "confirm-flash").startswith("yes")
    assert text_of(page.text, "confirm-wap") == "wap.example.ru"
    assert "1 on the stop list left out" in text_of(page.text, "confirm-recipients")

    assert sent.status_code == 302 and sent.headers["Location"].endswith(
        f"/campaigns/{campaign_id}"
    )
    # Each phone once; a phone in two lists takes its lowest contact's fields; stopped left out.
    assert messages(app, campaign_id) == [
        ("79161111111", "Hi Anna!", "queued", team.id, 0),
        ("79162222222", "Hi Boris!", "queued", team.id, 0),
        ("79164444444", "Hi Вера!", "queued", team.id, 0),
    ]
    campaign = load(app, campaign_id)
    assert campaign.state == CampaignState.SCHEDULED
    assert (campaign.recipients, campaign.queued) == (3, 3)
    assert campaign.send_at == campaign.scheduled_at
    assert abs(campaign.send_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert campaign.price_per_part == Decimal("2.5")
    assert "campaign_sent" in audit_actions(app, team.id)
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "campaign_sent"))
        assert event.details["recipients"] == 3 and event.details["sender"] == "TEST"
        assert event.details["when"]

    # The detail page shows it (sent now: starting, until the worker starts it); a second
    # click on Send creates nothing more.
    show = ann.get(f"/campaigns/{campaign_id}").text
    assert text_of(show, "state") == "starting" and text_of(show, "count-queued") == "3"
    again = ann.post(f"/campaigns/{campaign_id}/send", {"version": "x", "recipients": "3"})
    assert again.status_code == 302
    assert len(messages(app, campaign_id)) == 3
    assert load(app, campaign_id).queued == 3


def test_plain_text_with_pasted_numbers_sets_parts_now(app, ann):
    _team, campaign_id = composed(
        app, ann, text="Sale: 20% off", pasted_numbers="79165555555\n79161111111"
    )
    confirm_and_send(ann, campaign_id)
    rows = messages(app, campaign_id)
    assert [r[0] for r in rows] == ["79161111111", "79162222222", "79164444444", "79165555555"]
    assert {r[1] for r in rows} == {"Sale: 20% off"} and {r[4] for r in rows} == {1}
    assert load(app, campaign_id).queued == 4


def test_send_is_refused_when_the_recipients_changed_or_the_draft_is_not_ready(app, ann):
    team, campaign_id = composed(app, ann, text="Hello")
    page = ann.get(f"/campaigns/{campaign_id}/confirm").text
    version = re.search(r'name="version" type="hidden" value="([^"]*)"', page).group(1)
    add_list(app, team.id, "Late", [("79169999999", {})])
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        late = [*campaign.list_ids, campaign.list_ids[-1] + 1]
        db.session.execute(update(Campaign).where(Campaign.id == campaign_id).values(list_ids=late))
        db.session.commit()
        campaign = db.session.get(Campaign, campaign_id)
        with pytest.raises(campaigns.CampaignError, match="there are now 4, not 3"):
            campaigns.commit(db.session, campaign, expected=3)
    # A changed draft (another tab) is checked again, not sent.
    response = ann.post(f"/campaigns/{campaign_id}/send", {"version": version, "recipients": "3"})
    assert response.headers["Location"].endswith("/confirm")
    assert messages(app, campaign_id) == []

    preview(ann, campaign_id, text="", sender="MegaFon")
    page = ann.get(f"/campaigns/{campaign_id}/confirm").text
    assert 'data-testid="not-ready"' in page and 'data-testid="send"' not in page
    assert "Write the message." in page and "MegaFon cannot send (it is blocked" in page


def test_scheduled_campaign_can_be_edited_back_to_a_draft(app, ann):
    day = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    team, campaign_id = composed(
        app, ann, text="Hello", when="at", send_date=day, send_time="10:00"
    )
    page, _ = confirm_and_send(ann, campaign_id)
    shown = date.fromisoformat(day)
    assert f"{shown.day} {shown:%b %Y}, 10:00" in text_of(page.text, "confirm-when")
    scheduled = load(app, campaign_id)
    assert scheduled.state == "scheduled" and scheduled.send_at != scheduled.scheduled_at
    assert "Edit" in ann.get(f"/campaigns/{campaign_id}").text

    response = ann.post(f"/campaigns/{campaign_id}/reopen")
    assert response.headers["Location"].endswith("/edit")
    campaign = load(app, campaign_id)
    assert campaign.state == "draft" and campaign.send_at == scheduled.send_at
    assert (campaign.queued, campaign.recipients) == (0, 0)
    assert messages(app, campaign_id) == []
    assert "campaign_edited" in audit_actions(app, team.id)
    # A second click: it is a draft now, nothing happens but a clear message.
    response = ann.post(f"/campaigns/{campaign_id}/reopen", follow_redirects=True)
    assert "This campaign is draft now, so it cannot be edited" in response.text

    # Sent "now", then edited: it stays "now".
    preview(ann, campaign_id, text="Hello", when="now", list_ids=campaign.list_ids)
    confirm_and_send(ann, campaign_id)
    assert load(app, campaign_id).state == "scheduled"
    preview_back = ann.post(f"/campaigns/{campaign_id}/reopen")
    assert preview_back.status_code == 302
    assert load(app, campaign_id).send_at is None


def test_a_campaign_sent_now_shows_starting_until_the_worker_starts_it(app, ann):
    later = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    _team, now_id = composed(app, ann, text="Now")
    confirm_and_send(ann, now_id)
    later_id = new_draft(ann)
    when = {"when": "at", "send_date": later, "send_time": "10:00"}
    preview(ann, later_id, name="Later", text="Later", pasted_numbers="79165555555", **when)
    confirm_and_send(ann, later_id)
    assert load(app, now_id).state == load(app, later_id).state == "scheduled"  # as stored

    def shown(campaign_id):
        page = ann.get(f"/campaigns/{campaign_id}").text
        listing = ann.get("/campaigns").text
        row = re.search(rf'data-campaign-id="{campaign_id}".*?</tr>', listing, re.S).group()
        return text_of(page, "state"), text_of(row, "campaign-state")

    # Sent now: its time has come, only the next dispatch tick is awaited. Its "Edit" stays
    # until then, as the stored state allows.
    assert shown(now_id) == ("starting", "starting")
    assert "Edit" in text_of(ann.get(f"/campaigns/{now_id}").text, "actions")
    assert shown(later_id) == ("scheduled", "scheduled")
    home = ann.get("/").text
    assert ">starting</span>" in home and ">scheduled</span>" in home

    # A poll notices when a scheduled campaign's time comes, though no counter moved.
    html = ann.get(f"/campaigns/{later_id}").text
    with app.app_context():
        db.session.execute(
            update(Campaign)
            .where(Campaign.id == later_id)
            .values(send_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        db.session.commit()
    seen = re.search(r"seen=(\w+)", html).group(1)
    polled = ann.get(f"/campaigns/{later_id}?seen={seen}&wait=8", headers={"HX-Request": "true"})
    assert text_of(polled.text, "state") == "starting"
    assert re.search(r"seen=(\w+)", polled.text).group(1) != seen
    assert 'hx-trigger="every 2s' in polled.text

    # The worker's tick starts both: they are what they are now.
    with app.app_context():
        assert sorted(campaigns.start_due(db.session, datetime.now(UTC))) == sorted(
            [now_id, later_id]
        )
    assert shown(now_id) == ("sending", "sending")


def test_a_started_campaign_cannot_be_edited(app, ann):
    _team, campaign_id = composed(app, ann, text="Hello")
    confirm_and_send(ann, campaign_id)
    with app.app_context():
        db.session.execute(update(Campaign).values(state=CampaignState.SENDING))
        db.session.commit()
        campaign = db.session.get(Campaign, campaign_id)
        with pytest.raises(campaigns.CampaignError, match="cannot be edited"):
            campaigns.edit(db.session, campaign)
    assert len(messages(app, campaign_id)) == 3


def test_cancel_moves_exactly_the_queued_messages(app, ann):
    team, campaign_id = composed(app, ann, text="Hello")
    confirm_and_send(ann, campaign_id)
    with app.app_context():
        # The worker started: one message claimed, one accepted.
        db.session.execute(update(Campaign).values(state=CampaignState.SENDING))
        for phone, state in (("79161111111", "sending"), ("79162222222", "accepted")):
            db.session.execute(update(Message).where(Message.phone == phone).values(state=state))
            counters.move(db.session, campaign_id, "queued", state, 1)
        db.session.commit()
    page = ann.get(f"/campaigns/{campaign_id}").text
    assert "Pause" in page and "Cancel the campaign" in page
    response = ann.post(f"/campaigns/{campaign_id}/cancel", follow_redirects=True)
    assert "Cancelled. 1 message not yet sent will not be sent." in response.text
    assert [r[2] for r in messages(app, campaign_id)] == ["sending", "accepted", "cancelled"]
    campaign = load(app, campaign_id)
    assert campaign.state == "cancelled" and campaign.finished_at is not None
    assert (campaign.queued, campaign.sending, campaign.accepted, campaign.cancelled) == (
        0,
        1,
        1,
        1,
    )
    # Twice: refused, nothing moves.
    response = ann.post(f"/campaigns/{campaign_id}/cancel", follow_redirects=True)
    assert "cannot be cancelled" in response.text
    assert load(app, campaign_id).cancelled == 1
    assert audit_actions(app, team.id).count("campaign_cancelled") == 1


def test_pause_and_resume(app, ann):
    team, campaign_id = composed(app, ann, text="Hello")
    confirm_and_send(ann, campaign_id)
    response = ann.post(f"/campaigns/{campaign_id}/pause", follow_redirects=True)
    assert "cannot be paused (only sending ones)" in response.text  # scheduled, not sending
    with app.app_context():
        db.session.execute(update(Campaign).values(state=CampaignState.SENDING))
        db.session.commit()
    response = ann.post(f"/campaigns/{campaign_id}/pause", follow_redirects=True)
    assert "Paused. No more messages are sent until you resume." in response.text
    assert text_of(response.text, "pause-reason") == "Paused by ann@example.com"
    assert load(app, campaign_id).state == "paused"
    ann.post(f"/campaigns/{campaign_id}/pause")  # a double click changes nothing
    response = ann.post(f"/campaigns/{campaign_id}/resume", follow_redirects=True)
    assert "Resumed." in response.text
    campaign = load(app, campaign_id)
    assert (campaign.state, campaign.pause_reason) == ("sending", "")
    response = ann.post(f"/campaigns/{campaign_id}/resume", follow_redirects=True)
    assert "cannot be resumed" in response.text
    actions = audit_actions(app, team.id)
    assert actions.count("campaign_paused") == 1 and actions.count("campaign_resumed") == 1
    assert load(app, campaign_id).queued == 3  # pausing moves no message


def test_viewers_see_campaigns_but_change_nothing(app, ann, make_person):
    team, campaign_id = composed(app, ann, text="Hello")
    confirm_and_send(ann, campaign_id)
    viewer = make_person("vic@example.com", team=team.id, role=Role.VIEWER.value)
    page = viewer.get(f"/campaigns/{campaign_id}")
    assert page.status_code == 200 and 'data-testid="actions"' not in page.text
    listing = viewer.get("/campaigns").text
    assert "Spring sale" in listing and "starting" in listing  # sent now, not started yet
    for action in ("cancel", "reopen", "pause", "resume", "send"):
        assert viewer.post(f"/campaigns/{campaign_id}/{action}").status_code == 403
    assert viewer.get(f"/campaigns/{campaign_id}/confirm").status_code == 403
    assert load(app, campaign_id).state == "scheduled"


def test_team_admins_set_sending_settings(app, ann, make_person):
    team = team_of(app, ann)
    page = ann.get("/team/settings").text
    assert "Sending" in page and 'name="sending-price_per_part"' in page
    response = ann.post(
        "/team/settings",
        {
            "sending-phone_region": "KZ",
            "sending-timezone": "Asia/Almaty",
            "sending-price_per_part": "1.2345",
            "sending-send_rate": "50",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        saved = db.session.get(Team, team.id)
        assert (saved.phone_region, saved.timezone, saved.price_per_part, saved.send_rate) == (
            "KZ",
            "Asia/Almaty",
            Decimal("1.2345"),
            50,
        )
    assert "sending_settings_changed" in audit_actions(app, team.id)
    bad = ann.post(
        "/team/settings",
        {
            "sending-phone_region": "KZ",
            "sending-timezone": "Mars/Base",
            "sending-price_per_part": "-1",
            "sending-send_rate": "50",
        },
    )
    assert bad.status_code == 400 and "The amount cannot be negative." in bad.text
    sender = make_person("sam@example.com", team=team.id, role=Role.SENDER.value)
    assert sender.post("/team/settings", {"sending-timezone": "UTC"}).status_code == 403


def test_a_million_is_a_bulk_operation(app):
    """Not timed here (benchmarks/create_messages.py is): the INSERT ... SELECT makes one
    statement whatever the size; check counts over a few thousand contacts."""
    with app.app_context():
        from webapp.models import ContactList

        team = Team(name="Big", status_queue_name="qBigTeam00000001")
        db.session.add(team)
        db.session.flush()
        lst = ContactList(team_id=team.id, name="big", field_names=["n"])
        db.session.add(lst)
        db.session.flush()
        from sqlalchemy import insert

        from webapp.models import Contact

        db.session.execute(
            insert(Contact),
            [
                {"team_id": team.id, "list_id": lst.id, "phone": f"7916{i:07d}", "fields": {"n": i}}
                for i in range(5000)
            ],
        )
        campaign = Campaign(team_id=team.id, text="N{n}", list_ids=[lst.id], sender="x")
        db.session.add(campaign)
        db.session.commit()
        created = campaigns.create_messages(db.session, campaign, [lst.id], [])
        db.session.commit()
        assert created == 5000
        texts = db.session.scalars(select(Message.text).where(Message.phone == "79160004999")).all()
        assert texts == ["N4999"]
        assert db.session.scalar(select(func.count()).select_from(Message)) == 5000


# -- every transition, by a person or by the worker ----------------------------------------------

S = CampaignState
ALL_STATES = tuple(CampaignState)


# What each transition allows, spelled out here rather than read from the code under test:
# (the call, its audit action, the states it starts from, the state it leads to).
TRANSITIONS = {
    "edit": (campaigns.edit, "campaign_edited", {S.SCHEDULED}, S.DRAFT),
    "cancel": (
        campaigns.cancel,
        "campaign_cancelled",
        {S.SCHEDULED, S.SENDING, S.PAUSED},  # a draft is deleted instead
        S.CANCELLED,
    ),
    "pause": (campaigns.pause, "campaign_paused", {S.SENDING}, S.PAUSED),
    "resume": (campaigns.resume, "campaign_resumed", {S.PAUSED}, S.SENDING),
    "worker start": (
        lambda session, _campaign: campaigns.start_due(session, datetime.now(UTC)),
        "campaign_started",
        {S.SCHEDULED},
        S.SENDING,
    ),
    "worker pause": (
        lambda session, campaign: campaigns.pause_by_worker(session, campaign.id, "No balance"),
        "campaign_paused",
        {S.SENDING},
        S.PAUSED,
    ),
    "worker finish": (
        lambda session, _campaign: campaigns.finish_done(session, datetime.now(UTC)),
        "campaign_finished",
        {S.SENDING},
        S.FINISHED,
    ),
}


def events_of(campaign_id, action):
    return [
        event
        for event in db.session.scalars(select(AuditEvent).where(AuditEvent.action == action))
        if event.details.get("campaign") == campaign_id
    ]


@pytest.mark.parametrize("name", TRANSITIONS)
def test_every_transition_writes_its_audit_entry_and_refuses_from_a_wrong_state(app, team, name):
    work, action, sources, target = TRANSITIONS[name]
    with app.app_context():
        for state in ALL_STATES:
            campaign = Campaign(team_id=team.id, name=f"From {state}", state=state)
            db.session.add(campaign)
            db.session.commit()
            try:
                work(db.session, campaign)
            except campaigns.CampaignError as exc:
                assert state not in sources, exc
                assert name in ("edit", "cancel", "pause", "resume")  # only people are told
            db.session.expire_all()
            events = events_of(campaign.id, action)
            if state in sources:
                assert db.session.get(Campaign, campaign.id).state == target, state
                assert len(events) == 1, state
                assert events[0].team_id == team.id
                assert events[0].details["name"] == f"From {state}"
            else:
                assert db.session.get(Campaign, campaign.id).state == state
                assert events == [], state


def test_sending_is_refused_from_every_state_but_a_draft(app, team):
    with app.app_context():
        for state in ALL_STATES:
            if state == S.DRAFT:
                continue
            campaign = Campaign(
                team_id=team.id, name="Sent", state=state, text="Hi", pasted_numbers="79161234567"
            )
            db.session.add(campaign)
            db.session.commit()
            with pytest.raises(campaigns.CampaignError, match="cannot be sent"):
                campaigns.commit(db.session, campaign)
            db.session.rollback()
            assert db.session.get(Campaign, campaign.id).state == state
            assert events_of(campaign.id, "campaign_sent") == []
