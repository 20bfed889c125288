"""Failed send calls counted in send order, against the sandbox over HTTP: calls in flight
together are one attempt, so the back-off (5, 10, 20, 40 s) is the tolerance it says, however
many loops and calls a campaign has at once. The clock is the test's: no back-off is waited."""

import threading
import time
from datetime import timedelta

import pytest

from tests.helpers import (
    assert_counters_match,
    campaign_row,
    make_campaign,
    received_client_ids,
    refused_client_factory,
    sandbox_login,
    states,
    tick,
)
from webapp import texts
from webapp.domain import gateways, send_calls, sending
from webapp.extensions import db
from webapp.models import CampaignState, MessageState, Team, utcnow


@pytest.fixture
def unlimited(app, sandbox, team):
    """The team without a send rate (the calls at once are the point) and a large balance."""
    sandbox.control("PATCH", f"/accounts/{sandbox_login(app, team)}", json={"balance": "100000"})
    with app.app_context():
        db.session.get(Team, team.id).send_rate = 0
        db.session.commit()
    return team


def loops_at_once(app, count: int, **kwargs) -> list[send_calls.DispatchReport]:
    """``count`` sending loops of the same worker side by side, each with its own session."""
    reports: list[send_calls.DispatchReport] = []

    def loop() -> None:
        reports.append(tick(app, **kwargs))

    threads = [threading.Thread(target=loop) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(reports) == count
    return reports


def fail_once_calls_are_in_flight(sandbox, login, **faults) -> threading.Thread:
    """Turn ``faults`` on once 40 messages have arrived: by then each loop's window of calls
    in flight has opened (1, 2, then 4 calls once replies came back)."""

    def turn_on() -> None:
        deadline = time.monotonic() + 60
        while len(sandbox.received(login)) < 40 and time.monotonic() < deadline:
            time.sleep(0.02)
        sandbox.set_faults(endpoints=["send.json"], **faults)

    return threading.Thread(target=turn_on)


def test_calls_failing_at_once_count_as_one_attempt(app, sandbox, unlimited):
    login = sandbox_login(app, unlimited)
    campaign_id = make_campaign(app, unlimited, 1000)
    sandbox.set_faults(latency_ms=300, endpoints=["send.json"])
    faults = fail_once_calls_are_in_flight(sandbox, login, error_reply=1.0, latency_ms=300)
    faults.start()
    now = utcnow()
    # Two loops, each with up to four calls in flight: when the gateway starts failing, the
    # calls on their way fail with the first one.
    reports = loops_at_once(app, 2, clock=lambda: now, batch_size=10, in_flight=4)
    faults.join(60)
    assert sum(r.requeued for r in reports) >= 20  # at least two calls failed
    campaign = campaign_row(app, campaign_id)
    assert campaign.failed_attempts == 1 and campaign.state == CampaignState.SENDING
    assert campaign.retry_at == now + timedelta(seconds=5)
    found = states(app, campaign_id)
    assert set(found) == {MessageState.ACCEPTED, MessageState.QUEUED}  # error replies sent none
    assert_counters_match(app, campaign_id)


def test_a_26_second_outage_does_not_pause_and_everything_goes_once(
    app, sandbox, unlimited, unused_port
):
    campaign_id = make_campaign(app, unlimited, 600)
    refused = refused_client_factory(app, unlimited, unused_port)
    factory = gateways.client_factory(app.config)
    start = utcnow()
    attempts = []
    for second in range(120):  # three loops, each with calls in flight, every second
        outage = second < 26

        def client_for(team, outage=outage):
            return refused(team) if outage else factory(team)

        when = start + timedelta(seconds=second)
        loops_at_once(
            app, 3, clock=lambda when=when: when, client_factory=client_for, batch_size=50,
            in_flight=3,
        )  # fmt: skip
        campaign = campaign_row(app, campaign_id)
        attempts.append(campaign.failed_attempts)
        assert campaign.state != CampaignState.PAUSED, (second, campaign.pause_reason, attempts)
        if campaign.state == CampaignState.FINISHED:
            break
    # Failed at 0, 5 and 15 s (each time several calls at once), answered at 35 s.
    assert max(attempts) == 3 and attempts[34] == 3 and attempts[35] == 0
    assert states(app, campaign_id) == {MessageState.ACCEPTED: 600}
    assert_counters_match(app, campaign_id)
    ids = received_client_ids(sandbox, sandbox_login(app, unlimited))
    assert len(ids) == len(set(ids)) == 600


def test_five_failures_in_send_order_pause_after_75_seconds(app, sandbox, unlimited):
    sandbox.set_faults(error_reply=1.0, latency_ms=100, endpoints=["send.json"])
    campaign_id = make_campaign(app, unlimited, 300)
    start = utcnow()
    for second in range(100):
        when = start + timedelta(seconds=second)
        loops_at_once(app, 2, clock=lambda when=when: when, batch_size=20, in_flight=3)
        campaign = campaign_row(app, campaign_id)
        if campaign.state == CampaignState.PAUSED:
            break
    # Attempts at 0, 5, 15, 35 and 75 s: the fifth pauses.
    assert second == 75
    with app.app_context():  # kept untranslated, shown in the reader's language
        assert texts.shown(campaign.pause_reason).endswith("(failed 5 times in a row)")
    assert states(app, campaign_id) == {MessageState.QUEUED: 300}
    assert_counters_match(app, campaign_id)


def test_only_a_success_claimed_after_the_failure_ends_the_run(app, sandbox, unlimited):
    campaign_id = make_campaign(app, unlimited, 30)
    now = utcnow()
    report = send_calls.DispatchReport()
    with app.app_context():
        loaded = sending.load_sending(db.session, campaign_id)
        first = sending.claim_batch(db.session, loaded, now, batch_size=10)
        second = sending.claim_batch(db.session, loaded, now, batch_size=10)
        assert (first.seq, second.seq) == (1, 2)
        client = gateways.client_for(app.config, db.session.get(Team, unlimited.id))

        def settle(claimed, when):
            return send_calls.send_batch(
                db.session, claimed, client, lambda: when, report, timedelta(minutes=10)
            )

        # The later claim's call fails first...
        sandbox.set_faults(error_reply=1.0, endpoints=["send.json"], remaining=1)
        assert not settle(second, now)
        # ...the earlier one then succeeds: it was sent before the failure, the run stands.
        assert settle(first, now)
        campaign = campaign_row(app, campaign_id)
        assert campaign.failed_attempts == 1 and campaign.retry_at == now + timedelta(seconds=5)
        # A call claimed after the failure succeeds: the run and its back-off end.
        later = now + timedelta(seconds=5)
        third = sending.claim_batch(db.session, loaded, later, batch_size=10)
        assert third.seq == 3 and settle(third, later)
    campaign = campaign_row(app, campaign_id)
    assert campaign.failed_attempts == 0 and campaign.retry_at is None
    assert states(app, campaign_id) == {MessageState.ACCEPTED: 20, MessageState.QUEUED: 10}
    assert_counters_match(app, campaign_id)


def test_a_call_failing_while_others_are_in_flight_still_lets_them_settle(app, sandbox, unlimited):
    login = sandbox_login(app, unlimited)
    campaign_id = make_campaign(app, unlimited, 1000)
    sandbox.set_faults(latency_ms=300, endpoints=["send.json"])
    faults = fail_once_calls_are_in_flight(
        sandbox, login, lose_reply=1.0, remaining=1, latency_ms=300
    )
    faults.start()
    report = tick(app, batch_size=10, in_flight=4)
    faults.join(60)
    # One call lost its reply (unknown, never resent); those in flight with it were stored
    # all the same (and as they were claimed after it, their replies ended its back-off).
    assert report.unknown == 10 and report.accepted >= 40
    found = states(app, campaign_id)
    assert found[MessageState.UNKNOWN] == 10
    assert set(found) <= {MessageState.UNKNOWN, MessageState.ACCEPTED, MessageState.QUEUED}
    assert_counters_match(app, campaign_id)
    ids = received_client_ids(sandbox, login)
    assert len(ids) == len(set(ids)) == report.claimed
