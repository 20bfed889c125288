"""The dispatch tick against the sandbox over HTTP: results, rejections, pauses, faults, dead
workers, and two workers at once. Every message ends in exactly one state, none is sent twice."""

import logging
import re
import threading
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.helpers import (
    assert_counters_match,
    campaign_row,
    make_campaign,
    received_client_ids,
    refused_client_factory,
    sandbox_login,
    states,
    team_of,
    tick,
)
from webapp import iqsms, texts
from webapp.domain import gateways, send_calls, send_rate, sending
from webapp.extensions import db
from webapp.jobs import dispatch as dispatch_tick
from webapp.models import Campaign, CampaignState, Message, MessageState, Team, utcnow


def test_sends_everything_once_in_calls_of_200(app, sandbox, team):
    sandbox.control("PATCH", f"/accounts/{sandbox_login(app, team)}", json={"balance": "5000"})
    campaign_id = make_campaign(app, team, 450, text="Привет {n}")
    report = tick(app)
    assert (report.claimed, report.accepted) == (450, 450)
    assert states(app, campaign_id) == {MessageState.ACCEPTED: 450}
    campaign = campaign_row(app, campaign_id)
    assert campaign.state == CampaignState.FINISHED and campaign.finished_at
    assert campaign.parts == 450 and campaign.cost == Decimal("1125.00")  # msgCost from gateway
    assert_counters_match(app, campaign_id)
    received = sandbox.received(sandbox_login(app, team))
    assert len(received) == 450
    assert Counter(m["clientId"] for m in received).most_common(1)[0][1] == 1
    queue = team_of_queue(app, team)
    assert {m["queue"] for m in received} == {queue}
    assert {m["sender"] for m in received} == {"MyBrand"}
    with app.app_context():
        sample = db.session.scalars(
            sa.select(Message).where(Message.campaign_id == campaign_id)
        ).first()
        assert sample.smsc_id and sample.parts == 1 and sample.cost == Decimal("2.50")
        assert not sample.cost_estimated and sample.sent_at


def team_of_queue(app, team):
    with app.app_context():
        return db.session.get(Team, team.id).status_queue_name


def test_rejections_are_stored_with_the_gateways_status(app, sandbox, team):
    phones = ["79161234567", "12345", "79161234568"]
    campaign_id = make_campaign(app, team, 3, phones=phones)
    tick(app)
    with app.app_context():
        rows = db.session.execute(
            sa.select(Message.phone, Message.state, Message.gateway_status)
            .where(Message.campaign_id == campaign_id)
            .order_by(Message.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("79161234567", "accepted", "accepted"),
        ("12345", "rejected", "invalid mobile phone"),
        ("79161234568", "accepted", "accepted"),
    ]
    assert_counters_match(app, campaign_id)


def test_an_empty_balance_pauses_the_campaign_and_resuming_sends_the_rest(app, sandbox, team):
    login = sandbox_login(app, team)
    sandbox.control("PATCH", f"/accounts/{login}", json={"balance": "7.50"})  # three parts
    campaign_id = make_campaign(app, team, 10)
    report = tick(app)
    assert report.paused == [campaign_id]
    campaign = campaign_row(app, campaign_id)
    assert campaign.state == CampaignState.PAUSED
    assert "balance is too low" in campaign.pause_reason
    assert states(app, campaign_id) == {MessageState.ACCEPTED: 3, MessageState.QUEUED: 7}
    assert_counters_match(app, campaign_id)
    assert tick(app).claimed == 0  # paused: nothing is claimed

    sandbox.control("PATCH", f"/accounts/{login}", json={"balance": "100.00"})
    with app.app_context():
        db.session.execute(
            sa.update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(state=CampaignState.SENDING)
        )
        db.session.commit()
    tick(app)
    assert states(app, campaign_id) == {MessageState.ACCEPTED: 10}
    accepted = [m for m in sandbox.received(login) if m["status"] == "accepted"]
    assert len(accepted) == 10 and len({m["clientId"] for m in accepted}) == 10


def test_wrong_credentials_pause_without_failing_messages(app, sandbox, team):
    with app.app_context():
        stored = db.session.get(Team, team.id)
        gateways.use_iqsms(app.config, stored, sandbox.base_url, "demo", "wrong password")
        db.session.commit()
    campaign_id = make_campaign(app, team, 5)
    report = tick(app)
    assert report.paused == [campaign_id] and report.requeued == 5
    campaign = campaign_row(app, campaign_id)
    assert campaign.state == CampaignState.PAUSED
    assert "refused the login or password" in campaign.pause_reason
    assert states(app, campaign_id) == {MessageState.QUEUED: 5}
    assert sandbox.received("demo") == []


def test_a_sandbox_that_lost_the_teams_account_gets_it_again_and_sends_once(app, sandbox, team):
    login = sandbox_login(app, team)
    campaign_id = make_campaign(app, team, 5)
    with sandbox.gateway.store.transaction() as state:  # as if the sandbox state were wiped
        state.execute("DELETE FROM senders WHERE login = ?", (login,))
        state.execute("DELETE FROM accounts WHERE login = ?", (login,))
    tick(app)
    assert states(app, campaign_id) == {MessageState.ACCEPTED: 5}
    assert len(sandbox.received(login)) == 5  # each message once, after the account came back


@pytest.mark.parametrize(
    ("fault", "reached"),
    [("http_500", False), ("drop", False), ("garbage", False), ("lose_reply", True)],
)
def test_a_batch_that_may_have_reached_the_gateway_is_unknown_never_resent(
    app, sandbox, team, fault, reached
):
    sandbox.set_faults(**{fault: 1.0, "endpoints": ["send.json"], "remaining": 1})
    campaign_id = make_campaign(app, team, 250)
    report = tick(app, batch_size=200)
    # The first call failed; the campaign backs off before its next call.
    assert report.unknown == 200
    campaign = campaign_row(app, campaign_id)
    assert campaign.retry_at is not None and campaign.state == CampaignState.SENDING
    assert states(app, campaign_id) == {MessageState.UNKNOWN: 200, MessageState.QUEUED: 50}
    tick(app, clock=lambda: utcnow() + timedelta(minutes=1))
    assert states(app, campaign_id) == {MessageState.UNKNOWN: 200, MessageState.ACCEPTED: 50}
    assert campaign_row(app, campaign_id).state == CampaignState.FINISHED
    assert_counters_match(app, campaign_id)
    ids = received_client_ids(sandbox, sandbox_login(app, team))
    assert len(ids) == len(set(ids)) == (250 if reached else 50)


def test_a_read_timeout_is_unknown(app, sandbox, team):
    sandbox.set_faults(latency_ms=1500, endpoints=["send.json"], remaining=1)
    campaign_id = make_campaign(app, team, 5)
    with app.app_context():
        stored = db.session.get(Team, team.id)
        client = gateways.client_for(app.config, stored, timeout=(2, 0.3))
    report = tick(app, client_factory=lambda t: client)
    assert report.unknown == 5
    assert states(app, campaign_id) == {MessageState.UNKNOWN: 5}


def test_a_refused_connection_requeues_and_sends_once_the_gateway_is_back(
    app, sandbox, team, unused_port
):
    campaign_id = make_campaign(app, team, 5)
    report = tick(app, client_factory=refused_client_factory(app, team, unused_port))
    assert report.requeued == 5 and report.unknown == 0
    assert states(app, campaign_id) == {MessageState.QUEUED: 5}
    assert campaign_row(app, campaign_id).failed_attempts == 1
    later = utcnow() + timedelta(minutes=1)
    tick(app, clock=lambda: later)
    assert states(app, campaign_id) == {MessageState.ACCEPTED: 5}
    assert campaign_row(app, campaign_id).failed_attempts == 0
    assert len(received_client_ids(sandbox, sandbox_login(app, team))) == 5


def test_repeated_failures_pause_the_campaign(app, sandbox, team):
    sandbox.set_faults(error_reply=1.0, error_description="service maintenance")
    campaign_id = make_campaign(app, team, 3)
    when = utcnow()
    for _ in range(send_calls.MAX_FAILED_ATTEMPTS):
        report = tick(app, clock=lambda when=when: when)
        when += timedelta(minutes=10)
    assert report.paused == [campaign_id]
    with app.app_context():  # kept untranslated, shown in the reader's language
        reason = texts.shown(campaign_row(app, campaign_id).pause_reason)
    assert reason == (
        "The gateway answered with an error: service maintenance. (failed 5 times in a row)"
    )
    assert states(app, campaign_id) == {MessageState.QUEUED: 3}  # error replies sent nothing


def test_mixed_faults_lose_and_duplicate_nothing(app, sandbox, team):
    sandbox.set_faults(
        http_500=0.1, drop=0.1, lose_reply=0.1, garbage=0.05, endpoints=["send.json"]
    )
    login = sandbox_login(app, team)
    sandbox.control("PATCH", f"/accounts/{login}", json={"balance": "100000"})
    campaign_id = make_campaign(app, team, 3000)
    when = utcnow()
    for _ in range(60):
        tick(app, clock=lambda when=when: when, batch_size=100)
        when += timedelta(minutes=2)
        if campaign_row(app, campaign_id).queued == 0:
            break
    found = states(app, campaign_id)
    assert sum(found.values()) == 3000
    assert set(found) <= {MessageState.ACCEPTED, MessageState.UNKNOWN}
    assert found[MessageState.UNKNOWN] > 0 and found[MessageState.ACCEPTED] > 0
    assert_counters_match(app, campaign_id)
    ids = received_client_ids(sandbox, login)
    assert len(ids) == len(set(ids)), "a message was sent twice"
    with app.app_context():
        accepted = set(
            db.session.scalars(
                sa.select(Message.id).where(
                    Message.campaign_id == campaign_id, Message.state == MessageState.ACCEPTED
                )
            )
        )
    assert {str(i) for i in accepted} <= set(ids)  # every accepted one reached the gateway


def test_a_worker_that_died_mid_request_leaves_unknown_never_resent(app, sandbox, team):
    campaign_id = make_campaign(app, team, 300)
    now = utcnow()
    with app.app_context():
        # A worker claims a batch, sends it, and dies before storing the results...
        loaded = sending.load_sending(db.session, campaign_id)
        claimed = sending.claim_batch(db.session, loaded, now)
        client = gateways.client_for(app.config, db.session.get(Team, team.id))
        messages = [iqsms.OutgoingMessage(str(i), p, t) for i, p, t in claimed.rows]
        client.send(messages)
        # ...and another claims a batch and dies before sending it.
        sending.claim_batch(db.session, loaded, now, batch_size=50)
    assert states(app, campaign_id) == {MessageState.SENDING: 250, MessageState.QUEUED: 50}
    with app.app_context():  # too early to judge
        assert sending.settle_stale_claims(db.session, now + timedelta(seconds=30)) == 0
    tick(app)
    assert states(app, campaign_id) == {MessageState.SENDING: 250, MessageState.ACCEPTED: 50}
    with app.app_context():
        later = now + sending.STALE_CLAIM + timedelta(seconds=1)
        assert sending.settle_stale_claims(db.session, later) == 250
    assert states(app, campaign_id) == {MessageState.UNKNOWN: 250, MessageState.ACCEPTED: 50}
    assert_counters_match(app, campaign_id)
    ids = received_client_ids(sandbox, sandbox_login(app, team))
    assert len(ids) == len(set(ids)) == 250


@pytest.fixture
def short_claim_limit(monkeypatch):
    """A 10 s gateway deadline and ``IQSMS_STALE_CLAIM_SECONDS=30``, for the app made after."""
    monkeypatch.setenv("IQSMS_GATEWAY_DEADLINE", "10")
    monkeypatch.setenv("IQSMS_STALE_CLAIM_SECONDS", "30")


def test_the_claim_limit_is_the_setting_and_a_campaign_it_settles_finishes(
    short_claim_limit, app, sandbox, team
):
    assert dispatch_tick.stale_claim_limit(app.config) == timedelta(seconds=30)
    # Never under twice the deadline: a live worker's call may take that long.
    shorter = {**app.config, "STALE_CLAIM_SECONDS": 5}
    assert dispatch_tick.stale_claim_limit(shorter) == timedelta(seconds=20)
    campaign_id = make_campaign(app, team, 150)
    with app.app_context():
        # A worker claims every message 25 s ago and freezes (or dies) before sending them.
        loaded = sending.load_sending(db.session, campaign_id)
        sending.claim_batch(db.session, loaded, utcnow() - timedelta(seconds=25))
        dispatch_tick.run_stale_claims(app)
    assert states(app, campaign_id) == {MessageState.SENDING: 150}  # not a dead worker's yet
    with app.app_context():
        db.session.execute(
            sa.update(Message)
            .where(Message.campaign_id == campaign_id)
            .values(claimed_at=utcnow() - timedelta(seconds=31))
        )
        db.session.commit()
        dispatch_tick.run_stale_claims(app)
    assert states(app, campaign_id) == {MessageState.UNKNOWN: 150}
    assert_counters_match(app, campaign_id)
    with app.app_context():
        # Nothing is left to send: no sending loop would come to finish it.
        assert db.session.get(Campaign, campaign_id).state == CampaignState.FINISHED


def test_two_workers_share_a_campaign_without_duplicates(app, sandbox, team):
    login = sandbox_login(app, team)
    sandbox.control("PATCH", f"/accounts/{login}", json={"balance": "100000"})
    campaign_id = make_campaign(app, team, 2000)
    reports = []

    def worker():
        reports.append(tick(app, batch_size=100))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert states(app, campaign_id) == {MessageState.ACCEPTED: 2000}
    assert sum(r.claimed for r in reports) == 2000
    assert_counters_match(app, campaign_id)
    ids = received_client_ids(sandbox, login)
    assert len(ids) == len(set(ids)) == 2000


def test_scheduled_campaigns_start_at_their_time_and_others_wait(app, sandbox, team):
    now = utcnow()
    later = make_campaign(
        app, team, 2, state=CampaignState.SCHEDULED, send_at=now + timedelta(hours=1)
    )
    paused = make_campaign(app, team, 2, state=CampaignState.PAUSED)
    draft = make_campaign(app, team, 2, state=CampaignState.DRAFT)
    assert tick(app, clock=lambda: now).claimed == 0
    report = tick(app, clock=lambda: now + timedelta(hours=1, seconds=1))
    assert report.started == [later] and report.claimed == 2
    assert states(app, later) == {MessageState.ACCEPTED: 2}
    assert states(app, paused) == {MessageState.QUEUED: 2}
    assert states(app, draft) == {MessageState.QUEUED: 2}


def test_the_team_send_rate_is_a_shared_token_bucket(app, team):
    with app.app_context():
        now = utcnow()

        def take(wanted, at):
            return send_rate.take_allowance(db.session, team.id, 100, wanted, at)

        assert take(200, now) == 100  # a full bucket: one second's worth
        assert take(200, now) == 0
        assert take(200, now + timedelta(seconds=0.5)) == 50
        assert take(20, now + timedelta(seconds=10)) == 20
        assert take(200, now + timedelta(seconds=10)) == 80
        db.session.rollback()


def test_the_send_rate_limits_a_tick(app, sandbox, team):
    with app.app_context():
        db.session.get(Team, team.id).send_rate = 50
        db.session.commit()
    campaign_id = make_campaign(app, team, 500)
    tick(app, budget=0.5)
    sent = states(app, campaign_id).get(MessageState.ACCEPTED, 0)
    assert 50 <= sent <= 50 + 50 * 2  # a full bucket, then about 50 a second


@pytest.fixture
def two_dispatch_threads(monkeypatch):
    """``IQSMS_DISPATCH_THREADS=2``, one call in flight per loop, for the app made after this."""
    monkeypatch.setenv("IQSMS_DISPATCH_THREADS", "2")
    monkeypatch.setenv("IQSMS_SEND_IN_FLIGHT", "2")


def test_the_tick_runs_as_many_sending_loops_as_the_setting_says(
    two_dispatch_threads, app, sandbox, team, caplog
):
    """A team alone gets both loops on PostgreSQL, each with one call in flight; on SQLite, whose
    writes take turns at one lock, one loop with both calls in flight (jobs/dispatch.py
    loops_per_team)."""
    with app.app_context():
        db.session.execute(sa.update(Team).where(Team.id == team.id).values(send_rate=0))
        db.session.commit()
        sqlite = db.engine.dialect.name == "sqlite"
    campaign_id = make_campaign(app, team, 400)
    # Each call waits a second at the gateway: the second loop claims the second batch then.
    sandbox.set_faults(latency_ms=1000, endpoints=["send.json"])
    lines = dispatch_lines(app, caplog)
    assert lines == (["claimed=400"] if sqlite else ["claimed=200", "claimed=200"])
    assert states(app, campaign_id) == {MessageState.ACCEPTED: 400}


def test_two_teams_get_a_loop_each_on_either_database(
    two_dispatch_threads, app, sandbox, team, make_person, caplog
):
    other = team_of(app, make_person("bob@example.com"))
    with app.app_context():
        db.session.execute(sa.update(Team).values(send_rate=0))
        db.session.commit()
    campaigns = [make_campaign(app, team, 400), make_campaign(app, other, 400)]
    sandbox.set_faults(latency_ms=1000, endpoints=["send.json"])
    assert dispatch_lines(app, caplog) == ["claimed=400", "claimed=400"]
    for campaign_id in campaigns:
        assert states(app, campaign_id) == {MessageState.ACCEPTED: 400}


def dispatch_lines(app, caplog) -> list[str]:
    """What each sending loop of one dispatch tick claimed, as its log line says."""
    with caplog.at_level(logging.INFO, logger=app.logger.name):
        dispatch_tick.run(app, wait=60)  # the worker's tick, as the scheduler runs it
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("dispatch:")]
    return sorted(re.search(r"claimed=\d+", line).group() for line in lines)
